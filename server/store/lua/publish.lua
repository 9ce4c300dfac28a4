-- Stage an event that changes no queue (queue.updated with ETAs, a booked token's change,
-- announcements) as part of an action; emit.lua announces it after COMMIT.
-- KEYS: 1 ready, 2 staged, 3.. doctor hashes the event concerns
-- ARGV: 1 action id, 2 now (ISO), 3 type, 4 data (JSON object, staged as given);
--       5.. (optional) field, value pairs of the doctor's consult statistics after a consult
--       the action finished (n, mean, m2, tn, tlog, tlast_ms and the sitting's start t0n, t0mean,
--       t0m2), written to KEYS[3] (the ETAs
--       in the data already count it)
-- Returns {'OK'} or {'PENDING', action}.
local err = check_ready(KEYS[1]); if err then return err end
local docs = {}
for i = 3, #KEYS do
  local busy = check_pending(KEYS[i], ARGV[1]); if busy then return busy end
  table.insert(docs, KEYS[i])
end
if #ARGV > 4 then
  redis.call('HSET', KEYS[3], unpack(ARGV, 5))
end
stage(KEYS[2], docs, ARGV[1], ARGV[2], ARGV[3], ARGV[4], true)
return {'OK'}
