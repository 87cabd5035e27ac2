-- Replace the cached encoder state of existing user windows (a missing key is left missing, so a
-- forgotten or expired user is never recreated by a late state write). Keeps the key's TTL.
-- KEYS[i] user key; ARGV[3i-2] state bytes, ARGV[3i-1] model version, ARGV[3i] state ts (seconds).
-- The records (and targets) after the state are kept as they are, in the key's format (1, 2 or 3; the
-- layouts are in append_actions.lua). Returns the number of states written.
local HEADER = '>BBI4i8d'
local written = 0

local function uvarint(s, p)
  local v, m = 0, 1
  while true do
    local b = string.byte(s, p)
    p = p + 1
    if b < 128 then return v + b * m, p end
    v = v + (b - 128) * m
    m = m * 128
  end
end

local function put_uvarint(v)
  if v < 128 then return string.char(v) end
  local t = {}
  while v >= 128 do
    local b = v % 128
    t[#t + 1] = b + 128
    v = (v - b) / 128
  end
  t[#t + 1] = v
  return string.char(unpack(t))
end

for k = 1, #KEYS do
  local blob = redis.call('GET', KEYS[k])
  if blob then
    local fmt = string.byte(blob, 1)
    local state, version, ts = ARGV[3 * k - 2], ARGV[3 * k - 1], tonumber(ARGV[3 * k])
    local value
    if fmt == 3 then
      local flags = string.byte(blob, 2)
      local _, p = uvarint(blob, 3)
      _, p = uvarint(blob, p)
      local head = string.sub(blob, 3, p - 1)  -- the high-water mark
      if flags >= 2 then  -- skip the old state section
        local vlen = string.byte(blob, p + 8)
        local slen, q = uvarint(blob, p + 9 + vlen)
        p = q + slen
      else
        flags = flags + 2
      end
      value = string.char(3, flags) .. head .. struct.pack('>d', ts) .. string.char(#version) .. version
        .. put_uvarint(#state) .. state .. string.sub(blob, p)
    elseif fmt == 1 or fmt == 2 then
      local _, flags, hwp, hwo, _, p = struct.unpack(HEADER, blob)
      local vlen = string.byte(blob, p)
      local slen = struct.unpack('>H', blob, p + 1 + vlen)
      local records = string.sub(blob, p + 3 + vlen + slen)
      if flags < 2 then flags = flags + 2 end
      value = struct.pack(HEADER, fmt, flags, hwp, hwo, ts)
        .. string.char(#version) .. version .. struct.pack('>H', #state) .. state .. records
    else
      return redis.error_reply('ERR unknown user window format')
    end
    redis.call('SET', KEYS[k], value, 'KEEPTTL')
    written = written + 1
  end
end
return written
