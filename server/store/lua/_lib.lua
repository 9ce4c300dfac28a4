-- Shared by every script (prepended at load time by scripts.py).
--
-- Nothing is announced before it is committed. A script that changes a queue *stages* its
-- events under the action's id (a list, keys.staged) and marks each doctor it touched with
-- `pending = <action id>`; the events get their sequence numbers and reach the stream and
-- the channel only when emit.lua runs after PostgreSQL's COMMIT. While a doctor is marked,
-- every other script on that doctor answers PENDING, so no one reads or changes a view that
-- the record may not hold; server/queue.py settles the action (emit it if its record
-- committed, else drop it and rebuild the doctor from the record) and tries again.

-- The id of this Redis server process. A restart (or a failover) changes it, and a live view
-- loaded before it may come from an older snapshot: it is not trusted (see check_ready).
local function server_id()
  return string.match(redis.call('INFO', 'server'), 'run_id:(%w+)')
end

-- The live view is ready when it was loaded from PostgreSQL by this very server process.
local function check_ready(ready_key)
  local loaded_by = redis.call('GET', ready_key)
  if not loaded_by or loaded_by ~= server_id() then
    return redis.error_reply('NOTREADY live view not loaded since this Redis server started')
  end
  return nil
end

-- {'PENDING', action} when another action's change to this doctor is not settled yet.
local function check_pending(doc_key, action)
  local other = redis.call('HGET', doc_key, 'pending')
  if other and other ~= action then return {'PENDING', other} end
  return nil
end

-- Stage an event of `action` (data: a Lua table, or a JSON string when raw is true) and mark
-- the doctors it concerns. One line per event: "<type>\n<ts>\n<data JSON>".
local function stage(staged_key, doc_keys, action, ts, etype, data, raw)
  local body = data
  if not raw then body = cjson.encode(data) end
  redis.call('RPUSH', staged_key, etype .. '\n' .. ts .. '\n' .. body)
  redis.call('EXPIRE', staged_key, 86400)  -- a safety net: settled actions delete it at once
  for _, k in ipairs(doc_keys) do redis.call('HSET', k, 'pending', action) end
end

-- the live token's public fields (see keys.tokens), or nil
local function load_token(tok_key, id)
  local raw = redis.call('HGET', tok_key, id)
  if not raw then return nil end
  return cjson.decode(raw)
end

local function save_token(tok_key, token)
  redis.call('HSET', tok_key, token.id, cjson.encode(token))
end

-- The skip rule, bit for bit the same doubles as domain.ordering.skip_score (a test ties
-- them): the score that puts a token behind `places` of the waiting tokens. `flat` is a
-- ZRANGE ... WITHSCORES answer over (at least) the first places + 1 of them, ascending;
-- `empty` is the score to use when nobody waits.
local function skip_score(flat, places, empty)
  local n = #flat / 2
  if n == 0 then return empty end
  if n <= places then return tonumber(flat[2 * n]) + 1.0 end
  return (tonumber(flat[2 * places]) + tonumber(flat[2 * places + 2])) / 2
end

-- A doctor's live queue as read_queue.lua returns it (the reader of each action that changes
-- a queue returns it too, so the queue.updated needs no second round trip):
-- {doctor hash (flat), {id, score, ...}, {token JSON of current, then of each waiting}}
local function queue_view(tok_key, queue_key, doc_key)
  local doc = redis.call('HGETALL', doc_key)
  local waiting = redis.call('ZRANGE', queue_key, 0, -1, 'WITHSCORES')
  local ids = {}
  table.insert(ids, redis.call('HGET', doc_key, 'cur') or '-')
  for i = 1, #waiting, 2 do table.insert(ids, waiting[i]) end
  local toks = redis.call('HMGET', tok_key, unpack(ids))
  for i = 1, #toks do if not toks[i] then toks[i] = '' end end
  return {doc, waiting, toks}
end
