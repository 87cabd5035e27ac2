-- Append actions to user windows; mirrors workers/state/window_rules.py (apply_actions) exactly.
-- KEYS[i]   user key (redis_keys.user_key), one per user
-- ARGV[1]   max_actions   ARGV[2] max_age_ms   ARGV[3] idle ttl seconds
-- ARGV[3+i] the user's events, packed back to back (big-endian): uint32 partition, int64 offset,
--           uint48 ts_ms, uint8 action code, 8-byte event hash (the low 4 bytes are kept), uint8 target
--           length, target bytes
-- Stored value, format 3 (window_format.py; varint = LEB128, zigzag for signed values):
--   uint8 3, uint8 flags (1 = high-water mark, 2 = state), varint hw partition, varint zigzag(hw offset),
--   [flags & 2: double state_ts, uint8 len + state version, varint len + state bytes],
--   varint n, n x 4-byte event hash, n x varint (zigzag(ts_ms - previous ts_ms) * 8 + action code),
--   varint m distinct targets, m entries (uint8 tag: < 128 raw of that length; 128 + k: a canonical decimal
--   id as a k-byte integer; 192 + k: a lowercase hex id as k bytes), then if m > 0 one index per record
--   (0 = none, else 1..m; one byte when m < 128, else varints). Mirrors window_targets.py.
-- Formats 1 and 2 (15-byte records: uint48 ts, code, 8-byte hash; format 2 with a targets section of
-- uint16 m, uint8 len + raw target each, uint8/uint16 indexes) are read and rewritten as format 3.
-- Returns, per key, {statuses, value}: one char per event ('a' added, 'r' redelivery, 'd' duplicate).
local max_n = tonumber(ARGV[1])
local max_age = tonumber(ARGV[2])
local ttl = tonumber(ARGV[3])
local OLD_HEADER = '>BBI4i8d'
local out = {}

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

local function zigzag(v) if v >= 0 then return 2 * v end return -2 * v - 1 end
local function unzigzag(z) if z % 2 == 0 then return z / 2 end return -(z + 1) / 2 end

-- A target id as its stored entry (the same bytes as window_targets.pack_target)
local function pack_target(s)
  if s == '' then return '' end
  if #s <= 15 and (s == '0' or string.find(s, '^[1-9][0-9]*$')) then
    local v, b = tonumber(s), ''
    repeat
      local r = v % 256
      b = string.char(r) .. b
      v = (v - r) / 256
    until v == 0
    return string.char(128 + #b) .. b
  end
  if #s % 2 == 0 and #s <= 64 and string.find(s, '^[0-9a-f]+$') then
    local packed = string.gsub(s, '..', function(h) return string.char(tonumber(h, 16)) end)
    return string.char(192 + #s / 2) .. packed
  end
  return string.char(#s) .. s
end

local function entry_len(tag) if tag < 128 then return tag elseif tag < 192 then return tag - 128 end return tag - 192 end

-- Formats 1-2 -> flags, hwp, hwo, state section (format 3 form), ts, codes, hashes, targets (entries)
local function parse_old(blob)
  local fmt, flags, hwp, hwo, sts, p = struct.unpack(OLD_HEADER, blob)
  local vlen = string.byte(blob, p)
  local slen = struct.unpack('>H', blob, p + 1 + vlen)
  local ssec = ''
  if flags >= 2 then
    ssec = struct.pack('>d', sts) .. string.sub(blob, p, p + vlen) .. put_uvarint(slen)
      .. string.sub(blob, p + 3 + vlen, p + 2 + vlen + slen)
  end
  local q = p + 3 + vlen + slen
  local names, width, ix = {}, 0, 0
  if fmt == 2 then
    local tlen = struct.unpack('>H', blob, q)
    local m, t = struct.unpack('>H', blob, q + 2), q + 4
    for j = 1, m do
      local len = string.byte(blob, t)
      names[j] = pack_target(string.sub(blob, t + 1, t + len))
      t = t + 1 + len
    end
    width, ix = (m < 255) and 1 or 2, t
    q = q + 2 + tlen
  end
  local ts, codes, hashes, tg = {}, {}, {}, {}
  local n = (#blob - q + 1) / 15
  for i = 1, n do
    local at = q + (i - 1) * 15
    ts[i] = struct.unpack('>I6', blob, at)
    codes[i] = string.byte(blob, at + 6)
    hashes[i] = string.sub(blob, at + 11, at + 14)
    tg[i] = ''
    if width > 0 then
      local k = (width == 1) and string.byte(blob, ix) or struct.unpack('>H', blob, ix)
      ix = ix + width
      if k > 0 then tg[i] = names[k] end
    end
  end
  return flags, hwp, hwo, ssec, ts, codes, hashes, tg
end

local function parse(blob)
  local fmt = string.byte(blob, 1)
  if fmt == 1 or fmt == 2 then return parse_old(blob) end
  if fmt ~= 3 then return nil end
  local flags = string.byte(blob, 2)
  local hwp, p = uvarint(blob, 3)
  local hwz
  hwz, p = uvarint(blob, p)
  local ssec = ''
  if flags >= 2 then
    local vlen = string.byte(blob, p + 8)
    local slen, q = uvarint(blob, p + 9 + vlen)
    ssec = string.sub(blob, p, q + slen - 1)
    p = q + slen
  end
  local n
  n, p = uvarint(blob, p)
  local ts, codes, hashes, tg = {}, {}, {}, {}
  for i = 1, n do hashes[i] = string.sub(blob, p + 4 * i - 4, p + 4 * i - 1) end
  p = p + 4 * n
  local prev = 0
  for i = 1, n do
    local v
    v, p = uvarint(blob, p)
    local code = v % 8
    prev = prev + unzigzag((v - code) / 8)
    ts[i], codes[i] = prev, code
  end
  local m
  m, p = uvarint(blob, p)
  local names = {}
  for j = 1, m do
    local len = entry_len(string.byte(blob, p))
    names[j] = string.sub(blob, p, p + len)
    p = p + 1 + len
  end
  for i = 1, n do
    local k = 0
    if m > 0 then k, p = uvarint(blob, p) end
    tg[i] = (k > 0) and names[k] or ''
  end
  return flags, hwp, unzigzag(hwz), ssec, ts, codes, hashes, tg
end

local function encode(flags, hwp, hwo, ssec, ts, codes, hashes, tg)
  local n = #ts
  local parts = {string.char(3, flags), put_uvarint(hwp), put_uvarint(zigzag(hwo)), ssec, put_uvarint(n),
                 table.concat(hashes)}
  local prev = 0
  for i = 1, n do
    parts[#parts + 1] = put_uvarint(zigzag(ts[i] - prev) * 8 + codes[i])
    prev = ts[i]
  end
  local order, index = {}, {}
  for i = 1, n do
    local s = tg[i]
    if s ~= '' and not index[s] then order[#order + 1] = s; index[s] = #order end
  end
  parts[#parts + 1] = put_uvarint(#order)
  for j = 1, #order do parts[#parts + 1] = order[j] end
  if #order > 0 then
    for i = 1, n do parts[#parts + 1] = put_uvarint(tg[i] ~= '' and index[tg[i]] or 0) end
  end
  return table.concat(parts)
end

for k = 1, #KEYS do
  local blob = redis.call('GET', KEYS[k])
  local flags, hwp, hwo, ssec, ts, codes, hashes, tg = 0, 0, 0, '', {}, {}, {}, {}
  if blob then
    flags, hwp, hwo, ssec, ts, codes, hashes, tg = parse(blob)
    if not flags then return redis.error_reply('ERR unknown user window format') end
  end
  local seen = {}
  for i = 1, #hashes do seen[hashes[i]] = true end
  local events = ARGV[3 + k]
  local status = {}
  local pos = 1
  while pos + 27 <= #events do
    local ep, eo, ets = struct.unpack('>I4i8I6', events, pos)
    local code = string.byte(events, pos + 18)
    local h = string.sub(events, pos + 23, pos + 26)
    local tlen = string.byte(events, pos + 27)
    local tgt = pack_target(string.sub(events, pos + 28, pos + 27 + tlen))
    pos = pos + 28 + tlen
    if flags % 2 == 1 and ep == hwp and eo <= hwo then
      status[#status + 1] = 'r'
    else
      if flags % 2 == 0 then flags = flags + 1 end
      hwp, hwo = ep, eo
      if seen[h] then
        status[#status + 1] = 'd'
      else
        local n = #ts
        local i = n
        while i > 0 and ts[i] > ets do i = i - 1 end
        table.insert(ts, i + 1, ets)
        table.insert(codes, i + 1, code)
        table.insert(hashes, i + 1, h)
        table.insert(tg, i + 1, tgt)
        seen[h] = true
        n = n + 1
        local cutoff = ts[n] - max_age
        local drop = 0
        while drop < n and (n - drop > max_n or ts[drop + 1] < cutoff) do drop = drop + 1 end
        if drop > 0 then
          local t2, c2, h2, g2 = {}, {}, {}, {}
          seen = {}
          for j = drop + 1, n do
            t2[#t2 + 1], c2[#c2 + 1], h2[#h2 + 1], g2[#g2 + 1] = ts[j], codes[j], hashes[j], tg[j]
            seen[hashes[j]] = true
          end
          ts, codes, hashes, tg = t2, c2, h2, g2
        end
        status[#status + 1] = 'a'
      end
    end
  end
  local value = encode(flags, hwp, hwo, ssec, ts, codes, hashes, tg)
  redis.call('SET', KEYS[k], value, 'EX', ttl)
  out[k] = {table.concat(status), value}
end
return out
