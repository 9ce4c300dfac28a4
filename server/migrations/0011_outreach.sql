-- depends: 0010_hospital_settings
-- 0011: no-show outreach (issue 15): a hospital's outreach policy, the tier and model version
-- of each outreach touch, CONFIRM_REQUEST messages and the patient's YES/NO replies, waitlist
-- offer messages (to the waitlisted patient) and the history of every offer of a freed slot.

ALTER TABLE hospitals ADD COLUMN outreach_policy jsonb NOT NULL DEFAULT '{}'::jsonb;

ALTER TABLE notifications_log DROP CONSTRAINT notifications_log_event_check;
ALTER TABLE notifications_log ADD CONSTRAINT notifications_log_event_check
    CHECK (event IN ('TOKEN_CREATED', 'AHEAD', 'CALL_NOW', 'DELAY',
                     'CANCELLED', 'RESCHEDULED', 'REMINDER_DAY_BEFORE', 'REMINDER_2H',
                     'REMINDER_EXTRA', 'WAITLIST_OFFER', 'RESUMED', 'CONFIRM_REQUEST'));
ALTER TABLE notifications_log ADD COLUMN risk_tier smallint CHECK (risk_tier BETWEEN 1 AND 5);
ALTER TABLE notifications_log ADD COLUMN model_version text CHECK (length(model_version) <= 64);
ALTER TABLE notifications_log ADD COLUMN waitlist_entry_id uuid;
ALTER TABLE notifications_log ADD COLUMN offer_token_id uuid REFERENCES tokens (id) ON DELETE CASCADE;
CREATE UNIQUE INDEX notifications_offer_once_idx
    ON notifications_log (waitlist_entry_id, offer_token_id, channel)
    WHERE waitlist_entry_id IS NOT NULL;

ALTER TABLE waitlist_entries ADD COLUMN urgency smallint NOT NULL DEFAULT 0
    CHECK (urgency BETWEEN 0 AND 2);

CREATE TABLE waitlist_offers (
    entry_id     uuid NOT NULL REFERENCES waitlist_entries (id) ON DELETE CASCADE,
    token_id     uuid NOT NULL REFERENCES tokens (id) ON DELETE CASCADE,
    hospital_id  uuid NOT NULL REFERENCES hospitals (id) ON DELETE CASCADE,
    status       text NOT NULL DEFAULT 'OFFERED'
                     CHECK (status IN ('OFFERED', 'ACCEPTED', 'DECLINED', 'EXPIRED', 'WITHDRAWN')),
    offered_at   timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    answered_at  timestamptz,
    PRIMARY KEY (entry_id, token_id)
);
CREATE INDEX waitlist_offers_open_idx ON waitlist_offers (expires_at) WHERE status = 'OFFERED';
CREATE INDEX waitlist_offers_token_idx ON waitlist_offers (token_id);

CREATE TABLE booking_replies (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    hospital_id  uuid NOT NULL,
    token_id     uuid NOT NULL,
    reply        text NOT NULL CHECK (reply IN ('YES', 'NO')),
    channel      text NOT NULL CHECK (channel IN ('SMS', 'WHATSAPP')),
    provider_id  text NOT NULL UNIQUE,
    outcome      text NOT NULL CHECK (outcome IN ('CONFIRMED', 'CANCELLED', 'IGNORED')),
    received_at  timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (hospital_id, token_id) REFERENCES tokens (hospital_id, id) ON DELETE CASCADE
);
CREATE INDEX booking_replies_token_idx ON booking_replies (token_id, received_at);
