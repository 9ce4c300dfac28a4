-- OPD live queue: the system of record.
--
-- The readable whole schema. Databases reach it through server/migrations/, applied by
-- `opdq db migrate` and at every start; tests/db/test_migrations.py checks that both give
-- the same schema, so a change here needs its migration in the same commit
-- (docs/migrations.md). A new column goes last in its table, where ALTER TABLE puts it.
-- Every statement is idempotent, so applying it twice changes nothing.
--
-- Conventions: ids are UUIDs; every tenant-owned row carries hospital_id, and child rows
-- reference their parent by (hospital_id, id) so a row can never point into another hospital;
-- times are timestamptz; a CHECK guards every enumerated column.

-- ---------------------------------------------------------------------------------------
-- Shared helpers
-- ---------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION opdq_set_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END $$;

-- ---------------------------------------------------------------------------------------
-- Setup: hospitals, departments, cabins, doctors, shifts
-- ---------------------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS hospitals (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name               text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    code               text NOT NULL UNIQUE CHECK (code ~ '^[A-Z0-9][A-Z0-9-]{1,19}$'),
    timezone           text NOT NULL DEFAULT 'Asia/Kolkata' CHECK (length(timezone) <= 64),
    latitude           double precision CHECK (latitude BETWEEN -90 AND 90),
    longitude          double precision CHECK (longitude BETWEEN -180 AND 180),
    geofence_radius_m  integer NOT NULL DEFAULT 300 CHECK (geofence_radius_m BETWEEN 10 AND 50000),
    default_language   text NOT NULL DEFAULT 'en' CHECK (default_language ~ '^[a-z]{2}$'),
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    -- live alert thresholds (domain.alerts.Thresholds): a key left out takes its default
    alert_thresholds   jsonb NOT NULL DEFAULT '{}'::jsonb,
    -- a doctor's pause texts waiting patients only when it moves their ETA this much
    delay_notify_min   integer NOT NULL DEFAULT 15 CHECK (delay_notify_min BETWEEN 1 AND 240),
    CHECK ((latitude IS NULL) = (longitude IS NULL)),
    -- hospital settings (docs/settings.md): the address's map point, which the geofence
    -- (latitude, longitude, geofence_radius_m) must contain; the boards' default languages
    -- (a department's own setting wins); message costs and a slot's value (ROI, in
    -- `currency`); the local hour at which the admins' daily summary is written
    address_latitude   double precision CHECK (address_latitude BETWEEN -90 AND 90),
    address_longitude  double precision CHECK (address_longitude BETWEEN -180 AND 180),
    board_languages    text[] NOT NULL DEFAULT '{}' CHECK (
        cardinality(board_languages) <= 3
        AND array_to_string(board_languages, ',') ~ '^([a-z]{2}(,[a-z]{2})*)?$'),
    currency           text NOT NULL DEFAULT 'INR' CHECK (currency ~ '^[A-Z]{3}$'),
    sms_cost           numeric(10, 4) NOT NULL DEFAULT 0 CHECK (sms_cost >= 0),
    whatsapp_cost      numeric(10, 4) NOT NULL DEFAULT 0 CHECK (whatsapp_cost >= 0),
    slot_value         numeric(12, 2) NOT NULL DEFAULT 0 CHECK (slot_value >= 0),
    summary_hour       smallint NOT NULL DEFAULT 20 CHECK (summary_hour BETWEEN 0 AND 23),
    CHECK ((address_latitude IS NULL) = (address_longitude IS NULL)),
    -- no-show outreach plan per risk tier and waitlist offer window (risk/outreach.Policy);
    -- a key left out takes its default
    outreach_policy    jsonb NOT NULL DEFAULT '{}'::jsonb
);

CREATE TABLE IF NOT EXISTS departments (
    id                    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    hospital_id           uuid NOT NULL REFERENCES hospitals (id) ON DELETE CASCADE,
    name                  text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    code                  text NOT NULL CHECK (code ~ '^[A-Z][A-Z0-9]{1,9}$'),
    avg_consultation_min  numeric(6, 2) NOT NULL DEFAULT 10 CHECK (avg_consultation_min > 0),
    buffer_min            numeric(6, 2) NOT NULL DEFAULT 5 CHECK (buffer_min >= 0),
    daily_cap             integer CHECK (daily_cap > 0),
    -- queue policy (DESIGN.md "Queue order")
    booked_grace_min      integer NOT NULL DEFAULT 15 CHECK (booked_grace_min BETWEEN 0 AND 240),
    senior_credit_min     integer NOT NULL DEFAULT 20 CHECK (senior_credit_min BETWEEN 0 AND 240),
    skip_places           integer NOT NULL DEFAULT 3 CHECK (skip_places BETWEEN 1 AND 50),
    notify_ahead          integer NOT NULL DEFAULT 3 CHECK (notify_ahead BETWEEN 1 AND 50),
    late_start_alert_min  integer NOT NULL DEFAULT 15 CHECK (late_start_alert_min BETWEEN 1 AND 240),
    language              text NOT NULL DEFAULT 'en' CHECK (language ~ '^[a-z]{2}$'),
    active                boolean NOT NULL DEFAULT true,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    -- a reinstated token goes back behind this many waiting (never ahead of an emergency)
    reinstate_places      integer NOT NULL DEFAULT 3 CHECK (reinstate_places BETWEEN 1 AND 50),
    -- the waiting-room board: its languages in order ('{}': the department's language, then
    -- English), and whether it shows masked names or none
    board_languages       text[] NOT NULL DEFAULT '{}' CHECK (
        cardinality(board_languages) <= 3
        AND array_to_string(board_languages, ',') ~ '^([a-z]{2}(,[a-z]{2})*)?$'),
    board_names           text NOT NULL DEFAULT 'masked' CHECK (board_names IN ('masked', 'hidden')),
    UNIQUE (hospital_id, code),
    UNIQUE (hospital_id, id)
);

CREATE TABLE IF NOT EXISTS cabins (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    hospital_id    uuid NOT NULL,
    department_id  uuid NOT NULL,
    number         text NOT NULL CHECK (length(number) BETWEEN 1 AND 20),
    floor          text CHECK (length(floor) <= 20),
    active         boolean NOT NULL DEFAULT true,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (hospital_id, department_id) REFERENCES departments (hospital_id, id) ON DELETE CASCADE,
    UNIQUE (department_id, number),
    UNIQUE (hospital_id, id)
);

CREATE TABLE IF NOT EXISTS doctors (
    id                    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    hospital_id           uuid NOT NULL,
    department_id         uuid NOT NULL,
    name                  text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    phone                 text CHECK (phone ~ '^\+[1-9][0-9]{6,14}$'),
    avg_consultation_min  numeric(6, 2) CHECK (avg_consultation_min > 0),
    active                boolean NOT NULL DEFAULT true,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (hospital_id, department_id) REFERENCES departments (hospital_id, id),
    UNIQUE (hospital_id, id)
);
CREATE INDEX IF NOT EXISTS doctors_department_idx ON doctors (department_id);

CREATE TABLE IF NOT EXISTS shifts (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    hospital_id  uuid NOT NULL,
    doctor_id    uuid NOT NULL,
    cabin_id     uuid NOT NULL,
    date         date NOT NULL,
    start_time   time NOT NULL,
    end_time     time NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (hospital_id, doctor_id) REFERENCES doctors (hospital_id, id) ON DELETE CASCADE,
    FOREIGN KEY (hospital_id, cabin_id) REFERENCES cabins (hospital_id, id) ON DELETE CASCADE,
    CHECK (end_time > start_time),
    UNIQUE (doctor_id, date, start_time)
);
CREATE INDEX IF NOT EXISTS shifts_date_idx ON shifts (hospital_id, date);

-- ---------------------------------------------------------------------------------------
-- People: staff users, sessions, display keys, patients
-- ---------------------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS users (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    hospital_id    uuid NOT NULL REFERENCES hospitals (id) ON DELETE CASCADE,
    username       text NOT NULL CHECK (username ~ '^[a-z0-9][a-z0-9._-]{2,63}$'),
    password_hash  text NOT NULL CHECK (password_hash LIKE '$argon2%'),
    role           text NOT NULL CHECK (role IN ('admin', 'receptionist', 'doctor', 'nurse')),
    doctor_id      uuid,
    department_id  uuid,
    full_name      text CHECK (length(full_name) <= 200),
    active         boolean NOT NULL DEFAULT true,
    last_login_at  timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (hospital_id, doctor_id) REFERENCES doctors (hospital_id, id),
    FOREIGN KEY (hospital_id, department_id) REFERENCES departments (hospital_id, id),
    -- a doctor account is tied to its doctor; a nurse to a department
    CHECK ((role = 'doctor') = (doctor_id IS NOT NULL)),
    CHECK (role <> 'nurse' OR department_id IS NOT NULL),
    UNIQUE (username)
);

CREATE TABLE IF NOT EXISTS sessions (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash  bytea NOT NULL UNIQUE,           -- sha256 of the bearer token; the token is never stored
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    revoked_at  timestamptz,
    user_agent  text CHECK (length(user_agent) <= 300),
    CHECK (expires_at > created_at)
);
CREATE INDEX IF NOT EXISTS sessions_user_idx ON sessions (user_id);

CREATE TABLE IF NOT EXISTS display_keys (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    hospital_id    uuid NOT NULL,
    department_id  uuid NOT NULL,
    name           text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    key_hash       bytea NOT NULL UNIQUE,        -- sha256 of the key; shown once at creation
    key_prefix     text NOT NULL,                -- first characters, to tell keys apart in lists
    created_by     uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    revoked_at     timestamptz,
    last_seen_at   timestamptz,
    FOREIGN KEY (hospital_id, department_id) REFERENCES departments (hospital_id, id) ON DELETE CASCADE
);

-- API keys for a hospital's other systems (HIS, EMR, portals): a bearer credential with one
-- staff role's rights in the hospital; shown once, stored hashed, revocable, rate-limited
CREATE TABLE IF NOT EXISTS api_keys (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    hospital_id    uuid NOT NULL REFERENCES hospitals (id) ON DELETE CASCADE,
    name           text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    role           text NOT NULL CHECK (role IN ('admin', 'receptionist', 'doctor', 'nurse')),
    doctor_id      uuid,
    department_id  uuid,
    key_hash       bytea NOT NULL UNIQUE,        -- sha256 of the key; shown once at creation
    key_prefix     text NOT NULL,                -- first characters, to tell keys apart in lists
    created_by     uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    revoked_at     timestamptz,
    last_used_at   timestamptz,
    FOREIGN KEY (hospital_id, doctor_id) REFERENCES doctors (hospital_id, id),
    FOREIGN KEY (hospital_id, department_id) REFERENCES departments (hospital_id, id),
    -- the ties of a staff account of that role (users)
    CHECK ((role = 'doctor') = (doctor_id IS NOT NULL)),
    CHECK (role <> 'nurse' OR department_id IS NOT NULL)
);
CREATE INDEX IF NOT EXISTS api_keys_hospital_idx ON api_keys (hospital_id, created_at);

CREATE TABLE IF NOT EXISTS patients (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    hospital_id       uuid NOT NULL REFERENCES hospitals (id) ON DELETE CASCADE,
    uhid              text NOT NULL CHECK (uhid ~ '^[A-Za-z0-9-]{3,32}$'),
    name              text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    phone             text NOT NULL CHECK (phone ~ '^\+[1-9][0-9]{6,14}$'),   -- E.164
    date_of_birth     date CHECK (date_of_birth > '1880-01-01'),
    gender            text CHECK (gender IN ('F', 'M', 'O', 'U')),
    language          text NOT NULL DEFAULT 'en' CHECK (language ~ '^[a-z]{2}$'),
    sms_opt_in        boolean NOT NULL DEFAULT true,
    whatsapp_opt_in   boolean NOT NULL DEFAULT false,
    distance_km       numeric(7, 2) CHECK (distance_km >= 0),
    commute_min       integer CHECK (commute_min >= 0),
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    -- the name's folded words, each after a space (domain.names.search_key): desk search
    name_key          text NOT NULL DEFAULT '',
    -- ABDM Scan & Share (server/integrations/abdm.py): found again at the next scan
    abha_number       text CHECK (abha_number ~ '^[0-9]{14}$'),
    abha_address      text CHECK (length(abha_address) BETWEEN 3 AND 100),
    UNIQUE (hospital_id, uhid),
    UNIQUE (hospital_id, id)
);
CREATE INDEX IF NOT EXISTS patients_phone_idx ON patients (hospital_id, phone);
CREATE UNIQUE INDEX IF NOT EXISTS patients_abha_number_idx ON patients (hospital_id, abha_number)
    WHERE abha_number IS NOT NULL;
CREATE UNIQUE INDEX IF NOT EXISTS patients_abha_address_idx ON patients (hospital_id, abha_address)
    WHERE abha_address IS NOT NULL;

-- ---------------------------------------------------------------------------------------
-- Tokens and their history
-- ---------------------------------------------------------------------------------------
-- Partitioning: at scale tokens becomes `PARTITION BY RANGE (service_date)` with one partition
-- a month (tokens_2026_11 FOR VALUES FROM ('2026-11-01') TO ('2026-12-01')), created ahead by a
-- cron job; the primary key then becomes (id, service_date) and token_history references
-- (token_id, service_date). Live queries always name service_date, so they touch one partition.
CREATE TABLE IF NOT EXISTS tokens (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    hospital_id      uuid NOT NULL,
    department_id    uuid NOT NULL,
    doctor_id        uuid,                                  -- null only while unassigned
    cabin_id         uuid,
    patient_id       uuid NOT NULL,
    service_date     date NOT NULL,                         -- the hospital-local day of the visit
    seq              integer NOT NULL CHECK (seq > 0),      -- gap-free per department per day
    number           text NOT NULL CHECK (length(number) BETWEEN 3 AND 20),   -- "CARD-045"
    booking_type     text NOT NULL CHECK (booking_type IN ('WALK_IN', 'ONLINE', 'EMERGENCY')),
    priority         smallint NOT NULL DEFAULT 1 CHECK (priority BETWEEN 1 AND 3),
    status           text NOT NULL CHECK (status IN ('BOOKED', 'WAITING', 'CALLED',
                         'IN_CONSULTATION', 'COMPLETED', 'NO_SHOW', 'CANCELLED', 'RESCHEDULED')),
    queue_score      double precision,                      -- sort key in the live queue
    public_code      text NOT NULL UNIQUE,                  -- random part of the patient link
    scheduled_time   timestamptz,
    visit_reason     text CHECK (length(visit_reason) <= 500),
    created_at       timestamptz NOT NULL DEFAULT now(),
    checked_in_at    timestamptz,
    called_at        timestamptz,
    started_at       timestamptz,
    completed_at     timestamptz,
    no_show_at       timestamptz,
    cancelled_at     timestamptz,
    rescheduled_at   timestamptz,
    cancel_reason    text CHECK (length(cancel_reason) <= 500),
    check_in_lat     double precision CHECK (check_in_lat BETWEEN -90 AND 90),
    check_in_lon     double precision CHECK (check_in_lon BETWEEN -180 AND 180),
    recall_count     integer NOT NULL DEFAULT 0 CHECK (recall_count >= 0),
    skip_count       integer NOT NULL DEFAULT 0 CHECK (skip_count >= 0),
    -- superseded by token_eta_shown (0015) and no longer written; dropped by a later
    -- release once no process of the release before 0015 runs (expand, then contract)
    position         integer CHECK (position > 0),
    eta_p50_min      integer CHECK (eta_p50_min >= 0),
    eta_p90_min      integer CHECK (eta_p90_min >= 0),
    eta_updated_at   timestamptz,
    updated_at       timestamptz NOT NULL DEFAULT now(),
    late_count       integer NOT NULL DEFAULT 0 CHECK (late_count >= 0),   -- "running late"
    reinstate_count  integer NOT NULL DEFAULT 0 CHECK (reinstate_count >= 0),
    FOREIGN KEY (hospital_id, department_id) REFERENCES departments (hospital_id, id),
    FOREIGN KEY (hospital_id, doctor_id) REFERENCES doctors (hospital_id, id),
    FOREIGN KEY (hospital_id, cabin_id) REFERENCES cabins (hospital_id, id),
    FOREIGN KEY (hospital_id, patient_id) REFERENCES patients (hospital_id, id),
    UNIQUE (department_id, service_date, seq),
    UNIQUE (department_id, service_date, number),
    UNIQUE (hospital_id, id),
    CHECK (booking_type <> 'ONLINE' OR scheduled_time IS NOT NULL),
    CHECK (eta_p90_min IS NULL OR eta_p50_min IS NULL OR eta_p90_min >= eta_p50_min)
);
-- live queues: rebuilt from these rows when Redis loses its data
CREATE INDEX IF NOT EXISTS tokens_live_idx ON tokens (hospital_id, service_date, doctor_id)
    WHERE status IN ('BOOKED', 'WAITING', 'CALLED', 'IN_CONSULTATION');
CREATE INDEX IF NOT EXISTS tokens_doctor_day_idx ON tokens (doctor_id, service_date);
-- the desk's list of a day, newest first
CREATE INDEX IF NOT EXISTS tokens_day_idx ON tokens (hospital_id, service_date, created_at DESC);
CREATE INDEX IF NOT EXISTS tokens_patient_idx ON tokens (patient_id, service_date);
CREATE INDEX IF NOT EXISTS tokens_scheduled_idx ON tokens (hospital_id, scheduled_time)
    WHERE status = 'BOOKED';

-- the gap-free number: taken in the same transaction as the token row, so a failed issue
-- gives its number back
CREATE TABLE IF NOT EXISTS token_counters (
    department_id  uuid NOT NULL REFERENCES departments (id) ON DELETE CASCADE,
    service_date   date NOT NULL,
    last_seq       integer NOT NULL CHECK (last_seq >= 0),
    PRIMARY KEY (department_id, service_date)
);

CREATE TABLE IF NOT EXISTS token_history (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    hospital_id  uuid NOT NULL,
    token_id     uuid NOT NULL,
    action       text NOT NULL CHECK (length(action) <= 32),
    from_status  text CHECK (from_status IN ('BOOKED', 'WAITING', 'CALLED',
                     'IN_CONSULTATION', 'COMPLETED', 'NO_SHOW', 'CANCELLED', 'RESCHEDULED')),
    to_status    text NOT NULL CHECK (to_status IN ('BOOKED', 'WAITING', 'CALLED',
                     'IN_CONSULTATION', 'COMPLETED', 'NO_SHOW', 'CANCELLED', 'RESCHEDULED')),
    actor_kind   text NOT NULL CHECK (actor_kind IN ('user', 'patient', 'system')),
    actor_id     uuid,                                  -- users.id when actor_kind = 'user'
    reason       text CHECK (length(reason) <= 500),
    doctor_id    uuid,
    details      jsonb NOT NULL DEFAULT '{}'::jsonb,
    at           timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (hospital_id, token_id) REFERENCES tokens (hospital_id, id) ON DELETE CASCADE
);
-- a doctor sees one patient at a time: the record itself refuses a second current token
CREATE UNIQUE INDEX IF NOT EXISTS tokens_one_current_per_doctor ON tokens (doctor_id, service_date)
    WHERE status IN ('CALLED', 'IN_CONSULTATION');
CREATE INDEX IF NOT EXISTS token_history_token_idx ON token_history (token_id, at);
-- the action (server/queue/) a row belongs to: one press of Next writes two rows
ALTER TABLE token_history ADD COLUMN IF NOT EXISTS action_id uuid;
CREATE INDEX IF NOT EXISTS token_history_action_idx ON token_history (action_id)
    WHERE action_id IS NOT NULL;
-- the API key a change was made with (the actor is then no user)
ALTER TABLE token_history ADD COLUMN IF NOT EXISTS api_key_id uuid
    REFERENCES api_keys (id) ON DELETE SET NULL;

-- What each waiting patient was last shown: position and ETA range, as of shown_at. Every
-- action that moves a doctor's queue rewrites the rows of all its waiting tokens, so they live
-- in a narrow table of their own, not in the wide tokens row: an update here changes no
-- indexed column and runs no trigger, so it stays a HOT update on a half-empty page, where
-- on tokens each one wrote a new version into every index (issue 16's profile).
CREATE TABLE IF NOT EXISTS token_eta_shown (
    token_id     uuid PRIMARY KEY REFERENCES tokens (id) ON DELETE CASCADE,
    position     integer NOT NULL CHECK (position > 0),
    eta_p50_min  integer NOT NULL CHECK (eta_p50_min >= 0),
    eta_p90_min  integer NOT NULL CHECK (eta_p90_min >= eta_p50_min),
    shown_at     timestamptz NOT NULL
) WITH (fillfactor = 50);

-- Actions whose record committed. An action's events are announced only after its COMMIT;
-- when its process died (or its COMMIT failed) before announcing them, whoever settles the
-- action asks here whether to announce them or drop them. Rows older than two days go.
CREATE TABLE IF NOT EXISTS live_actions (
    id           uuid PRIMARY KEY,
    hospital_id  uuid NOT NULL REFERENCES hospitals (id) ON DELETE CASCADE,
    at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS live_actions_at_idx ON live_actions (at);

CREATE TABLE IF NOT EXISTS doctor_pauses (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    hospital_id   uuid NOT NULL,
    doctor_id     uuid NOT NULL,
    started_at    timestamptz NOT NULL DEFAULT now(),
    expected_min  integer CHECK (expected_min BETWEEN 1 AND 600),
    ended_at      timestamptz,
    reason        text CHECK (length(reason) <= 500),
    actor_id      uuid,
    FOREIGN KEY (hospital_id, doctor_id) REFERENCES doctors (hospital_id, id) ON DELETE CASCADE,
    CHECK (ended_at IS NULL OR ended_at >= started_at)
);
-- at most one open pause per doctor
CREATE UNIQUE INDEX IF NOT EXISTS doctor_pauses_open_idx ON doctor_pauses (doctor_id)
    WHERE ended_at IS NULL;

CREATE TABLE IF NOT EXISTS schedule_exceptions (
    id                     uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    hospital_id            uuid NOT NULL,
    doctor_id              uuid NOT NULL,
    kind                   text NOT NULL DEFAULT 'LEAVE'
                               CHECK (kind IN ('LEAVE', 'UNPLANNED_LEAVE', 'TRAINING', 'SURGERY')),
    start_at               timestamptz NOT NULL,
    end_at                 timestamptz NOT NULL,
    reason                 text CHECK (length(reason) <= 500),
    affected_tokens        integer NOT NULL DEFAULT 0 CHECK (affected_tokens >= 0),
    redistribution_status  text NOT NULL DEFAULT 'PENDING'
                               CHECK (redistribution_status IN
                                      ('PENDING', 'REDISTRIBUTED', 'RESCHEDULED', 'PARTIAL', 'NONE')),
    created_by             uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at             timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (hospital_id, doctor_id) REFERENCES doctors (hospital_id, id) ON DELETE CASCADE,
    CHECK (end_at > start_at)
);
CREATE INDEX IF NOT EXISTS schedule_exceptions_doctor_idx ON schedule_exceptions (doctor_id, start_at);

-- ---------------------------------------------------------------------------------------
-- Operations: idempotency, audit, alerts, metrics
-- ---------------------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS idempotency_records (
    scope          text NOT NULL,                -- who asked: "u:<user id>", "p:<code>"
    key            text NOT NULL CHECK (length(key) BETWEEN 1 AND 200),
    request_hash   bytea NOT NULL,               -- method, path and body: a reused key with another request is refused
    status_code    integer CHECK (status_code BETWEEN 100 AND 599),   -- null while in flight
    content_type   text,
    response_body  bytea,
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, key)
);
CREATE INDEX IF NOT EXISTS idempotency_records_created_idx ON idempotency_records (created_at);
-- the action the first request committed, written in that action's own transaction: a retry
-- after a 5xx or a lost answer returns that effect instead of doing it again
ALTER TABLE idempotency_records ADD COLUMN IF NOT EXISTS effect uuid;
-- the first request ended without an answer to keep (a 5xx): a retry replays the effect at once
ALTER TABLE idempotency_records ADD COLUMN IF NOT EXISTS unanswered boolean NOT NULL DEFAULT false;
-- which request holds the claim: one whose claim's outcome was lost can take it back
ALTER TABLE idempotency_records ADD COLUMN IF NOT EXISTS claimed_by uuid;

CREATE TABLE IF NOT EXISTS admin_audit (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    hospital_id  uuid NOT NULL REFERENCES hospitals (id) ON DELETE CASCADE,
    actor_id     uuid REFERENCES users (id) ON DELETE SET NULL,
    entity       text NOT NULL,
    entity_id    uuid,
    action       text NOT NULL CHECK (action IN ('create', 'update', 'delete', 'revoke')),
    changes      jsonb NOT NULL DEFAULT '{}'::jsonb,
    at           timestamptz NOT NULL DEFAULT now(),
    -- the API key the change was made with (actor_id is then null)
    api_key_id   uuid REFERENCES api_keys (id) ON DELETE SET NULL
);
CREATE INDEX IF NOT EXISTS admin_audit_hospital_idx ON admin_audit (hospital_id, at);

CREATE TABLE IF NOT EXISTS system_alerts (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    hospital_id  uuid REFERENCES hospitals (id) ON DELETE CASCADE,
    kind         text NOT NULL CHECK (length(kind) <= 64),
    severity     text NOT NULL DEFAULT 'WARNING' CHECK (severity IN ('INFO', 'WARNING', 'CRITICAL')),
    entity_type  text CHECK (entity_type IN ('HOSPITAL', 'DEPARTMENT', 'DOCTOR', 'TOKEN', 'NOTIFICATION', 'SYSTEM')),
    entity_id    uuid,
    message      text NOT NULL CHECK (length(message) <= 2000),
    details      jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at   timestamptz NOT NULL DEFAULT now(),
    resolved_at  timestamptz,
    -- live alerts (workers/alerts.py): the condition's key (one row per key while the
    -- condition holds), the department it concerns, who resolved it by hand (null: the
    -- worker, when the condition ended), and when the condition itself ended
    alert_key      text CHECK (length(alert_key) <= 200),
    department_id  uuid,
    resolved_by    uuid REFERENCES users (id) ON DELETE SET NULL,
    cleared_at     timestamptz
);
CREATE INDEX IF NOT EXISTS system_alerts_open_idx ON system_alerts (hospital_id, created_at)
    WHERE resolved_at IS NULL;
-- raised once while its condition holds: a person's resolve keeps the row until it ends
CREATE UNIQUE INDEX IF NOT EXISTS system_alerts_key_idx ON system_alerts (hospital_id, alert_key)
    WHERE alert_key IS NOT NULL AND cleared_at IS NULL;

CREATE TABLE IF NOT EXISTS doctor_performance_metrics (
    doctor_id             uuid NOT NULL,
    metric_date           date NOT NULL,
    hospital_id           uuid NOT NULL,
    tokens_total          integer NOT NULL DEFAULT 0 CHECK (tokens_total >= 0),
    tokens_completed      integer NOT NULL DEFAULT 0 CHECK (tokens_completed >= 0),
    tokens_no_show        integer NOT NULL DEFAULT 0 CHECK (tokens_no_show >= 0),
    avg_consultation_min  numeric(6, 2) CHECK (avg_consultation_min >= 0),
    avg_wait_min          numeric(7, 2) CHECK (avg_wait_min >= 0),
    first_call_delay_min  integer,
    pause_min             integer NOT NULL DEFAULT 0 CHECK (pause_min >= 0),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    -- the daily metrics job (server/reports.py, docs/reports.md) fills what follows
    tokens_cancelled      integer NOT NULL DEFAULT 0 CHECK (tokens_cancelled >= 0),
    wait_p50_min          numeric(7, 2) CHECK (wait_p50_min >= 0),
    wait_p90_min          numeric(7, 2) CHECK (wait_p90_min >= 0),
    -- every wait of the day, so a department's or a day's percentiles are exact
    wait_samples_min      real[] NOT NULL DEFAULT '{}',
    shift_min             integer NOT NULL DEFAULT 0 CHECK (shift_min >= 0),
    busy_min              integer NOT NULL DEFAULT 0 CHECK (busy_min >= 0),
    idle_min              integer NOT NULL DEFAULT 0 CHECK (idle_min >= 0),
    utilisation           numeric(4, 3) CHECK (utilisation BETWEEN 0 AND 1),
    late_start            boolean NOT NULL DEFAULT false,
    last_patient_at       timestamptz,
    overtime_min          integer CHECK (overtime_min >= 0),
    PRIMARY KEY (doctor_id, metric_date),
    FOREIGN KEY (hospital_id, doctor_id) REFERENCES doctors (hospital_id, id) ON DELETE CASCADE
);
-- the reports of a date range
CREATE INDEX IF NOT EXISTS doctor_performance_metrics_day_idx
    ON doctor_performance_metrics (hospital_id, metric_date);

-- ---------------------------------------------------------------------------------------
-- Notifications
-- ---------------------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS notifications_log (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    hospital_id    uuid NOT NULL,
    patient_id     uuid NOT NULL,
    token_id       uuid,
    channel        text NOT NULL CHECK (channel IN ('SMS', 'WHATSAPP')),
    event          text NOT NULL CHECK (event IN ('TOKEN_CREATED', 'AHEAD', 'CALL_NOW', 'DELAY',
                       'CANCELLED', 'RESCHEDULED', 'REMINDER_DAY_BEFORE', 'REMINDER_2H',
                       'REMINDER_EXTRA', 'WAITLIST_OFFER', 'RESUMED', 'CONFIRM_REQUEST')),
    language       text NOT NULL DEFAULT 'en' CHECK (language ~ '^[a-z]{2}$'),
    body           text NOT NULL CHECK (length(body) <= 1600),
    to_masked      text NOT NULL,                -- "+91******3210": never the full number
    status         text NOT NULL DEFAULT 'PENDING'
                       CHECK (status IN ('PENDING', 'SENT', 'DELIVERED', 'UNDELIVERED', 'FAILED', 'SKIPPED')),
    provider_id    text UNIQUE,                  -- Twilio message SID
    error_code     integer,
    error_message  text CHECK (length(error_message) <= 500),
    attempts       integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    created_at     timestamptz NOT NULL DEFAULT now(),
    sent_at        timestamptz,
    delivered_at   timestamptz,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    -- a failed message sent again by staff (once): who and when
    resent_at      timestamptz,
    resent_by      uuid REFERENCES users (id) ON DELETE SET NULL,
    FOREIGN KEY (hospital_id, patient_id) REFERENCES patients (hospital_id, id) ON DELETE CASCADE,
    FOREIGN KEY (hospital_id, token_id) REFERENCES tokens (hospital_id, id) ON DELETE CASCADE,
    -- an outreach touch: the risk tier and model version that planned it
    risk_tier      smallint CHECK (risk_tier BETWEEN 1 AND 5),
    model_version  text CHECK (length(model_version) <= 64),
    -- a WAITLIST_OFFER (token_id NULL: it goes to the waitlisted patient): entry and slot
    waitlist_entry_id  uuid,
    offer_token_id     uuid REFERENCES tokens (id) ON DELETE CASCADE,
    -- '' for a message sent once ever; a pause's id for its DELAY / RESUMED (once per pause)
    once_key           text NOT NULL DEFAULT '' CHECK (length(once_key) <= 64)
);
-- one message per (token, event, channel, once_key): the claim a racing worker loses
CREATE UNIQUE INDEX IF NOT EXISTS notifications_once_idx
    ON notifications_log (token_id, event, channel, once_key) WHERE token_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS notifications_status_idx ON notifications_log (hospital_id, status, created_at);
-- one offer message per (waitlist entry, freed slot, channel), ever
CREATE UNIQUE INDEX IF NOT EXISTS notifications_offer_once_idx
    ON notifications_log (waitlist_entry_id, offer_token_id, channel)
    WHERE waitlist_entry_id IS NOT NULL;

-- ---------------------------------------------------------------------------------------
-- No-show risk
-- ---------------------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS risk_models (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    hospital_id        uuid NOT NULL REFERENCES hospitals (id) ON DELETE CASCADE,
    version            text NOT NULL CHECK (length(version) BETWEEN 1 AND 64),
    kind               text NOT NULL CHECK (kind IN ('prior', 'logistic')),
    trained_at         timestamptz NOT NULL DEFAULT now(),
    n_train            integer NOT NULL DEFAULT 0 CHECK (n_train >= 0),
    n_holdout          integer NOT NULL DEFAULT 0 CHECK (n_holdout >= 0),
    auc                double precision CHECK (auc BETWEEN 0 AND 1),
    brier              double precision CHECK (brier BETWEEN 0 AND 1),
    calibration_error  double precision CHECK (calibration_error BETWEEN 0 AND 1),
    params             jsonb NOT NULL DEFAULT '{}'::jsonb,
    active             boolean NOT NULL DEFAULT false,
    UNIQUE (hospital_id, version)
);
CREATE UNIQUE INDEX IF NOT EXISTS risk_models_active_idx ON risk_models (hospital_id) WHERE active;

CREATE TABLE IF NOT EXISTS risk_assessments (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    hospital_id       uuid NOT NULL,
    token_id          uuid NOT NULL,
    patient_id        uuid NOT NULL,
    model_id          uuid REFERENCES risk_models (id) ON DELETE SET NULL,
    model_version     text NOT NULL,
    score             smallint NOT NULL CHECK (score BETWEEN 0 AND 100),
    badge             text NOT NULL CHECK (badge IN ('Low', 'Medium', 'High')),
    tier              smallint NOT NULL CHECK (tier BETWEEN 1 AND 5),
    show_probability  double precision NOT NULL CHECK (show_probability BETWEEN 0 AND 1),
    factors           jsonb NOT NULL DEFAULT '[]'::jsonb,
    features          jsonb NOT NULL DEFAULT '{}'::jsonb,
    explanation       text CHECK (length(explanation) <= 1000),
    created_at        timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (hospital_id, token_id) REFERENCES tokens (hospital_id, id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS risk_assessments_token_idx ON risk_assessments (token_id, created_at DESC);

-- past appointments brought from another system (`opdq history import`): what the risk model
-- trains on beside the hospital's own tokens; one row per (patient, department, booking, day)
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

CREATE TABLE IF NOT EXISTS waitlist_entries (
    id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    hospital_id          uuid NOT NULL,
    department_id        uuid NOT NULL,
    patient_id           uuid NOT NULL,
    preferred_doctor_id  uuid,
    desired_date         date NOT NULL,
    status               text NOT NULL DEFAULT 'WAITING'
                             CHECK (status IN ('WAITING', 'OFFERED', 'ACCEPTED', 'EXPIRED', 'CANCELLED')),
    offered_token_id     uuid,
    offered_at           timestamptz,
    offer_expires_at     timestamptz,
    accepted_at          timestamptz,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (hospital_id, department_id) REFERENCES departments (hospital_id, id) ON DELETE CASCADE,
    FOREIGN KEY (hospital_id, patient_id) REFERENCES patients (hospital_id, id) ON DELETE CASCADE,
    FOREIGN KEY (hospital_id, preferred_doctor_id) REFERENCES doctors (hospital_id, id),
    -- 0 routine, 1 soon, 2 urgent: breaks ties between entries waiting since the same day
    urgency              smallint NOT NULL DEFAULT 0 CHECK (urgency BETWEEN 0 AND 2)
);
CREATE INDEX IF NOT EXISTS waitlist_open_idx ON waitlist_entries (department_id, desired_date, created_at)
    WHERE status IN ('WAITING', 'OFFERED');

-- every offer of a freed slot to a waitlist entry, and how it ended: an entry is offered a
-- slot once; an offer that lapses or is declined passes the slot to the next entry
CREATE TABLE IF NOT EXISTS waitlist_offers (
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
CREATE INDEX IF NOT EXISTS waitlist_offers_open_idx ON waitlist_offers (expires_at)
    WHERE status = 'OFFERED';
CREATE INDEX IF NOT EXISTS waitlist_offers_token_idx ON waitlist_offers (token_id);

-- a patient's answer to a confirm-by-reply message (Twilio inbound webhook)
CREATE TABLE IF NOT EXISTS booking_replies (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    hospital_id  uuid NOT NULL,
    token_id     uuid NOT NULL,
    reply        text NOT NULL CHECK (reply IN ('YES', 'NO')),
    channel      text NOT NULL CHECK (channel IN ('SMS', 'WHATSAPP')),
    provider_id  text NOT NULL UNIQUE,            -- Twilio's MessageSid: a retried webhook is one
    outcome      text NOT NULL CHECK (outcome IN ('CONFIRMED', 'CANCELLED', 'IGNORED')),
    received_at  timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (hospital_id, token_id) REFERENCES tokens (hospital_id, id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS booking_replies_token_idx ON booking_replies (token_id, received_at);

CREATE TABLE IF NOT EXISTS agent_audit_logs (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    hospital_id         uuid REFERENCES hospitals (id) ON DELETE CASCADE,
    purpose             text NOT NULL CHECK (length(purpose) <= 64),
    model               text NOT NULL CHECK (length(model) <= 100),
    request_summary     jsonb NOT NULL DEFAULT '{}'::jsonb,  -- features only: never names or phones
    latency_ms          integer CHECK (latency_ms >= 0),
    prompt_tokens       integer CHECK (prompt_tokens >= 0),
    completion_tokens   integer CHECK (completion_tokens >= 0),
    estimated_cost_usd  numeric(12, 6) CHECK (estimated_cost_usd >= 0),
    status              text NOT NULL CHECK (status IN ('OK', 'TIMEOUT', 'ERROR', 'FALLBACK', 'INVALID')),
    error               text CHECK (length(error) <= 1000),
    created_at          timestamptz NOT NULL DEFAULT now()
);

-- the admins' evening summary of a day (workers/summary.py): one per hospital and day
CREATE TABLE IF NOT EXISTS daily_summaries (
    hospital_id   uuid NOT NULL REFERENCES hospitals (id) ON DELETE CASCADE,
    summary_date  date NOT NULL,
    text          text NOT NULL CHECK (length(text) <= 4000),
    template_text text NOT NULL CHECK (length(template_text) <= 4000),
    figures       jsonb NOT NULL DEFAULT '{}'::jsonb,
    written_by    text NOT NULL CHECK (written_by IN ('template', 'model')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (hospital_id, summary_date)
);

CREATE TABLE IF NOT EXISTS weather_data (
    hospital_id       uuid NOT NULL REFERENCES hospitals (id) ON DELETE CASCADE,
    date              date NOT NULL,
    hour              smallint NOT NULL DEFAULT -1 CHECK (hour BETWEEN -1 AND 23),  -- -1: whole day
    temperature_c     numeric(4, 1),
    precipitation_mm  numeric(6, 1) CHECK (precipitation_mm >= 0),
    condition         text CHECK (condition IN ('CLEAR', 'CLOUDY', 'RAIN', 'HEAVY_RAIN', 'STORM', 'HEAT', 'FOG')),
    PRIMARY KEY (hospital_id, date, hour)
);

-- ---------------------------------------------------------------------------------------
-- Outgoing webhooks (workers/webhooks.py): a subscription's deliveries go out one at a
-- time in event order; a failing one holds back only its own subscription
-- ---------------------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS webhook_subscriptions (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    hospital_id    uuid NOT NULL REFERENCES hospitals (id) ON DELETE CASCADE,
    url            text NOT NULL CHECK (length(url) BETWEEN 10 AND 2000),
    events         text[] NOT NULL CHECK (cardinality(events) BETWEEN 1 AND 20),
    secret         text NOT NULL,                -- signs each delivery (HMAC needs it kept)
    status         text NOT NULL DEFAULT 'ACTIVE' CHECK (status IN ('ACTIVE', 'PAUSED')),
    paused_reason  text CHECK (paused_reason IN ('ADMIN', 'FAILING')),
    start_seq      bigint NOT NULL DEFAULT 0,    -- events after this one are delivered
    failing_since  timestamptz,                  -- the first failure since the last success
    lease_until    timestamptz,                  -- a worker is delivering until then
    created_by     uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (hospital_id, id)
);

CREATE TABLE IF NOT EXISTS webhook_deliveries (
    seq              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,   -- the sending order
    id               uuid NOT NULL UNIQUE DEFAULT gen_random_uuid(),    -- X-OPDQ-Delivery
    hospital_id      uuid NOT NULL,
    subscription_id  uuid NOT NULL,
    event_seq        bigint NOT NULL,
    event_type       text NOT NULL CHECK (length(event_type) <= 64),
    payload          jsonb NOT NULL,
    status           text NOT NULL DEFAULT 'PENDING'
                         CHECK (status IN ('PENDING', 'RETRYING', 'DELIVERED')),
    attempts         integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    response_code    integer,
    error            text CHECK (length(error) <= 500),
    created_at       timestamptz NOT NULL DEFAULT now(),
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    last_attempt_at  timestamptz,
    delivered_at     timestamptz,
    FOREIGN KEY (hospital_id, subscription_id)
        REFERENCES webhook_subscriptions (hospital_id, id) ON DELETE CASCADE,
    UNIQUE (subscription_id, event_seq)
);
CREATE INDEX IF NOT EXISTS webhook_deliveries_open_idx ON webhook_deliveries (subscription_id, seq)
    WHERE status <> 'DELIVERED';
CREATE INDEX IF NOT EXISTS webhook_deliveries_list_idx
    ON webhook_deliveries (subscription_id, created_at DESC);

-- how far each hospital's event stream has been turned into deliveries
CREATE TABLE IF NOT EXISTS webhook_cursors (
    hospital_id  uuid PRIMARY KEY REFERENCES hospitals (id) ON DELETE CASCADE,
    last_seq     bigint NOT NULL
);

-- ---------------------------------------------------------------------------------------
-- Web push (workers/push.py): a patient's browser asks to be told when the token nears the
-- front and when it is called; gone with the token's day (expires_at, swept hourly)
-- ---------------------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS push_subscriptions (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    hospital_id         uuid NOT NULL REFERENCES hospitals (id) ON DELETE CASCADE,
    token_id            uuid NOT NULL REFERENCES tokens (id) ON DELETE CASCADE,
    endpoint            text NOT NULL CHECK (length(endpoint) BETWEEN 10 AND 2000),
    p256dh              text NOT NULL CHECK (length(p256dh) <= 200),
    auth                text NOT NULL CHECK (length(auth) <= 100),
    notify_at_position  smallint NOT NULL DEFAULT 3 CHECK (notify_at_position BETWEEN 1 AND 50),
    expires_at          timestamptz NOT NULL,     -- the end of the token's day, hospital time
    created_at          timestamptz NOT NULL DEFAULT now(),
    UNIQUE (token_id, endpoint)
);
CREATE INDEX IF NOT EXISTS push_subscriptions_expiry_idx ON push_subscriptions (expires_at);

-- one push per subscription and kind, ever: claimed before sending (like notifications_log)
CREATE TABLE IF NOT EXISTS push_sends (
    subscription_id  uuid NOT NULL REFERENCES push_subscriptions (id) ON DELETE CASCADE,
    kind             text NOT NULL CHECK (kind IN ('AHEAD', 'CALL_NOW')),
    status           text NOT NULL DEFAULT 'PENDING' CHECK (status IN ('PENDING', 'SENT', 'FAILED')),
    attempts         integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    lease_until      timestamptz,                 -- an attempt is in flight until then
    response_code    integer,
    created_at       timestamptz NOT NULL DEFAULT now(),
    sent_at          timestamptz,
    PRIMARY KEY (subscription_id, kind)
);

-- ABDM Scan & Share: one row per gateway share request; a retried share answers its token
CREATE TABLE IF NOT EXISTS abdm_shares (
    request_id   text PRIMARY KEY CHECK (length(request_id) BETWEEN 1 AND 100),
    hospital_id  uuid NOT NULL REFERENCES hospitals (id) ON DELETE CASCADE,
    patient_id   uuid NOT NULL,
    token_id     uuid NOT NULL REFERENCES tokens (id) ON DELETE CASCADE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (hospital_id, patient_id) REFERENCES patients (hospital_id, id) ON DELETE CASCADE
);

-- The patient's own history, kept current by being a view over tokens: the risk features
-- read it; a materialised table would need triggers for no gain at a few actions a second.
CREATE OR REPLACE VIEW patient_history_summary AS
SELECT
    p.hospital_id,
    p.id AS patient_id,
    count(t.id) FILTER (WHERE t.status IN ('COMPLETED', 'NO_SHOW')) AS visits_with_outcome,
    count(t.id) FILTER (WHERE t.status = 'COMPLETED') AS completed,
    count(t.id) FILTER (WHERE t.status = 'NO_SHOW') AS no_shows,
    count(t.id) FILTER (WHERE t.status = 'CANCELLED') AS cancellations,
    max(t.service_date) FILTER (WHERE t.status = 'COMPLETED') AS last_completed_date,
    max(t.service_date) FILTER (WHERE t.status = 'NO_SHOW') AS last_no_show_date
FROM patients p
LEFT JOIN tokens t ON t.patient_id = p.id
GROUP BY p.hospital_id, p.id;

-- ---------------------------------------------------------------------------------------
-- updated_at triggers
-- ---------------------------------------------------------------------------------------
CREATE OR REPLACE TRIGGER hospitals_updated_at BEFORE UPDATE ON hospitals
    FOR EACH ROW EXECUTE FUNCTION opdq_set_updated_at();
CREATE OR REPLACE TRIGGER departments_updated_at BEFORE UPDATE ON departments
    FOR EACH ROW EXECUTE FUNCTION opdq_set_updated_at();
CREATE OR REPLACE TRIGGER cabins_updated_at BEFORE UPDATE ON cabins
    FOR EACH ROW EXECUTE FUNCTION opdq_set_updated_at();
CREATE OR REPLACE TRIGGER doctors_updated_at BEFORE UPDATE ON doctors
    FOR EACH ROW EXECUTE FUNCTION opdq_set_updated_at();
CREATE OR REPLACE TRIGGER shifts_updated_at BEFORE UPDATE ON shifts
    FOR EACH ROW EXECUTE FUNCTION opdq_set_updated_at();
CREATE OR REPLACE TRIGGER users_updated_at BEFORE UPDATE ON users
    FOR EACH ROW EXECUTE FUNCTION opdq_set_updated_at();
CREATE OR REPLACE TRIGGER patients_updated_at BEFORE UPDATE ON patients
    FOR EACH ROW EXECUTE FUNCTION opdq_set_updated_at();
CREATE OR REPLACE TRIGGER tokens_updated_at BEFORE UPDATE ON tokens
    FOR EACH ROW EXECUTE FUNCTION opdq_set_updated_at();
CREATE OR REPLACE TRIGGER notifications_log_updated_at BEFORE UPDATE ON notifications_log
    FOR EACH ROW EXECUTE FUNCTION opdq_set_updated_at();
CREATE OR REPLACE TRIGGER waitlist_entries_updated_at BEFORE UPDATE ON waitlist_entries
    FOR EACH ROW EXECUTE FUNCTION opdq_set_updated_at();
CREATE OR REPLACE TRIGGER doctor_performance_metrics_updated_at BEFORE UPDATE ON doctor_performance_metrics
    FOR EACH ROW EXECUTE FUNCTION opdq_set_updated_at();
CREATE OR REPLACE TRIGGER webhook_subscriptions_updated_at BEFORE UPDATE ON webhook_subscriptions
    FOR EACH ROW EXECUTE FUNCTION opdq_set_updated_at();
