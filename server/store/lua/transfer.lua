-- Move a WAITING token to another doctor's queue, keeping it in one queue at every instant.
-- KEYS: 1 ready, 2 staged, 3 tok, 4 from queue, 5 to queue, 6 from doctor, 7 to doctor
-- ARGV: 1 action id, 2 now (ms), 3 now (ISO), 4 from doctor id, 5 token id, 6 to doctor id,
--       7 score in the new queue, 8 cabin of the new doctor ('' if none)
-- Returns {'OK'} or {'NOT_WAITING'} or {'PENDING', action}.
local err = check_ready(KEYS[1]); if err then return err end
local busy = check_pending(KEYS[6], ARGV[1]) or check_pending(KEYS[7], ARGV[1])
if busy then return busy end
local id = ARGV[5]
if not redis.call('ZSCORE', KEYS[4], id) then return {'NOT_WAITING'} end
redis.call('ZREM', KEYS[4], id)
redis.call('ZADD', KEYS[5], ARGV[7], id)
local t = load_token(KEYS[3], id) or {id = id}
t.doctor_id = ARGV[6]
if ARGV[8] ~= '' then t.cabin = ARGV[8] else t.cabin = cjson.null end
save_token(KEYS[3], t)
stage(KEYS[2], {KEYS[6], KEYS[7]}, ARGV[1], ARGV[3], 'token.updated',
      {token = t, doctor_id = ARGV[6], from_doctor_id = ARGV[4],
       doctor_name = redis.call('HGET', KEYS[7], 'name') or cjson.null,
       from_doctor_name = redis.call('HGET', KEYS[6], 'name') or cjson.null})
return {'OK'}
