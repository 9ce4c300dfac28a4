-- Put a token into a doctor's waiting queue (walk-in issued, booked token checked in,
-- a missed or cancelled token reinstated).
-- KEYS: 1 ready, 2 staged, 3 tok (hash), 4 queue (zset), 5 doctor (hash)
-- ARGV: 1 action id, 2 now (ms), 3 now (ISO 8601), 4 token JSON (status WAITING),
--       5 score (float, domain.ordering.queue_score), 6 event type,
--       7 places ('' = use the score; else behind this many waiting: a reinstate),
--       8 emergency line (scores below it are emergencies, never passed by a reinstate)
-- Returns {'OK', score, the queue after it (_lib.lua queue_view)} or {'DUP'} when the
-- token is already queued, or {'PENDING', action}.
local err = check_ready(KEYS[1]); if err then return err end
local busy = check_pending(KEYS[5], ARGV[1]); if busy then return busy end
local token = cjson.decode(ARGV[4])
if redis.call('ZSCORE', KEYS[4], token.id) then return {'DUP'} end
local score = tonumber(ARGV[5])
if ARGV[7] and ARGV[7] ~= '' then
  local places = math.max(tonumber(ARGV[7]),
                          redis.call('ZCOUNT', KEYS[4], '-inf', '(' .. ARGV[8]))
  score = skip_score(redis.call('ZRANGE', KEYS[4], 0, places, 'WITHSCORES'), places, score)
end
redis.call('ZADD', KEYS[4], string.format('%.17g', score), token.id)
save_token(KEYS[3], token)
local data = {token = token, doctor_id = token.doctor_id}
if ARGV[9] and ARGV[9] ~= '' then data.note = ARGV[9] end
stage(KEYS[2], {KEYS[5]}, ARGV[1], ARGV[3], ARGV[6], data)
return {'OK', string.format('%.17g', score), queue_view(KEYS[3], KEYS[4], KEYS[5])}
