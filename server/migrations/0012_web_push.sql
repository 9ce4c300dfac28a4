-- depends: 0011_outreach
-- 0012: web push for the patient page (issue 20): a browser's subscription per token (gone
-- with the token's day) and one claimed row per subscription and kind, so each push goes once.

CREATE TABLE push_subscriptions (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    hospital_id         uuid NOT NULL REFERENCES hospitals (id) ON DELETE CASCADE,
    token_id            uuid NOT NULL REFERENCES tokens (id) ON DELETE CASCADE,
    endpoint            text NOT NULL CHECK (length(endpoint) BETWEEN 10 AND 2000),
    p256dh              text NOT NULL CHECK (length(p256dh) <= 200),
    auth                text NOT NULL CHECK (length(auth) <= 100),
    notify_at_position  smallint NOT NULL DEFAULT 3 CHECK (notify_at_position BETWEEN 1 AND 50),
    expires_at          timestamptz NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    UNIQUE (token_id, endpoint)
);
CREATE INDEX push_subscriptions_expiry_idx ON push_subscriptions (expires_at);

CREATE TABLE push_sends (
    subscription_id  uuid NOT NULL REFERENCES push_subscriptions (id) ON DELETE CASCADE,
    kind             text NOT NULL CHECK (kind IN ('AHEAD', 'CALL_NOW')),
    status           text NOT NULL DEFAULT 'PENDING' CHECK (status IN ('PENDING', 'SENT', 'FAILED')),
    attempts         integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    lease_until      timestamptz,
    response_code    integer,
    created_at       timestamptz NOT NULL DEFAULT now(),
    sent_at          timestamptz,
    PRIMARY KEY (subscription_id, kind)
);
