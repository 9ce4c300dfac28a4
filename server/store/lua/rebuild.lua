-- Replace live state with what PostgreSQL holds (after a flush, a restart, or to repair a
-- doctor whose Redis view diverged from the record).
-- KEYS: 1 ready, 2 seq, 3 stream, 4 tok, then per doctor: queue (zset), doctor (hash)
-- ARGV: 1 channel, 2 stream maxlen, 3 now (ms), 4 now (ISO), 5 mode ('hospital' | 'doctors'),
--       6 payload JSON {doctors: [{id, fields: {...}, waiting: [[id, score], ...]}],
--                       tokens: [token, ...]}
-- In 'doctors' mode only the listed doctors' tokens are replaced; the double-tap guard
-- timestamp survives a repair. Returns {'OK', number of doctors}.
local payload = cjson.decode(ARGV[6])
local listed = {}
for i, d in ipairs(payload.doctors) do listed[d.id] = true end
if ARGV[5] == 'hospital' then
  redis.call('DEL', KEYS[4])
else
  local all = redis.call('HGETALL', KEYS[4])
  for i = 1, #all, 2 do
    local t = cjson.decode(all[i + 1])
    if t.doctor_id and listed[t.doctor_id] then redis.call('HDEL', KEYS[4], all[i]) end
  end
end
for i, d in ipairs(payload.doctors) do
  local qk, dk = KEYS[3 + 2 * i], KEYS[4 + 2 * i]
  local last_call = redis.call('HGET', dk, 'last_call_ms')
  redis.call('DEL', qk, dk)
  for j, w in ipairs(d.waiting) do redis.call('ZADD', qk, w[2], w[1]) end
  for k, v in pairs(d.fields) do
    if v ~= cjson.null then redis.call('HSET', dk, k, tostring(v)) end
  end
  if last_call and not d.fields.last_call_ms then redis.call('HSET', dk, 'last_call_ms', last_call) end
end
for i, t in ipairs(payload.tokens) do save_token(KEYS[4], t) end
redis.call('SET', KEYS[1], ARGV[3])
return {'OK', #payload.doctors}
