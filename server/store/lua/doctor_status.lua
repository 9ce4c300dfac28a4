-- Pause or resume a doctor.
-- KEYS: 1 ready, 2 staged, 3 doctor (hash)
-- ARGV: 1 action id, 2 now (ms), 3 now (ISO), 4 doctor id,
--       5 new status (PAUSED | AVAILABLE), 6 pause until (ISO or ''), 7 reason,
--       8 department id (boards of that department show the change)
-- Returns {'OK'} or {'SAME', status} or {'PENDING', action}.
local err = check_ready(KEYS[1]); if err then return err end
local doc = KEYS[3]
local busy = check_pending(doc, ARGV[1]); if busy then return busy end
local current = redis.call('HGET', doc, 'status') or 'AVAILABLE'
if current == ARGV[5] then return {'SAME', current} end
if ARGV[5] == 'PAUSED' then
  redis.call('HSET', doc, 'status', 'PAUSED', 'paused_since_ms', ARGV[2],
             'pause_until', ARGV[6], 'pause_reason', ARGV[7])
else
  redis.call('HSET', doc, 'status', 'AVAILABLE')
  redis.call('HDEL', doc, 'paused_since_ms', 'pause_until', 'pause_reason')
end
stage(KEYS[2], {doc}, ARGV[1], ARGV[3], 'doctor.status', {
  doctor_id = ARGV[4], status = ARGV[5], department_id = ARGV[8],
  pause_until = (ARGV[6] ~= '' and ARGV[6]) or cjson.null,
  reason = (ARGV[7] ~= '' and ARGV[7]) or cjson.null,
})
return {'OK'}
