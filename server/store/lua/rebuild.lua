-- Replace live state with what PostgreSQL holds (after a flush, a restart, or to repair a
-- doctor whose Redis view diverged from the record).
-- KEYS: 1 ready, 2 seq, 3 floor, 4 tok, then per doctor: queue (zset), doctor (hash)
-- ARGV: 1 now (ms), 2 mode ('hospital' | 'doctors'),
--       3 payload JSON {doctors: [{id, fields: {...}, waiting: [[id, score], ...]}],
--                       tokens: [token, ...]}
-- 'hospital' marks the view as loaded by this server (see check_ready) and rebases the
-- sequence: a Redis that came back from an older snapshot has an older sequence, and numbers
-- clients have already seen must not be handed out again. The floor makes every `since`
-- older than the rebuild get a fresh snapshot rather than a replay with holes.
-- In 'doctors' mode only the listed doctors' tokens are replaced (and their pending marks go
-- with their old hashes); the double-tap guard timestamp survives a repair.
-- Returns {'OK', number of doctors}.
local payload = cjson.decode(ARGV[3])
local listed = {}
for i, d in ipairs(payload.doctors) do listed[d.id] = true end
if ARGV[2] == 'hospital' then
  redis.call('DEL', KEYS[4])
  local s = math.max(tonumber(redis.call('GET', KEYS[2]) or '0'), tonumber(ARGV[1]))
  redis.call('SET', KEYS[2], string.format('%d', s))
  redis.call('SET', KEYS[3], string.format('%d', s))
else
  local err = check_ready(KEYS[1]); if err then return err end
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
if ARGV[2] == 'hospital' then redis.call('SET', KEYS[1], server_id()) end
return {'OK', #payload.doctors}
