-- depends: 0012_web_push
-- 0013: ABDM Scan & Share (issue 20): a patient's ABHA number and address (found again at the
-- next scan), and one row per gateway share request, so a retried share gets the same token.

ALTER TABLE patients ADD COLUMN abha_number text CHECK (abha_number ~ '^[0-9]{14}$');
ALTER TABLE patients ADD COLUMN abha_address text CHECK (length(abha_address) BETWEEN 3 AND 100);
CREATE UNIQUE INDEX patients_abha_number_idx ON patients (hospital_id, abha_number)
    WHERE abha_number IS NOT NULL;
CREATE UNIQUE INDEX patients_abha_address_idx ON patients (hospital_id, abha_address)
    WHERE abha_address IS NOT NULL;

CREATE TABLE abdm_shares (
    request_id   text PRIMARY KEY CHECK (length(request_id) BETWEEN 1 AND 100),
    hospital_id  uuid NOT NULL REFERENCES hospitals (id) ON DELETE CASCADE,
    patient_id   uuid NOT NULL,
    token_id     uuid NOT NULL REFERENCES tokens (id) ON DELETE CASCADE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (hospital_id, patient_id) REFERENCES patients (hospital_id, id) ON DELETE CASCADE
);
