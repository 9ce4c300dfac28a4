-- depends: 0014_notify_once_per_pause
-- 0015: what each waiting patient was shown moves to its own narrow table (issue 16). Each
-- queue change rewrote the position and ETA of every waiting token in the wide tokens row: a
-- new row version in each of the table's indexes per waiting patient per press, the largest
-- share of PostgreSQL's time per Next. Expand only: tokens.position / eta_* stay (no longer
-- written) until a later release drops them; today's waiting tokens are copied across.

CREATE TABLE IF NOT EXISTS token_eta_shown (
    token_id     uuid PRIMARY KEY REFERENCES tokens (id) ON DELETE CASCADE,
    position     integer NOT NULL CHECK (position > 0),
    eta_p50_min  integer NOT NULL CHECK (eta_p50_min >= 0),
    eta_p90_min  integer NOT NULL CHECK (eta_p90_min >= eta_p50_min),
    shown_at     timestamptz NOT NULL
) WITH (fillfactor = 50);

INSERT INTO token_eta_shown (token_id, position, eta_p50_min, eta_p90_min, shown_at)
SELECT id, position, eta_p50_min, eta_p90_min, eta_updated_at
  FROM tokens
 WHERE status = 'WAITING' AND position IS NOT NULL AND eta_p50_min IS NOT NULL
   AND eta_p90_min IS NOT NULL AND eta_updated_at IS NOT NULL
   AND service_date >= current_date - 1
ON CONFLICT (token_id) DO NOTHING;
