-- An action on the doctor's current token: start, recall, complete, no-show, skip.
-- KEYS: 1 ready, 2 staged, 3 tok, 4 queue (zset), 5 doctor (hash)
-- ARGV: 1 action id, 2 now (ms), 3 now (ISO), 4 doctor id, 5 token id, 6 op,
--       7 skip places (int), 8 score to use when nobody waits (float)
-- Returns {'OK', previous status, new score or '', the queue after it (_lib.lua queue_view)}
--      or {'NOT_CURRENT', current} / {'BAD_STATE', current status} / {'PENDING', action}.
-- Skip: behind `places` waiting tokens (skip_score in _lib.lua).
local err = check_ready(KEYS[1]); if err then return err end
local doc, id, op = KEYS[5], ARGV[5], ARGV[6]
local busy = check_pending(doc, ARGV[1]); if busy then return busy end
local now = tonumber(ARGV[2])
local cur = redis.call('HGET', doc, 'cur') or ''
if cur ~= id then return {'NOT_CURRENT', cur} end
local st = redis.call('HGET', doc, 'cur_status') or 'CALLED'
local t = load_token(KEYS[3], id) or {id = id}
local etype, extra, score = 'token.updated', {}, ''

if op == 'start' then
  if st ~= 'CALLED' then return {'BAD_STATE', st} end
  redis.call('HSET', doc, 'cur_status', 'IN_CONSULTATION', 'started_ms', now)
  t.status = 'IN_CONSULTATION'
  save_token(KEYS[3], t)
elseif op == 'recall' then
  if st ~= 'CALLED' then return {'BAD_STATE', st} end
  redis.call('HSET', doc, 'last_call_ms', now)
  t.recall_count = (t.recall_count or 0) + 1
  save_token(KEYS[3], t)
  etype = 'token.called'
  extra = {cabin = redis.call('HGET', doc, 'cabin') or cjson.null,
           doctor = {id = ARGV[4], name = redis.call('HGET', doc, 'name') or cjson.null},
           recall = true}
elseif op == 'complete' or op == 'no-show' then
  if op == 'no-show' and st ~= 'CALLED' then return {'BAD_STATE', st} end
  redis.call('HDEL', doc, 'cur', 'cur_status', 'cur_since_ms', 'started_ms')
  redis.call('HDEL', KEYS[3], id)
  if op == 'complete' then t.status = 'COMPLETED' else t.status = 'NO_SHOW' end
elseif op == 'skip' then
  if st ~= 'CALLED' then return {'BAD_STATE', st} end
  local places = tonumber(ARGV[7])
  local v = skip_score(redis.call('ZRANGE', KEYS[4], 0, places, 'WITHSCORES'), places,
                       tonumber(ARGV[8]))
  redis.call('ZADD', KEYS[4], v, id)
  redis.call('HDEL', doc, 'cur', 'cur_status', 'cur_since_ms', 'started_ms')
  t.status = 'WAITING'
  t.skip_count = (t.skip_count or 0) + 1
  save_token(KEYS[3], t)
  score = string.format('%.17g', v)
else
  return redis.error_reply('unknown op ' .. op)
end

local data = {token = t, doctor_id = ARGV[4]}
for k, v in pairs(extra) do data[k] = v end
stage(KEYS[2], {doc}, ARGV[1], ARGV[3], etype, data)
return {'OK', st, score, queue_view(KEYS[3], KEYS[4], doc)}
