-- Pause or resume a doctor.
-- KEYS: 1 ready, 2 seq, 3 stream, 4 tok (unused, kept for the common layout), 5 doctor (hash)
-- ARGV: 1 channel, 2 stream maxlen, 3 now (ms), 4 now (ISO), 5 doctor id,
--       6 new status (PAUSED | AVAILABLE), 7 pause until (ISO or ''), 8 reason,
--       9 department id (boards of that department show the change)
-- Returns {'OK', seq} or {'SAME', status}.
local err = check_ready(KEYS[1]); if err then return err end
local doc = KEYS[5]
local current = redis.call('HGET', doc, 'status') or 'AVAILABLE'
if current == ARGV[6] then return {'SAME', current} end
if ARGV[6] == 'PAUSED' then
  redis.call('HSET', doc, 'status', 'PAUSED', 'paused_since_ms', ARGV[3],
             'pause_until', ARGV[7], 'pause_reason', ARGV[8])
else
  redis.call('HSET', doc, 'status', 'AVAILABLE')
  redis.call('HDEL', doc, 'paused_since_ms', 'pause_until', 'pause_reason')
end
local s = emit(KEYS[2], KEYS[3], ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4], 'doctor.status', {
  doctor_id = ARGV[5], status = ARGV[6], department_id = ARGV[9],
  pause_until = (ARGV[7] ~= '' and ARGV[7]) or cjson.null,
  reason = (ARGV[8] ~= '' and ARGV[8]) or cjson.null,
})
return {'OK', tostring(s)}
