-- One round trip for a doctor's live queue: doctor hash, waiting ids and scores, their tokens.
-- KEYS: 1 ready, 2 tok, 3 queue (zset), 4 doctor (hash)
-- ARGV: 1 the reader's own action id ('' outside an action)
-- Returns {doctor hash (flat), {id, score, ...}, {token JSON of current, then of each waiting}}
-- or {'PENDING', action} while another action's change is unsettled, or the NOTREADY error.
local err = check_ready(KEYS[1]); if err then return err end
local busy = check_pending(KEYS[4], ARGV[1]); if busy then return busy end
return queue_view(KEYS[2], KEYS[3], KEYS[4])
