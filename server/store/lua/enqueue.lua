-- Put a token into a doctor's waiting queue (walk-in issued, booked token checked in).
-- KEYS: 1 ready, 2 seq, 3 stream, 4 tok (hash), 5 queue (zset)
-- ARGV: 1 channel, 2 stream maxlen, 3 now (ms), 4 now (ISO 8601), 5 token JSON (status WAITING),
--       6 score (float, domain.ordering.queue_score), 7 event type
-- Returns {'OK', seq} or {'DUP'} when the token is already queued.
local err = check_ready(KEYS[1]); if err then return err end
local token = cjson.decode(ARGV[5])
if redis.call('ZSCORE', KEYS[5], token.id) then return {'DUP'} end
redis.call('ZADD', KEYS[5], ARGV[6], token.id)
save_token(KEYS[4], token)
local s = emit(KEYS[2], KEYS[3], ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[7],
               {token = token, doctor_id = token.doctor_id})
return {'OK', tostring(s)}
