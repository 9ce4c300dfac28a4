-- Which doctors carry an unsettled action, and whether the live view is ready at all.
-- KEYS: 1 ready, 2.. doctor hashes
-- Returns {ready (1 or 0), pending action id or '' per doctor hash}.
local ok = 1
if check_ready(KEYS[1]) then ok = 0 end
local out = {}
for i = 2, #KEYS do out[i - 1] = redis.call('HGET', KEYS[i], 'pending') or '' end
return {ok, out}
