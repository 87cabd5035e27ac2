-- Replace the cached encoder state of existing user windows (a missing key is left missing, so a
-- forgotten or expired user is never recreated by a late state write). Keeps the key's TTL.
-- KEYS[i] user key; ARGV[3i-2] state bytes, ARGV[3i-1] model version, ARGV[3i] state ts (seconds).
-- The records (and targets) after the state are kept as they are, in the key's format (1 or 2).
-- Returns the number of states written.
local HEADER = '>BBI4i8d'
local written = 0
for k = 1, #KEYS do
  local blob = redis.call('GET', KEYS[k])
  if blob then
    local fmt, flags, hwp, hwo, sts, p = struct.unpack(HEADER, blob)
    if fmt ~= 1 and fmt ~= 2 then return redis.error_reply('ERR unknown user window format') end
    local vlen = string.byte(blob, p)
    local slen = struct.unpack('>H', blob, p + 1 + vlen)
    local records = string.sub(blob, p + 3 + vlen + slen)
    local state, version = ARGV[3 * k - 2], ARGV[3 * k - 1]
    if flags < 2 then flags = flags + 2 end
    local value = struct.pack(HEADER, fmt, flags, hwp, hwo, tonumber(ARGV[3 * k]))
      .. string.char(#version) .. version .. struct.pack('>H', #state) .. state .. records
    redis.call('SET', KEYS[k], value, 'KEEPTTL')
    written = written + 1
  end
end
return written
