-- depends: 0002_announce_after_commit
-- 0003: the desk's day (issue 13): where a reinstated token goes back, how often a patient
-- said "running late" and how often a token was reinstated, the name search key, and the
-- index of the desk's list of a day.

ALTER TABLE departments ADD COLUMN reinstate_places integer NOT NULL DEFAULT 3
    CHECK (reinstate_places BETWEEN 1 AND 50);
ALTER TABLE patients ADD COLUMN name_key text NOT NULL DEFAULT '';
ALTER TABLE tokens ADD COLUMN late_count integer NOT NULL DEFAULT 0 CHECK (late_count >= 0);
ALTER TABLE tokens ADD COLUMN reinstate_count integer NOT NULL DEFAULT 0
    CHECK (reinstate_count >= 0);

-- existing patients become findable by name: lower-cased words, each after a space (what
-- domain.names.search_key writes, without its folding of Latin accents; a later edit of the
-- name writes the full key)
UPDATE patients
SET name_key = ' ' || array_to_string(
    regexp_split_to_array(btrim(lower(name), ' -.,''’_/()'), '[[:space:]\-.,''’_/()]+'), ' ')
WHERE name_key = '';

CREATE INDEX tokens_day_idx ON tokens (hospital_id, service_date, created_at DESC);
