-- Append actions to user windows; mirrors workers/window_rules.py (apply_actions) exactly.
-- KEYS[i]   user key (redis_keys.user_key), one per user
-- ARGV[1]   max_actions   ARGV[2] max_age_ms   ARGV[3] idle ttl seconds
-- ARGV[3+i] the user's events, packed back to back, 27 bytes each (big-endian):
--           uint32 partition, int64 offset, uint48 ts_ms, uint8 action code, 8-byte event hash
-- Stored value (string): uint8 format=1, uint8 flags (1 = high-water mark, 2 = state),
--   uint32 hw partition, int64 hw offset, double state_ts, uint8 len + state version,
--   uint16 len + state bytes, then records of 15 bytes: uint48 ts_ms, uint8 action code, 8-byte hash.
-- Returns, per key, {statuses, value}: one char per event ('a' added, 'r' redelivery, 'd' duplicate).
local max_n = tonumber(ARGV[1])
local max_age = tonumber(ARGV[2])
local ttl = tonumber(ARGV[3])
local HEADER = '>BBI4i8d'
local out = {}

-- The records stay one string: dedupe is a plain substring search (checked for record alignment),
-- insertion is usually an append; only the few records around the edges are ever unpacked.
local function ts_at(recs, i) return struct.unpack('>I6', recs, (i - 1) * 15 + 1) end

local function has_hash(recs, h)
  local from = 1
  while true do
    local at = string.find(recs, h, from, true)
    if not at then return false end
    if (at - 8) % 15 == 0 then return true end
    from = at + 1
  end
end

for k = 1, #KEYS do
  local blob = redis.call('GET', KEYS[k])
  local flags, hwp, hwo, sts, var, recs = 0, 0, 0, 0.0, '\0\0\0', ''
  if blob then
    local fmt, p
    fmt, flags, hwp, hwo, sts, p = struct.unpack(HEADER, blob)
    if fmt ~= 1 then return redis.error_reply('ERR unknown user window format') end
    local vlen = string.byte(blob, p)
    local slen = struct.unpack('>H', blob, p + 1 + vlen)
    var = string.sub(blob, p, p + 2 + vlen + slen)
    recs = string.sub(blob, p + 3 + vlen + slen)
  end
  local events = ARGV[3 + k]
  local status = {}
  for pos = 1, #events - 26, 27 do
    local ep, eo, ets = struct.unpack('>I4i8I6', events, pos)
    local rec = string.sub(events, pos + 12, pos + 26)
    if flags % 2 == 1 and ep == hwp and eo <= hwo then
      status[#status + 1] = 'r'
    else
      if flags % 2 == 0 then flags = flags + 1 end
      hwp, hwo = ep, eo
      if has_hash(recs, string.sub(rec, 8, 15)) then
        status[#status + 1] = 'd'
      else
        local n = #recs / 15
        local i = n
        while i > 0 and ts_at(recs, i) > ets do i = i - 1 end
        if i == n then
          recs = recs .. rec
        else
          recs = string.sub(recs, 1, i * 15) .. rec .. string.sub(recs, i * 15 + 1)
        end
        n = n + 1
        local cutoff = ts_at(recs, n) - max_age
        local drop = 0
        while drop < n and (n - drop > max_n or ts_at(recs, drop + 1) < cutoff) do drop = drop + 1 end
        if drop > 0 then recs = string.sub(recs, drop * 15 + 1) end
        status[#status + 1] = 'a'
      end
    end
  end
  local value = struct.pack(HEADER, 1, flags, hwp, hwo, sts) .. var .. recs
  redis.call('SET', KEYS[k], value, 'EX', ttl)
  out[k] = {table.concat(status), value}
end
return out
