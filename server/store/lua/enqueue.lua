-- Put a token into a doctor's waiting queue (walk-in issued, booked token checked in).
-- KEYS: 1 ready, 2 staged, 3 tok (hash), 4 queue (zset), 5 doctor (hash)
-- ARGV: 1 action id, 2 now (ms), 3 now (ISO 8601), 4 token JSON (status WAITING),
--       5 score (float, domain.ordering.queue_score), 6 event type
-- Returns {'OK'} or {'DUP'} when the token is already queued, or {'PENDING', action}.
local err = check_ready(KEYS[1]); if err then return err end
local busy = check_pending(KEYS[5], ARGV[1]); if busy then return busy end
local token = cjson.decode(ARGV[4])
if redis.call('ZSCORE', KEYS[4], token.id) then return {'DUP'} end
redis.call('ZADD', KEYS[4], ARGV[5], token.id)
save_token(KEYS[3], token)
stage(KEYS[2], {KEYS[5]}, ARGV[1], ARGV[3], ARGV[6], {token = token, doctor_id = token.doctor_id})
return {'OK'}
