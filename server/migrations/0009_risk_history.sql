-- depends: 0008_pause_messages
-- risk_history: past appointments imported from another system (`opdq history import`),
-- trained on beside the hospital's own tokens (issue 15)
CREATE TABLE IF NOT EXISTS risk_history (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    hospital_id    uuid NOT NULL REFERENCES hospitals (id) ON DELETE CASCADE,
    patient_ref    text NOT NULL CHECK (length(patient_ref) BETWEEN 1 AND 64),   -- opaque id
    department_id  uuid NOT NULL,
    booked_at      timestamptz NOT NULL,
    slot_at        timestamptz,                   -- null when the file gave the day only
    service_date   date NOT NULL,                 -- the hospital-local day of the slot
    outcome        text NOT NULL CHECK (outcome IN ('COMPLETED', 'NO_SHOW', 'CANCELLED')),
    age            smallint CHECK (age BETWEEN 0 AND 130),
    gender         text CHECK (gender IN ('F', 'M', 'O')),
    reminder_sent  boolean,
    imported_at    timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (hospital_id, department_id) REFERENCES departments (hospital_id, id)
        ON DELETE CASCADE,
    UNIQUE (hospital_id, patient_ref, department_id, booked_at, service_date)
);
CREATE INDEX IF NOT EXISTS risk_history_day_idx ON risk_history (hospital_id, service_date);
