-- An action on a WAITING token: cancel, reschedule, no-show, skip (hold: back N places),
-- rescore.
-- KEYS: 1 ready, 2 seq, 3 stream, 4 tok, 5 queue (zset)
-- ARGV: 1 channel, 2 stream maxlen, 3 now (ms), 4 now (ISO), 5 doctor id, 6 token id, 7 op,
--       8 places (skip) or new score (rescore), 9 new priority (rescore)
-- Returns {'OK', seq, new score or ''} or {'NOT_WAITING'}.
-- Skip mirrors domain.ordering.skip_score over the tokens behind this one.
local err = check_ready(KEYS[1]); if err then return err end
local now = tonumber(ARGV[3])
local id, op = ARGV[6], ARGV[7]
local own = redis.call('ZSCORE', KEYS[5], id)
if not own then return {'NOT_WAITING'} end
local t = load_token(KEYS[4], id) or {id = id}
local score = ''

local leaving = {cancel = 'CANCELLED', reschedule = 'RESCHEDULED', ['no-show'] = 'NO_SHOW'}
if leaving[op] then
  redis.call('ZREM', KEYS[5], id)
  redis.call('HDEL', KEYS[4], id)
  t.status = leaving[op]
elseif op == 'skip' then
  local places = tonumber(ARGV[8])
  local rank = redis.call('ZRANK', KEYS[5], id)
  local r = redis.call('ZRANGE', KEYS[5], rank + 1, rank + 1 + places, 'WITHSCORES')
  local n = #r / 2
  local v
  if n == 0 then v = tonumber(own)
  elseif n <= places then v = tonumber(r[2 * n]) + 1.0
  else v = (tonumber(r[2 * places]) + tonumber(r[2 * places + 2])) / 2 end
  redis.call('ZADD', KEYS[5], v, id)
  t.skip_count = (t.skip_count or 0) + 1
  save_token(KEYS[4], t)
  score = string.format('%.17g', v)
elseif op == 'rescore' then
  redis.call('ZADD', KEYS[5], ARGV[8], id)
  t.priority = tonumber(ARGV[9])
  save_token(KEYS[4], t)
  score = ARGV[8]
else
  return redis.error_reply('unknown op ' .. op)
end
local s = emit(KEYS[2], KEYS[3], ARGV[1], ARGV[2], now, ARGV[4], 'token.updated',
               {token = t, doctor_id = ARGV[5]})
return {'OK', tostring(s), score}
