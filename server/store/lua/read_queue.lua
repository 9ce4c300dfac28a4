-- One round trip for a doctor's live queue: doctor hash, waiting ids and scores, their tokens.
-- KEYS: 1 ready, 2 tok, 3 queue (zset), 4 doctor (hash)
-- ARGV: 1 the reader's own action id ('' outside an action); 2-4 (optional) n, mean, m2:
--       the doctor's consult statistics after a consult the action finished, written first
--       so the queue read (and its ETAs) already count it, in the same round trip
-- Returns {doctor hash (flat), {id, score, ...}, {token JSON of current, then of each waiting}}
-- or {'PENDING', action} while another action's change is unsettled, or the NOTREADY error.
local err = check_ready(KEYS[1]); if err then return err end
local busy = check_pending(KEYS[4], ARGV[1]); if busy then return busy end
if ARGV[2] and ARGV[2] ~= '' then
  redis.call('HSET', KEYS[4], 'n', ARGV[2], 'mean', ARGV[3], 'm2', ARGV[4])
end
local doc = redis.call('HGETALL', KEYS[4])
local waiting = redis.call('ZRANGE', KEYS[3], 0, -1, 'WITHSCORES')
local ids = {}
local cur = redis.call('HGET', KEYS[4], 'cur')
table.insert(ids, cur or '-')
for i = 1, #waiting, 2 do table.insert(ids, waiting[i]) end
local toks = redis.call('HMGET', KEYS[2], unpack(ids))
for i = 1, #toks do if not toks[i] then toks[i] = '' end end
return {doc, waiting, toks}
