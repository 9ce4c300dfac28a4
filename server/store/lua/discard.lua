-- Drop an action whose record did not commit: its staged events are never announced. The
-- doctors keep their pending marks: the caller rebuilds them from the record next, and the
-- rebuild (which replaces their hashes) is what clears the marks, so a settler that dies in
-- between leaves the doctors marked for the next one.
-- KEYS: 1 staged
-- Returns {'OK', number of events dropped}.
local n = redis.call('LLEN', KEYS[1])
redis.call('DEL', KEYS[1])
return {'OK', n}
