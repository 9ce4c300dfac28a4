-- depends: 0006_board
-- 0007: the daily metrics job (issue 18): what doctor_performance_metrics lacked for the
-- reports (cancellations, wait percentiles and samples, shift, busy and idle time,
-- utilisation, late start, last patient and overtime), and the index of a date range.

ALTER TABLE doctor_performance_metrics
    ADD COLUMN tokens_cancelled integer NOT NULL DEFAULT 0 CHECK (tokens_cancelled >= 0),
    ADD COLUMN wait_p50_min numeric(7, 2) CHECK (wait_p50_min >= 0),
    ADD COLUMN wait_p90_min numeric(7, 2) CHECK (wait_p90_min >= 0),
    ADD COLUMN wait_samples_min real[] NOT NULL DEFAULT '{}',
    ADD COLUMN shift_min integer NOT NULL DEFAULT 0 CHECK (shift_min >= 0),
    ADD COLUMN busy_min integer NOT NULL DEFAULT 0 CHECK (busy_min >= 0),
    ADD COLUMN idle_min integer NOT NULL DEFAULT 0 CHECK (idle_min >= 0),
    ADD COLUMN utilisation numeric(4, 3) CHECK (utilisation BETWEEN 0 AND 1),
    ADD COLUMN late_start boolean NOT NULL DEFAULT false,
    ADD COLUMN last_patient_at timestamptz,
    ADD COLUMN overtime_min integer CHECK (overtime_min >= 0);

CREATE INDEX doctor_performance_metrics_day_idx
    ON doctor_performance_metrics (hospital_id, metric_date);

-- Until now only the demo loader wrote these rows, with figures of its own; the job computes
-- them from the record instead (the worker redoes the last 14 days at its next close, and
-- `opdq metrics compute --from --to` any range).
DELETE FROM doctor_performance_metrics;
