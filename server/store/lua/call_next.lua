-- The tablet's one button: complete the current token (if any) and call the next, atomically.
-- KEYS: 1 ready, 2 staged, 3 tok, 4 queue (zset), 5 doctor (hash)
-- ARGV: 1 action id, 2 now (ms), 3 now (ISO), 4 doctor id,
--       5 expected current token id ('' = not given, '-' = nobody), 6 double-tap guard (ms)
-- Returns {'OK', completed id or '', called id or '', the queue after the press as _lib's
--           queue_view reads it (for its queue.updated; the doctor's hash in it holds the
--           consult statistics the completed consult is learned from: n, mean, m2 and
--           today's tn, tlog, tlast_ms, t0n, t0mean, t0m2, which the press does not change)}
--      or {'STALE', current} when the caller saw another current token,
--      or {'TOO_SOON', current} when a call without `expected` comes within the guard,
--      or {'PAUSED', current}, or {'PENDING', action}.
local err = check_ready(KEYS[1]); if err then return err end
local doc = KEYS[5]
local busy = check_pending(doc, ARGV[1]); if busy then return busy end
local now = tonumber(ARGV[2])
local cur = redis.call('HGET', doc, 'cur') or ''
if ARGV[5] ~= '' then
  local expected = ARGV[5]
  if expected == '-' then expected = '' end
  if expected ~= cur then return {'STALE', cur} end
elseif cur ~= '' then
  local last = tonumber(redis.call('HGET', doc, 'last_call_ms') or '0')
  if now - last < tonumber(ARGV[6]) then return {'TOO_SOON', cur} end
end
if redis.call('HGET', doc, 'status') == 'PAUSED' then return {'PAUSED', cur} end

if cur ~= '' then
  local t = load_token(KEYS[3], cur)
  redis.call('HDEL', KEYS[3], cur)
  redis.call('HDEL', doc, 'cur', 'cur_status', 'cur_since_ms', 'started_ms')
  if t then
    t.status = 'COMPLETED'
    stage(KEYS[2], {doc}, ARGV[1], ARGV[3], 'token.updated', {token = t, doctor_id = ARGV[4]})
  end
end

local popped = redis.call('ZPOPMIN', KEYS[4])
if #popped == 0 then
  if cur ~= '' then redis.call('HSET', doc, 'pending', ARGV[1]) end
  return {'OK', cur, '', queue_view(KEYS[3], KEYS[4], doc)}
end
local id = popped[1]
redis.call('HSET', doc, 'cur', id, 'cur_status', 'CALLED', 'cur_since_ms', now, 'last_call_ms', now)
local t = load_token(KEYS[3], id) or {id = id}
t.status = 'CALLED'
t.called_at = ARGV[3]
save_token(KEYS[3], t)
stage(KEYS[2], {doc}, ARGV[1], ARGV[3], 'token.called', {
  token = t, doctor_id = ARGV[4],
  cabin = redis.call('HGET', doc, 'cabin') or cjson.null,
  doctor = {id = ARGV[4], name = redis.call('HGET', doc, 'name') or cjson.null},
})
return {'OK', cur, id, queue_view(KEYS[3], KEYS[4], doc)}
