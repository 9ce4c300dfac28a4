-- depends: 0007_daily_metrics
-- 0008: a doctor's pause and its messages (issue 14): the hospital's threshold for the delay
-- message (minutes an ETA must move), and RESUMED, the new ETA sent on resume to those told.

SET LOCAL lock_timeout = '5s';
ALTER TABLE hospitals ADD COLUMN IF NOT EXISTS delay_notify_min integer NOT NULL DEFAULT 15
    CHECK (delay_notify_min BETWEEN 1 AND 240);
ALTER TABLE notifications_log DROP CONSTRAINT notifications_log_event_check;
ALTER TABLE notifications_log ADD CONSTRAINT notifications_log_event_check CHECK (event IN (
    'TOKEN_CREATED', 'AHEAD', 'CALL_NOW', 'DELAY', 'CANCELLED', 'RESCHEDULED',
    'REMINDER_DAY_BEFORE', 'REMINDER_2H', 'REMINDER_EXTRA', 'WAITLIST_OFFER', 'RESUMED'));
