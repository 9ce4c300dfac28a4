-- depends: 0004_live_alerts
-- 0005: integrations (issue 20): API keys (and the key each audited change was made with),
-- outgoing webhook subscriptions, their deliveries and each hospital's stream cursor.

CREATE TABLE api_keys (
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
CREATE INDEX api_keys_hospital_idx ON api_keys (hospital_id, created_at);


ALTER TABLE admin_audit ADD COLUMN api_key_id uuid REFERENCES api_keys (id) ON DELETE SET NULL;
ALTER TABLE token_history ADD COLUMN api_key_id uuid REFERENCES api_keys (id) ON DELETE SET NULL;

CREATE TABLE webhook_subscriptions (
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

CREATE TABLE webhook_deliveries (
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
CREATE INDEX webhook_deliveries_open_idx ON webhook_deliveries (subscription_id, seq)
    WHERE status <> 'DELIVERED';
CREATE INDEX webhook_deliveries_list_idx
    ON webhook_deliveries (subscription_id, created_at DESC);

-- how far each hospital's event stream has been turned into deliveries
CREATE TABLE webhook_cursors (
    hospital_id  uuid PRIMARY KEY REFERENCES hospitals (id) ON DELETE CASCADE,
    last_seq     bigint NOT NULL
);

CREATE TRIGGER webhook_subscriptions_updated_at BEFORE UPDATE ON webhook_subscriptions
    FOR EACH ROW EXECUTE FUNCTION opdq_set_updated_at();
