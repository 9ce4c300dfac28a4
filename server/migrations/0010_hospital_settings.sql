-- depends: 0009_risk_history
-- 0010: hospital settings (issue 18): the address's map point the geofence must contain, the
-- boards' default languages, message costs and a slot's value (ROI), the daily summary's hour;
-- and the stored daily summaries.

ALTER TABLE hospitals ADD COLUMN address_latitude double precision
    CHECK (address_latitude BETWEEN -90 AND 90);
ALTER TABLE hospitals ADD COLUMN address_longitude double precision
    CHECK (address_longitude BETWEEN -180 AND 180);
ALTER TABLE hospitals ADD COLUMN board_languages text[] NOT NULL DEFAULT '{}' CHECK (
    cardinality(board_languages) <= 3
    AND array_to_string(board_languages, ',') ~ '^([a-z]{2}(,[a-z]{2})*)?$');
ALTER TABLE hospitals ADD COLUMN currency text NOT NULL DEFAULT 'INR'
    CHECK (currency ~ '^[A-Z]{3}$');
ALTER TABLE hospitals ADD COLUMN sms_cost numeric(10, 4) NOT NULL DEFAULT 0
    CHECK (sms_cost >= 0);
ALTER TABLE hospitals ADD COLUMN whatsapp_cost numeric(10, 4) NOT NULL DEFAULT 0
    CHECK (whatsapp_cost >= 0);
ALTER TABLE hospitals ADD COLUMN slot_value numeric(12, 2) NOT NULL DEFAULT 0
    CHECK (slot_value >= 0);
ALTER TABLE hospitals ADD COLUMN summary_hour smallint NOT NULL DEFAULT 20
    CHECK (summary_hour BETWEEN 0 AND 23);
ALTER TABLE hospitals ADD CONSTRAINT hospitals_check1
    CHECK ((address_latitude IS NULL) = (address_longitude IS NULL));

CREATE TABLE daily_summaries (
    hospital_id   uuid NOT NULL REFERENCES hospitals (id) ON DELETE CASCADE,
    summary_date  date NOT NULL,
    text          text NOT NULL CHECK (length(text) <= 4000),
    template_text text NOT NULL CHECK (length(template_text) <= 4000),
    figures       jsonb NOT NULL DEFAULT '{}'::jsonb,
    written_by    text NOT NULL CHECK (written_by IN ('template', 'model')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (hospital_id, summary_date)
);
