-- Publish an event that changes no queue (queue.updated with ETAs, announcements).
-- KEYS: 1 ready, 2 seq, 3 stream
-- ARGV: 1 channel, 2 stream maxlen, 3 now (ms), 4 now (ISO), 5 type, 6 data (JSON object)
-- Returns {'OK', seq}.
local err = check_ready(KEYS[1]); if err then return err end
local s = emit(KEYS[2], KEYS[3], ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[5],
               cjson.decode(ARGV[6]))
return {'OK', tostring(s)}
