-- depends: 0001_baseline
-- 0002: announce only what is committed (commit 59f5d4e): one current token per doctor,
-- the action a history row belongs to, the committed-actions table, and the idempotency
-- record's effect. Written with IF NOT EXISTS because databases adopted from schema.sql
-- (releases 59f5d4e and later applied it at every start) already have all of it.
SET LOCAL client_min_messages = warning;

-- a doctor sees one patient at a time: the record itself refuses a second current token
CREATE UNIQUE INDEX IF NOT EXISTS tokens_one_current_per_doctor ON tokens (doctor_id, service_date)
    WHERE status IN ('CALLED', 'IN_CONSULTATION');

-- the action (server/queue/) a row belongs to: one press of Next writes two rows
ALTER TABLE token_history ADD COLUMN IF NOT EXISTS action_id uuid;
CREATE INDEX IF NOT EXISTS token_history_action_idx ON token_history (action_id)
    WHERE action_id IS NOT NULL;

-- actions whose record committed; rows older than two days go
CREATE TABLE IF NOT EXISTS live_actions (
    id           uuid PRIMARY KEY,
    hospital_id  uuid NOT NULL REFERENCES hospitals (id) ON DELETE CASCADE,
    at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS live_actions_at_idx ON live_actions (at);

-- the action the first request committed; whether it ended unanswered (a 5xx); who holds
-- the claim. The NOT NULL column has a constant default: existing rows get it without a
-- table rewrite (PostgreSQL 11+).
ALTER TABLE idempotency_records ADD COLUMN IF NOT EXISTS effect uuid;
ALTER TABLE idempotency_records ADD COLUMN IF NOT EXISTS unanswered boolean NOT NULL DEFAULT false;
ALTER TABLE idempotency_records ADD COLUMN IF NOT EXISTS claimed_by uuid;
