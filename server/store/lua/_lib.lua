-- Shared by every script (prepended at load time by scripts.py).
--
-- emit(seq_key, stream_key, channel, maxlen, now_ms, ts, type, data) -> seq
--   Advances the hospital's sequence by one, appends the event to the bounded stream with
--   entry id "<seq>-0" (so XRANGE resumes exactly) and publishes it. A missing sequence
--   (first use, or Redis lost its data) starts at the current time in ms: after a flush the
--   new numbers are still above every number a client has seen, so none is reused.
local function emit(seq_key, stream_key, channel, maxlen, now_ms, ts, etype, data)
  local current = tonumber(redis.call('GET', seq_key) or '0')
  local s = current + 1
  if current == 0 then s = now_ms end
  redis.call('SET', seq_key, s)
  local event = cjson.encode({type = etype, seq = s, ts = ts, data = data})
  redis.call('XADD', stream_key, 'MAXLEN', '~', maxlen, tostring(s) .. '-0', 'e', event)
  redis.call('PUBLISH', channel, event)
  return s
end

local function check_ready(ready_key)
  if redis.call('EXISTS', ready_key) == 0 then
    return redis.error_reply('NOTREADY live view not loaded')
  end
  return nil
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
