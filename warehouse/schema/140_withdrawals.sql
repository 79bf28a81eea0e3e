-- Withdrawal by absence: which walks of the listing sections saw every page (the evidence that an
-- item is no longer listed), why each record change happened, and the withdrawn editions for
-- analysts. Idempotent: tables IF NOT EXISTS, columns ADD COLUMN IF NOT EXISTS, views CREATE OR
-- REPLACE, so a warehouse (file or lake) built before this step is upgraded in place.

CREATE TABLE IF NOT EXISTS section_walks (
    walk_id          VARCHAR PRIMARY KEY,
    run_id           INTEGER,
    source           VARCHAR,
    section          VARCHAR NOT NULL,
    started_at       TIMESTAMPTZ,
    finished_at      TIMESTAMPTZ,
    walked_to_end    BOOLEAN NOT NULL,
    details_complete BOOLEAN NOT NULL,
    pages            INTEGER NOT NULL,
    page_urls        VARCHAR[] NOT NULL,
    page_ids         VARCHAR[] NOT NULL,
    pager_param      VARCHAR
);
COMMENT ON TABLE section_walks IS 'One row per walk of a listing section by a crawl (the fetch log''s section lines): whether it read every page of the section and which page versions it saw. Withdrawals by absence count only walks that read every page (pipeline/changes.py). Keyed by a hash of the log line rather than (run_id, section): run ids start again at 1 when a warehouse is rebuilt from raw/, while the fetch log keeps the old runs'' walks, so walks are ordered by time.';
COMMENT ON COLUMN section_walks.walk_id IS 'Stable id of the fetch-log line (a replayed log loads the same rows).';
COMMENT ON COLUMN section_walks.run_id IS 'Run whose crawl made the walk (the run numbering of the warehouse that crawled).';
COMMENT ON COLUMN section_walks.source IS 'Site, as named in the sources file; NULL for walks logged before walks named it.';
COMMENT ON COLUMN section_walks.section IS 'The section: its listing URL without the pager parameter (a start URL of the source).';
COMMENT ON COLUMN section_walks.started_at IS 'When the walk requested its first page (UTC); NULL for walks logged before walks recorded it.';
COMMENT ON COLUMN section_walks.finished_at IS 'When the walk was logged, after its last page and its cards'' detail pages (UTC).';
COMMENT ON COLUMN section_walks.walked_to_end IS 'Every pager page was fetched (200, or 304: the archived body is current) and parsed, up to the pager''s end, with no layout alert. False for a walk that failed, stopped at the page limit, or stopped early at known cards (walk_to_end = false).';
COMMENT ON COLUMN section_walks.details_complete IS 'The crawler''s own mark: walked to its end and every card''s detail page archived (a later run may then stop paging early).';
COMMENT ON COLUMN section_walks.pages IS 'Listing pages read.';
COMMENT ON COLUMN section_walks.page_urls IS 'URLs of the pages the walk read, as archived, in pager order.';
COMMENT ON COLUMN section_walks.page_ids IS 'The page versions the walk saw (raw_pages.page_id: the body fetched, or the archived one a 304 confirmed), in pager order.';
COMMENT ON COLUMN section_walks.pager_param IS 'The pager''s query parameter (page), removed from a listing URL to name its section.';

ALTER TABLE record_changes ADD COLUMN IF NOT EXISTS reason VARCHAR;
ALTER TABLE record_changes ADD COLUMN IF NOT EXISTS field_hashes UBIGINT[];
COMMENT ON COLUMN record_changes.reason IS 'Why: withdrawn: not listed by N complete walks of <section>[, ...], merged into <id>, no sightings left, or all its editions withdrawn (works); added: new, or listed again (an id withdrawn before); changed: the exported fields that changed (NULL when the previous change was logged before fields were hashed one by one). NULL for changes logged before reasons were.';
COMMENT ON COLUMN record_changes.field_hashes IS 'Hash of each exported field after the change, in the order of pipeline/changes.py EDITION_FIELDS or WORK_FIELDS (what tells which fields a later change touched); NULL when withdrawn.';

CREATE OR REPLACE VIEW change_reasons AS
SELECT
    c.run_id,
    c.level,
    c.op,
    coalesce(c.reason, '(not recorded)') AS reason,
    count(*) AS records
FROM record_changes AS c
GROUP BY ALL;
COMMENT ON VIEW change_reasons IS 'What each run added, changed and withdrew, per reason: number of editions and works per run, operation and reason (changes has the totals).';
COMMENT ON COLUMN change_reasons.run_id IS 'Ingest run (runs.run_id).';
COMMENT ON COLUMN change_reasons.level IS 'edition or work.';
COMMENT ON COLUMN change_reasons.op IS 'added, changed or withdrawn.';
COMMENT ON COLUMN change_reasons.reason IS 'record_changes.reason; (not recorded) for changes logged before reasons were.';
COMMENT ON COLUMN change_reasons.records IS 'Number of editions (or works) with that operation and reason in that run.';

CREATE OR REPLACE VIEW withdrawn_editions AS
WITH ranked AS (
    SELECT m.edition_id, m.edition_language, s.sighting_id, s.title, s.abstract, s.year, s.canonical_url, s.source,
           source_rank(p.format) AS source_rank, p.retrieved_at
    FROM edition_members AS m
    JOIN sightings AS s USING (sighting_id)
    JOIN raw_pages AS p USING (page_id)
    WHERE s.kind = 'publication' AND m.edition_id IN (SELECT edition_id FROM edition_withdrawals)
),
merged AS (
    SELECT
        edition_id,
        any_value(edition_language) AS language,
        first(title ORDER BY source_rank, retrieved_at DESC, sighting_id) FILTER (WHERE title IS NOT NULL) AS title,
        first(abstract ORDER BY source_rank, length(abstract) DESC, sighting_id) FILTER (WHERE abstract IS NOT NULL) AS abstract,
        first(year ORDER BY source_rank, retrieved_at DESC, sighting_id) FILTER (WHERE year IS NOT NULL) AS year,
        first(canonical_url ORDER BY source_rank, retrieved_at DESC, sighting_id) FILTER (WHERE canonical_url IS NOT NULL) AS url,
        list_sort(list_distinct(list(source))) AS sources,
        list(sighting_id ORDER BY sighting_id) AS sighting_ids,
        min(retrieved_at) AS first_seen
    FROM ranked
    GROUP BY edition_id
)
SELECT
    w.edition_id, w.work_id, m.language, m.title,
    coalesce(m.title, derived_title(m.abstract)) AS display_title,
    m.year, m.url, m.sources, m.sighting_ids, m.first_seen,
    w.last_listed_at, w.sections, w.walks_since, w.withdrawn_run_id, w.reason
FROM edition_withdrawals AS w
LEFT JOIN merged AS m USING (edition_id);
COMMENT ON VIEW withdrawn_editions IS 'Editions the sites no longer list (edition_withdrawals), with what identifies them and why they were withdrawn; publications holds the live ones only. Editions withdrawn because they merged into another or lost their sightings are not here: record_changes and dedup_ids say what became of them.';
COMMENT ON COLUMN withdrawn_editions.edition_id IS 'The withdrawn edition id.';
COMMENT ON COLUMN withdrawn_editions.work_id IS 'Its work (in works only while another of its editions is live).';
COMMENT ON COLUMN withdrawn_editions.language IS 'Language of the edition (ISO 639-1).';
COMMENT ON COLUMN withdrawn_editions.title IS 'Best title its sightings showed (as in publications).';
COMMENT ON COLUMN withdrawn_editions.display_title IS 'Title to show: the title, else the opening of the abstract.';
COMMENT ON COLUMN withdrawn_editions.year IS 'Year of publication its sightings gave.';
COMMENT ON COLUMN withdrawn_editions.url IS 'Canonical URL of its page.';
COMMENT ON COLUMN withdrawn_editions.sources IS 'Sites it was seen on.';
COMMENT ON COLUMN withdrawn_editions.sighting_ids IS 'Its sightings (sightings.sighting_id), old page versions included.';
COMMENT ON COLUMN withdrawn_editions.first_seen IS 'When a page showing it was first retrieved.';
COMMENT ON COLUMN withdrawn_editions.last_listed_at IS 'When a listing page last showed it.';
COMMENT ON COLUMN withdrawn_editions.sections IS 'The listing sections that showed it.';
COMMENT ON COLUMN withdrawn_editions.walks_since IS 'Complete walks since of the section with the fewest.';
COMMENT ON COLUMN withdrawn_editions.withdrawn_run_id IS 'Ingest run that withdrew it.';
COMMENT ON COLUMN withdrawn_editions.reason IS 'Why it was withdrawn.';
