-- Move a WAITING token to another doctor's queue, keeping it in one queue at every instant.
-- KEYS: 1 ready, 2 seq, 3 stream, 4 tok, 5 from queue, 6 to queue
-- ARGV: 1 channel, 2 stream maxlen, 3 now (ms), 4 now (ISO), 5 from doctor id, 6 token id,
--       7 to doctor id, 8 score in the new queue, 9 cabin of the new doctor ('' if none)
-- Returns {'OK', seq} or {'NOT_WAITING'}.
local err = check_ready(KEYS[1]); if err then return err end
local id = ARGV[6]
if not redis.call('ZSCORE', KEYS[5], id) then return {'NOT_WAITING'} end
redis.call('ZREM', KEYS[5], id)
redis.call('ZADD', KEYS[6], ARGV[8], id)
local t = load_token(KEYS[4], id) or {id = id}
t.doctor_id = ARGV[7]
if ARGV[9] ~= '' then t.cabin = ARGV[9] else t.cabin = cjson.null end
save_token(KEYS[4], t)
local s = emit(KEYS[2], KEYS[3], ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4], 'token.updated',
               {token = t, doctor_id = ARGV[7], from_doctor_id = ARGV[5]})
return {'OK', tostring(s)}
