-- depends: 0013_abdm
-- 0014: "at most once per patient per pause" (issue 14): a message's once-key. The claim was
-- one row per (token, event, channel) ever, so a patient told of a morning pause could not be
-- told of an afternoon one. A pause's DELAY and RESUMED carry the pause's id as once_key; every
-- other message keeps '' and so stays once ever.

SET LOCAL lock_timeout = '5s';
ALTER TABLE notifications_log ADD COLUMN IF NOT EXISTS once_key text NOT NULL DEFAULT ''
    CHECK (length(once_key) <= 64);
DROP INDEX IF EXISTS notifications_once_idx;
CREATE UNIQUE INDEX IF NOT EXISTS notifications_once_idx
    ON notifications_log (token_id, event, channel, once_key) WHERE token_id IS NOT NULL;
