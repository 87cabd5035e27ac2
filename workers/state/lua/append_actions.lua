-- Append actions to user windows; mirrors workers/state/window_rules.py (apply_actions) exactly.
-- KEYS[i]   user key (redis_keys.user_key), one per user
-- ARGV[1]   max_actions   ARGV[2] max_age_ms   ARGV[3] idle ttl seconds
-- ARGV[3+i] the user's events, packed back to back (big-endian): uint32 partition, int64 offset,
--           uint48 ts_ms, uint8 action code, 8-byte event hash, uint8 target length, target bytes
-- Stored value (string): uint8 format, uint8 flags (1 = high-water mark, 2 = state),
--   uint32 hw partition, int64 hw offset, double state_ts, uint8 len + state version,
--   uint16 len + state bytes, [format 2 only: uint16 len + targets section], then records of 15 bytes:
--   uint48 ts_ms, uint8 action code, 8-byte hash. Format 1 = no record has a target. Targets section:
--   uint16 m, the m distinct targets in first-appearance order (uint8 len + bytes), then one index per
--   record (0 = none, else 1..m; uint8 when m < 255, else uint16). Mirrors window_targets.py.
-- Returns, per key, {statuses, value}: one char per event ('a' added, 'r' redelivery, 'd' duplicate).
local max_n = tonumber(ARGV[1])
local max_age = tonumber(ARGV[2])
local ttl = tonumber(ARGV[3])
local HEADER = '>BBI4i8d'
local out = {}

-- The records stay one string: dedupe is a plain substring search (checked for record alignment),
-- insertion is usually an append; only the few records around the edges are ever unpacked. Targets are a
-- table kept parallel to the records.
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

local function decode_targets(sec, n)
  local tg = {}
  if sec == '' then
    for i = 1, n do tg[i] = '' end
    return tg
  end
  local m = struct.unpack('>H', sec, 1)
  local names, t = {}, 3
  for j = 1, m do
    local len = string.byte(sec, t)
    names[j] = string.sub(sec, t + 1, t + len)
    t = t + 1 + len
  end
  for i = 1, n do
    local ix
    if m < 255 then ix = string.byte(sec, t); t = t + 1 else ix = struct.unpack('>H', sec, t); t = t + 2 end
    tg[i] = ix > 0 and names[ix] or ''
  end
  return tg
end

local function encode_targets(tg)
  local order, index = {}, {}
  for i = 1, #tg do
    local s = tg[i]
    if s ~= '' and not index[s] then order[#order + 1] = s; index[s] = #order end
  end
  if #order == 0 then return '' end
  local parts = {struct.pack('>H', #order)}
  for j = 1, #order do parts[#parts + 1] = string.char(#order[j]) .. order[j] end
  for i = 1, #tg do
    local ix = tg[i] ~= '' and index[tg[i]] or 0
    parts[#parts + 1] = #order < 255 and string.char(ix) or struct.pack('>H', ix)
  end
  return table.concat(parts)
end

local function parse(blob)
  local fmt, flags, hwp, hwo, sts, p = struct.unpack(HEADER, blob)
  if fmt ~= 1 and fmt ~= 2 then return nil end
  local vlen = string.byte(blob, p)
  local slen = struct.unpack('>H', blob, p + 1 + vlen)
  local var = string.sub(blob, p, p + 2 + vlen + slen)
  local q = p + 3 + vlen + slen
  local sec = ''
  if fmt == 2 then
    local tlen = struct.unpack('>H', blob, q)
    sec = string.sub(blob, q + 2, q + 1 + tlen)
    q = q + 2 + tlen
  end
  local recs = string.sub(blob, q)
  return flags, hwp, hwo, sts, var, recs, decode_targets(sec, #recs / 15)
end

for k = 1, #KEYS do
  local blob = redis.call('GET', KEYS[k])
  local flags, hwp, hwo, sts, var, recs, tgts = 0, 0, 0, 0.0, '\0\0\0', '', {}
  if blob then
    flags, hwp, hwo, sts, var, recs, tgts = parse(blob)
    if not flags then return redis.error_reply('ERR unknown user window format') end
  end
  local events = ARGV[3 + k]
  local status = {}
  local pos = 1
  while pos + 27 <= #events do
    local ep, eo, ets = struct.unpack('>I4i8I6', events, pos)
    local rec = string.sub(events, pos + 12, pos + 26)
    local tlen = string.byte(events, pos + 27)
    local tgt = string.sub(events, pos + 28, pos + 27 + tlen)
    pos = pos + 28 + tlen
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
        table.insert(tgts, i + 1, tgt)
        n = n + 1
        local cutoff = ts_at(recs, n) - max_age
        local drop = 0
        while drop < n and (n - drop > max_n or ts_at(recs, drop + 1) < cutoff) do drop = drop + 1 end
        if drop > 0 then
          recs = string.sub(recs, drop * 15 + 1)
          local kept = {}
          for j = drop + 1, n do kept[#kept + 1] = tgts[j] end
          tgts = kept
        end
        status[#status + 1] = 'a'
      end
    end
  end
  local sec = encode_targets(tgts)
  local value
  if sec == '' then
    value = struct.pack(HEADER, 1, flags, hwp, hwo, sts) .. var .. recs
  else
    value = struct.pack(HEADER, 2, flags, hwp, hwo, sts) .. var .. struct.pack('>H', #sec) .. sec .. recs
  end
  redis.call('SET', KEYS[k], value, 'EX', ttl)
  out[k] = {table.concat(status), value}
end
return out
