-- Each edition's resource type, computed once per dedup pass (pipeline/dedup/write.py, in the pass's
-- transaction) instead of on every export and every OAI-PMH request: the computation scans every page
-- and sighting, and only a pass changes which sightings make an edition. Readers take it while it is
-- the last pass's and compute the same SQL themselves otherwise (a warehouse built before this step).

CREATE TABLE IF NOT EXISTS edition_types (
    edition_id    VARCHAR NOT NULL,
    resource_type VARCHAR,
    dedup_run_id  INTEGER NOT NULL
);
COMMENT ON TABLE edition_types IS 'The resource type of every edition of the last dedup pass (withdrawn ones too), as pipeline/export.py resource_types_sql computes it: the export''s resource_type column, the citation types and the OAI-PMH type: sets. Written by each pass in its transaction; a reader uses it only when its dedup_run_id is the last pass''s.';
COMMENT ON COLUMN edition_types.edition_id IS 'Edition (edition_members.edition_id).';
COMMENT ON COLUMN edition_types.resource_type IS 'Slug of pipeline/citation.py RESOURCE_TYPES (manual, guideline, report, ...); NULL when nothing names a type (a generic document).';
COMMENT ON COLUMN edition_types.dedup_run_id IS 'The pass that computed it (dedup_runs.dedup_run_id).';
