-- The tablet's one button: complete the current token (if any) and call the next, atomically.
-- KEYS: 1 ready, 2 seq, 3 stream, 4 tok, 5 queue (zset), 6 doctor (hash)
-- ARGV: 1 channel, 2 stream maxlen, 3 now (ms), 4 now (ISO), 5 doctor id,
--       6 expected current token id ('' = not given, '-' = nobody), 7 double-tap guard (ms)
-- Returns {'OK', completed id or '', called id or '', called score or '', seq}
--      or {'STALE', current} when the caller saw another current token,
--      or {'TOO_SOON', current} when a call without `expected` comes within the guard,
--      or {'PAUSED', current}.
local err = check_ready(KEYS[1]); if err then return err end
local now = tonumber(ARGV[3])
local doc = KEYS[6]
local cur = redis.call('HGET', doc, 'cur') or ''
if ARGV[6] ~= '' then
  local expected = ARGV[6]
  if expected == '-' then expected = '' end
  if expected ~= cur then return {'STALE', cur} end
elseif cur ~= '' then
  local last = tonumber(redis.call('HGET', doc, 'last_call_ms') or '0')
  if now - last < tonumber(ARGV[7]) then return {'TOO_SOON', cur} end
end
if redis.call('HGET', doc, 'status') == 'PAUSED' then return {'PAUSED', cur} end

local s = 0
if cur ~= '' then
  local t = load_token(KEYS[4], cur)
  redis.call('HDEL', KEYS[4], cur)
  redis.call('HDEL', doc, 'cur', 'cur_status', 'cur_since_ms', 'started_ms')
  if t then
    t.status = 'COMPLETED'
    s = emit(KEYS[2], KEYS[3], ARGV[1], ARGV[2], now, ARGV[4], 'token.updated',
             {token = t, doctor_id = ARGV[5]})
  end
end

local popped = redis.call('ZPOPMIN', KEYS[5])
if #popped == 0 then return {'OK', cur, '', '', tostring(s)} end
local id = popped[1]
redis.call('HSET', doc, 'cur', id, 'cur_status', 'CALLED', 'cur_since_ms', now, 'last_call_ms', now)
local t = load_token(KEYS[4], id) or {id = id}
t.status = 'CALLED'
t.called_at = ARGV[4]
save_token(KEYS[4], t)
s = emit(KEYS[2], KEYS[3], ARGV[1], ARGV[2], now, ARGV[4], 'token.called', {
  token = t, doctor_id = ARGV[5],
  cabin = redis.call('HGET', doc, 'cabin') or cjson.null,
  doctor = {id = ARGV[5], name = redis.call('HGET', doc, 'name') or cjson.null},
})
return {'OK', cur, id, popped[2], tostring(s)}
