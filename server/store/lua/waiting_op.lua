-- An action on a WAITING token: cancel, reschedule, no-show, skip (hold: back N places),
-- rescore.
-- KEYS: 1 ready, 2 staged, 3 tok, 4 queue (zset), 5 doctor (hash)
-- ARGV: 1 action id, 2 now (ms), 3 now (ISO), 4 doctor id, 5 token id, 6 op,
--       7 places (skip, late) or new score (rescore), 8 new priority (rescore),
--       9 a note for the doctor's console ('' for none)
-- Returns {'OK', new score or '', the queue after it (_lib.lua queue_view)}
--      or {'NOT_WAITING'} or {'PENDING', action}.
-- Skip: behind `places` of the tokens behind this one (skip_score in _lib.lua); late (the
-- patient said they will be late): the same move, not counted as a skip.
local err = check_ready(KEYS[1]); if err then return err end
local busy = check_pending(KEYS[5], ARGV[1]); if busy then return busy end
local id, op = ARGV[5], ARGV[6]
local own = redis.call('ZSCORE', KEYS[4], id)
if not own then return {'NOT_WAITING'} end
local t = load_token(KEYS[3], id) or {id = id}
local score = ''

local leaving = {cancel = 'CANCELLED', reschedule = 'RESCHEDULED', ['no-show'] = 'NO_SHOW'}
if leaving[op] then
  redis.call('ZREM', KEYS[4], id)
  redis.call('HDEL', KEYS[3], id)
  t.status = leaving[op]
elseif op == 'skip' or op == 'late' then
  local places = tonumber(ARGV[7])
  local rank = redis.call('ZRANK', KEYS[4], id)
  local v = skip_score(redis.call('ZRANGE', KEYS[4], rank + 1, rank + 1 + places, 'WITHSCORES'),
                       places, tonumber(own))
  redis.call('ZADD', KEYS[4], v, id)
  if op == 'skip' then t.skip_count = (t.skip_count or 0) + 1 end
  if op == 'late' then t.late_count = (t.late_count or 0) + 1 end
  save_token(KEYS[3], t)
  score = string.format('%.17g', v)
elseif op == 'rescore' then
  redis.call('ZADD', KEYS[4], ARGV[7], id)
  t.priority = tonumber(ARGV[8])
  save_token(KEYS[3], t)
  score = ARGV[7]
else
  return redis.error_reply('unknown op ' .. op)
end
local data = {token = t, doctor_id = ARGV[4]}
if ARGV[9] and ARGV[9] ~= '' then data.note = ARGV[9] end
stage(KEYS[2], {KEYS[5]}, ARGV[1], ARGV[3], 'token.updated', data)
return {'OK', score, queue_view(KEYS[3], KEYS[4], KEYS[5])}
