-- Announce an action whose record committed: each staged event gets the hospital's next
-- sequence number, is appended to the bounded stream (entry id "<seq>-0", so XRANGE resumes
-- exactly) and published; the action's pending marks are cleared. Idempotent: once emitted,
-- nothing is staged, so a second call (the action's own process and a settler racing)
-- announces nothing twice.
-- KEYS: 1 ready, 2 seq, 3 stream, 4 staged, 5.. doctor hashes to unmark
-- ARGV: 1 channel, 2 stream maxlen, 3 now (ms), 4 action id, 5 request id or ''
-- The request id goes beside the event in the stream entry (field 'rid', for the workers'
-- logs), never into the event itself: clients do not see it.
-- Returns {'OK', number of events, last seq or ''}.
-- A missing sequence (first use) starts at the current time in ms, so it stays above every
-- number a client saw before a flush (rebuild.lua rebases it the same way after a restart).
local err = check_ready(KEYS[1]); if err then return err end
local staged = redis.call('LRANGE', KEYS[4], 0, -1)
local s = ''
for _, line in ipairs(staged) do
  local a = string.find(line, '\n', 1, true)
  local b = string.find(line, '\n', a + 1, true)
  local etype, ts, data = string.sub(line, 1, a - 1), string.sub(line, a + 1, b - 1),
                          string.sub(line, b + 1)
  local current = tonumber(redis.call('GET', KEYS[2]) or '0')
  local n = current + 1
  if current == 0 then n = tonumber(ARGV[3]) end
  redis.call('SET', KEYS[2], string.format('%d', n))
  s = string.format('%d', n)
  local event = '{"type":' .. cjson.encode(etype) .. ',"seq":' .. s .. ',"ts":' ..
                cjson.encode(ts) .. ',"data":' .. data .. '}'
  if ARGV[5] and ARGV[5] ~= '' then
    redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[2], s .. '-0', 'e', event, 'rid', ARGV[5])
  else
    redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[2], s .. '-0', 'e', event)
  end
  redis.call('PUBLISH', ARGV[1], event)
end
redis.call('DEL', KEYS[4])
for i = 5, #KEYS do
  if redis.call('HGET', KEYS[i], 'pending') == ARGV[4] then redis.call('HDEL', KEYS[i], 'pending') end
end
return {'OK', #staged, s}
