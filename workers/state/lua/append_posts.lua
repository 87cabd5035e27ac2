-- Append posts to thread windows; mirrors workers/window_rules.py (apply_posts) exactly.
-- KEYS[2i-1] thread hash, KEYS[2i] its reply sorted set (redis_keys.thread_keys)
-- ARGV[1] max_replies   ARGV[2] idle ttl seconds
-- then per thread: n, followed by n groups of 6: partition, offset, post id, ts_ms, is_source (1/0), text
-- Returns, per thread, {statuses, source text or nil, {reply id, reply text, ...} oldest first,
--   replies seen, last score or nil, last flag or nil}.
local max_r = tonumber(ARGV[1])
local ttl = tonumber(ARGV[2])
local out = {}
local a = 3
for k = 1, #KEYS / 2 do
  local h, z = KEYS[2 * k - 1], KEYS[2 * k]
  local n = tonumber(ARGV[a])
  a = a + 1
  local hwp = redis.call('HGET', h, 'hwp')
  local hwo = redis.call('HGET', h, 'hwo')
  if hwp then hwp, hwo = tonumber(hwp), tonumber(hwo) end
  local has_src = redis.call('HEXISTS', h, 'src') == 1
  local status = {}
  for _ = 1, n do
    local ep, eo, id, ets, src, text =
      tonumber(ARGV[a]), tonumber(ARGV[a + 1]), ARGV[a + 2], tonumber(ARGV[a + 3]), ARGV[a + 4], ARGV[a + 5]
    a = a + 6
    if hwp and ep == hwp and eo <= hwo then
      status[#status + 1] = 'r'
    else
      hwp, hwo = ep, eo
      if src == '1' then
        if has_src then
          status[#status + 1] = 'd'
        else
          redis.call('HSET', h, 'src', text)
          has_src = true
          status[#status + 1] = 'a'
        end
      elseif redis.call('ZSCORE', z, id) then
        status[#status + 1] = 'd'
      else
        redis.call('ZADD', z, ets, id)
        redis.call('HSET', h, 'r:' .. id, text)
        redis.call('HINCRBY', h, 'seen', 1)
        if redis.call('ZCARD', z) > max_r then
          local old = redis.call('ZRANGE', z, 0, 0)[1]
          redis.call('ZREMRANGEBYRANK', z, 0, 0)
          redis.call('HDEL', h, 'r:' .. old)
        end
        status[#status + 1] = 'a'
      end
    end
  end
  if hwp then
    redis.call('HSET', h, 'hwp', hwp, 'hwo', string.format('%.0f', hwo))
  end
  redis.call('EXPIRE', h, ttl)
  redis.call('EXPIRE', z, ttl)
  local replies = {}
  for _, id in ipairs(redis.call('ZRANGE', z, 0, -1)) do
    replies[#replies + 1] = id
    replies[#replies + 1] = redis.call('HGET', h, 'r:' .. id)
  end
  local m = redis.call('HMGET', h, 'src', 'seen', 'score', 'flag')
  out[k] = {table.concat(status), m[1], replies, tonumber(m[2] or '0'), m[3], m[4]}
end
return out
