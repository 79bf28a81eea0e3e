-- What each run added, changed and withdrew, per edition and per work: the feed behind
-- `export --since`, the OAI-PMH datestamps and deleted records, and the report's "new, changed,
-- gone". Written by pipeline/changes.py after every dedup pass by comparing each record's content
-- hash with the last one logged, so a pass that crashed before logging is caught up by the next.

CREATE SEQUENCE IF NOT EXISTS record_change_seq START 1;
CREATE TABLE IF NOT EXISTS record_changes (
    change_id BIGINT NOT NULL PRIMARY KEY,
    dedup_run_id INTEGER NOT NULL,
    run_id INTEGER,
    level VARCHAR NOT NULL,
    id VARCHAR NOT NULL,
    op VARCHAR NOT NULL,
    changed_at TIMESTAMPTZ NOT NULL,
    content_hash UBIGINT
);
COMMENT ON TABLE record_changes IS 'Change log of editions and works: one row each time a record appeared, changed or disappeared (append-only).';
COMMENT ON COLUMN record_changes.change_id IS 'Increasing number of the change: later changes have larger ids.';
COMMENT ON COLUMN record_changes.dedup_run_id IS 'Deduplication pass that saw the change (dedup_runs).';
COMMENT ON COLUMN record_changes.run_id IS 'Ingest run the pass belongs to (runs.run_id; the last ingest run for a pass run on its own).';
COMMENT ON COLUMN record_changes.level IS 'edition or work.';
COMMENT ON COLUMN record_changes.id IS 'The edition_id or work_id.';
COMMENT ON COLUMN record_changes.op IS 'added (a new id, or one withdrawn before and published again), changed (its fields changed) or withdrawn (no longer published: the sites stopped listing it, see edition_withdrawals; it was merged into another id, see dedup_ids; or no sightings are left). reason says which.';
COMMENT ON COLUMN record_changes.changed_at IS 'When the pass logged the change.';
COMMENT ON COLUMN record_changes.content_hash IS 'Hash of the record''s exported fields after the change; NULL when withdrawn.';

CREATE OR REPLACE VIEW record_status AS
SELECT
    level,
    id,
    arg_max(op, change_id) AS last_op,
    arg_max(op, change_id) = 'withdrawn' AS withdrawn,
    min(changed_at) AS first_added_at,
    max(changed_at) AS last_changed_at,
    max(change_id) AS last_change_id,
    arg_max(run_id, change_id) AS last_run_id,
    arg_max(content_hash, change_id) AS content_hash
FROM record_changes
GROUP BY level, id;
COMMENT ON VIEW record_status IS 'One row per edition or work id ever published: whether it is withdrawn, when it was first added and last changed.';
COMMENT ON COLUMN record_status.level IS 'edition or work.';
COMMENT ON COLUMN record_status.id IS 'The edition_id or work_id.';
COMMENT ON COLUMN record_status.last_op IS 'Its latest change: added, changed or withdrawn.';
COMMENT ON COLUMN record_status.withdrawn IS 'True when the id is no longer published (a deleted record for harvesters): merged, no sightings left, or no longer listed by the sites.';
COMMENT ON COLUMN record_status.first_added_at IS 'When it first appeared.';
COMMENT ON COLUMN record_status.last_changed_at IS 'When it last appeared, changed or was withdrawn (the OAI-PMH datestamp).';
COMMENT ON COLUMN record_status.last_change_id IS 'record_changes.change_id of its latest change.';
COMMENT ON COLUMN record_status.last_run_id IS 'Ingest run of its latest change.';
COMMENT ON COLUMN record_status.content_hash IS 'Hash of its exported fields as last published (kept when withdrawn: record_changes has NULL on the withdrawal itself).';

CREATE OR REPLACE VIEW changes AS
SELECT
    c.run_id,
    c.level,
    c.op,
    count(*) AS records,
    min(c.changed_at) AS changed_at
FROM record_changes AS c
GROUP BY c.run_id, c.level, c.op;
COMMENT ON VIEW changes IS 'What each run added, changed and withdrew: number of editions and works per run and operation (record_changes has the ids).';
COMMENT ON COLUMN changes.run_id IS 'Ingest run (runs.run_id).';
COMMENT ON COLUMN changes.level IS 'edition or work.';
COMMENT ON COLUMN changes.op IS 'added, changed or withdrawn.';
COMMENT ON COLUMN changes.records IS 'Number of editions (or works) with that operation in that run.';
COMMENT ON COLUMN changes.changed_at IS 'When the run''s dedup pass logged them.';
