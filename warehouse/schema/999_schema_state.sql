-- Which schema the warehouse has: migrate() skips every step when the fingerprint of the step
-- files is the one recorded here, so a run, `dedup` or a no-change ingest does not re-apply the
-- whole schema each time. Written last, by pipeline/warehouse.py, in the same transaction.

CREATE TABLE IF NOT EXISTS schema_state (
    fingerprint VARCHAR NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL
);
COMMENT ON TABLE schema_state IS 'The schema steps applied to this warehouse (one row): their fingerprint and when; migrate() re-applies them only when warehouse/schema/*.sql changed.';
COMMENT ON COLUMN schema_state.fingerprint IS 'SHA-256 of the names and texts of warehouse/schema/*.sql as applied.';
COMMENT ON COLUMN schema_state.applied_at IS 'When the steps were last applied.';
