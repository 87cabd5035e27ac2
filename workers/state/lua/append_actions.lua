-- Append actions to user windows; mirrors workers/state/window_rules.py (apply_actions) exactly.
-- KEYS[i]   user key (redis_keys.user_key), one per user
-- ARGV[1]   max_actions   ARGV[2] max_age_ms   ARGV[3] idle ttl seconds
-- ARGV[4]   '' or the epoch the caller last saw: then the last key is the epoch marker (redis_keys.epoch_key)
--           and nothing is written unless it still holds that epoch (error reply 'EPOCH ...')
-- ARGV[4+i] the user's events, packed back to back (big-endian): uint32 partition, int64 offset,
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
local users = #KEYS
if ARGV[4] ~= '' then -- the epoch check (window_store.py): the last key is the epoch marker
  users = users - 1
  if redis.call('GET', KEYS[#KEYS]) ~= ARGV[4] then
    return redis.error_reply('EPOCH the epoch marker changed: nothing written')
  end
end
local OLD_HEADER = '>BBI4i8d'
local out = {}

-- Byte-level helpers. The whole blob is read into a table of bytes once (no call per varint), columns are
-- written as byte tables turned into strings in chunks (string.char / unpack stay under Lua's stack limit).
local CHUNK = 4000
local function bytes_of(s, i, j)
  local t = {}
  while i <= j do
    local e = math.min(j, i + CHUNK - 1)
    local part = {string.byte(s, i, e)}
    for x = 1, #part do t[#t + 1] = part[x] end
    i = e + 1
  end
  return t
end

local function chars(t)
  local out = {}
  for i = 1, #t, CHUNK do out[#out + 1] = string.char(unpack(t, i, math.min(#t, i + CHUNK - 1))) end
  return table.concat(out)
end

local function put_varint(o, v)  -- append the LEB128 bytes of v >= 0 to the byte table o
  while v >= 128 do
    local b = v % 128
    o[#o + 1] = b + 128
    v = (v - b) / 128
  end
  o[#o + 1] = v
end

local function uvarint(B, p)
  local v, m = 0, 1
  local x = B[p]
  while x >= 128 do v = v + (x - 128) * m; m = m * 128; p = p + 1; x = B[p] end
  return v + x * m, p + 1
end

local function varint_str(v) local o = {}; put_varint(o, v); return string.char(unpack(o)) end
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

-- A window in memory: w.flags, w.hwp, w.hwo, w.ssec (state section, format 3 form), w.hcol (the 4-byte
-- hashes, one string), w.ts, w.codes, w.tg (one target entry per record, '' = none)

-- Formats 1-2
local function parse_old(blob)
  local fmt, flags, hwp, hwo, sts, p = struct.unpack(OLD_HEADER, blob)
  local vlen = string.byte(blob, p)
  local slen = struct.unpack('>H', blob, p + 1 + vlen)
  local w = {flags = flags, hwp = hwp, hwo = hwo, ssec = '', ts = {}, codes = {}, tg = {}}
  if flags >= 2 then
    w.ssec = struct.pack('>d', sts) .. string.sub(blob, p, p + vlen) .. varint_str(slen)
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
  local hs = {}
  for i = 1, (#blob - q + 1) / 15 do
    local at = q + (i - 1) * 15
    w.ts[i] = struct.unpack('>I6', blob, at)
    w.codes[i] = string.byte(blob, at + 6)
    hs[i] = string.sub(blob, at + 11, at + 14)
    w.tg[i] = ''
    if width > 0 then
      local k = (width == 1) and string.byte(blob, ix) or struct.unpack('>H', blob, ix)
      ix = ix + width
      if k > 0 then w.tg[i] = names[k] end
    end
  end
  w.hcol = table.concat(hs)
  return w
end

local function parse(blob)
  local fmt = string.byte(blob, 1)
  if fmt == 1 or fmt == 2 then return parse_old(blob) end
  if fmt ~= 3 then return nil end
  local B = bytes_of(blob, 1, #blob)
  local w = {flags = B[2], ssec = '', ts = {}, codes = {}, tg = {}}
  local hwz, p
  w.hwp, p = uvarint(B, 3)
  hwz, p = uvarint(B, p)
  w.hwo = unzigzag(hwz)
  if w.flags >= 2 then
    local slen, q = uvarint(B, p + 9 + B[p + 8])
    w.ssec = string.sub(blob, p, q + slen - 1)
    p = q + slen
  end
  local n
  n, p = uvarint(B, p)
  w.hcol = string.sub(blob, p, p + 4 * n - 1)
  p = p + 4 * n
  local ts, codes, prev = w.ts, w.codes, 0
  for i = 1, n do
    local v, m, x = 0, 1, B[p]
    while x >= 128 do v = v + (x - 128) * m; m = m * 128; p = p + 1; x = B[p] end
    p = p + 1
    v = v + x * m
    local code = v % 8
    prev = prev + unzigzag((v - code) / 8)
    ts[i], codes[i] = prev, code
  end
  local m
  m, p = uvarint(B, p)
  local names = {}
  for j = 1, m do
    local len = entry_len(B[p])
    names[j] = string.sub(blob, p, p + len)
    p = p + 1 + len
  end
  local tg = w.tg
  for i = 1, n do
    local k = 0
    if m > 0 then k, p = uvarint(B, p) end
    tg[i] = (k > 0) and names[k] or ''
  end
  return w
end

local function encode(w)
  local n = #w.ts
  local o = {}
  local prev = 0
  for i = 1, n do
    put_varint(o, zigzag(w.ts[i] - prev) * 8 + w.codes[i])
    prev = w.ts[i]
  end
  local order, index, ix = {}, {}, {}
  for i = 1, n do
    local s = w.tg[i]
    if s ~= '' and not index[s] then order[#order + 1] = s; index[s] = #order end
  end
  if #order > 0 then
    for i = 1, n do put_varint(ix, w.tg[i] ~= '' and index[w.tg[i]] or 0) end
  end
  return string.char(3, w.flags) .. varint_str(w.hwp) .. varint_str(zigzag(w.hwo)) .. w.ssec .. varint_str(n)
    .. w.hcol .. chars(o) .. varint_str(#order) .. table.concat(order) .. chars(ix)
end

-- Is h (4 bytes) one of the hashes? A plain substring search, checked for 4-byte alignment.
local function has_hash(hcol, h)
  local from = 1
  while true do
    local at = string.find(hcol, h, from, true)
    if not at then return false end
    if (at - 1) % 4 == 0 then return true end
    from = at + 1
  end
end

for k = 1, users do
  local blob = redis.call('GET', KEYS[k])
  local w = {flags = 0, hwp = 0, hwo = 0, ssec = '', hcol = '', ts = {}, codes = {}, tg = {}}
  if blob then
    w = parse(blob)
    if not w then return redis.error_reply('ERR unknown user window format') end
  end
  local ts, codes, tg = w.ts, w.codes, w.tg
  local events = ARGV[4 + k]
  local status = {}
  local pos = 1
  while pos + 27 <= #events do
    local ep, eo, ets = struct.unpack('>I4i8I6', events, pos)
    local code = string.byte(events, pos + 18)
    local h = string.sub(events, pos + 23, pos + 26)
    local tlen = string.byte(events, pos + 27)
    local tgt = pack_target(string.sub(events, pos + 28, pos + 27 + tlen))
    pos = pos + 28 + tlen
    if w.flags % 2 == 1 and ep == w.hwp and eo <= w.hwo then
      status[#status + 1] = 'r'
    else
      if w.flags % 2 == 0 then w.flags = w.flags + 1 end
      w.hwp, w.hwo = ep, eo
      if has_hash(w.hcol, h) then
        status[#status + 1] = 'd'
      else
        local n = #ts
        local i = n
        while i > 0 and ts[i] > ets do i = i - 1 end
        table.insert(ts, i + 1, ets)
        table.insert(codes, i + 1, code)
        table.insert(tg, i + 1, tgt)
        w.hcol = string.sub(w.hcol, 1, 4 * i) .. h .. string.sub(w.hcol, 4 * i + 1)
        n = n + 1
        local cutoff = ts[n] - max_age
        local drop = 0
        while drop < n and (n - drop > max_n or ts[drop + 1] < cutoff) do drop = drop + 1 end
        if drop > 0 then
          local t2, c2, g2 = {}, {}, {}
          for j = drop + 1, n do t2[j - drop], c2[j - drop], g2[j - drop] = ts[j], codes[j], tg[j] end
          ts, codes, tg = t2, c2, g2
          w.ts, w.codes, w.tg = t2, c2, g2
          w.hcol = string.sub(w.hcol, 4 * drop + 1)
        end
        status[#status + 1] = 'a'
      end
    end
  end
  local value = encode(w)
  redis.call('SET', KEYS[k], value, 'EX', ttl)
  out[k] = {table.concat(status), value}
end
return out
