"""Per-user and per-thread windows in Redis: pure rules, the store, keys, Lua scripts, clients."""
