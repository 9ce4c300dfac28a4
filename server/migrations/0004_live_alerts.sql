-- depends: 0003_desk_day
-- 0004: live alerts and the messages view (issue 18): alert thresholds per hospital, a key
-- per live alert (raised once while its condition holds), who resolved it and when the
-- condition ended; a failed message resent by staff (once).

ALTER TABLE hospitals ADD COLUMN IF NOT EXISTS alert_thresholds jsonb NOT NULL DEFAULT '{}'::jsonb;
ALTER TABLE system_alerts ADD COLUMN IF NOT EXISTS alert_key text
    CHECK (length(alert_key) <= 200);
ALTER TABLE system_alerts ADD COLUMN IF NOT EXISTS department_id uuid;
ALTER TABLE system_alerts ADD COLUMN IF NOT EXISTS resolved_by uuid
    REFERENCES users (id) ON DELETE SET NULL;
ALTER TABLE system_alerts ADD COLUMN IF NOT EXISTS cleared_at timestamptz;
CREATE UNIQUE INDEX IF NOT EXISTS system_alerts_key_idx ON system_alerts (hospital_id, alert_key)
    WHERE alert_key IS NOT NULL AND cleared_at IS NULL;
ALTER TABLE notifications_log ADD COLUMN IF NOT EXISTS resent_at timestamptz;
ALTER TABLE notifications_log ADD COLUMN IF NOT EXISTS resent_by uuid
    REFERENCES users (id) ON DELETE SET NULL;
