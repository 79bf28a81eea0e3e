-- Deduplication: sightings grouped into editions (one publication in one language) and works
-- (its editions in several languages). Written by pipeline/dedup at the end of every ingest.
-- Idempotent: tables IF NOT EXISTS, views CREATE OR REPLACE. The views live here, not in
-- 090_views.sql, because they read these tables and steps run in file-name order.

CREATE SEQUENCE IF NOT EXISTS dedup_run_seq START 1;

CREATE TABLE IF NOT EXISTS dedup_runs (
    dedup_run_id         INTEGER PRIMARY KEY,
    ingest_run_id        INTEGER,
    started_at           TIMESTAMPTZ NOT NULL,
    finished_at          TIMESTAMPTZ,
    sightings            INTEGER,
    editions             INTEGER,
    works                INTEGER,
    candidate_pairs      BIGINT,
    edition_joins        INTEGER,
    work_joins           INTEGER,
    vetoed               INTEGER,
    ambiguous            INTEGER,
    pins                 INTEGER,
    forbids              INTEGER,
    unresolved_overrides VARCHAR[],
    ids_kept             INTEGER,
    ids_created          INTEGER,
    ids_merged           INTEGER,
    ids_retired          INTEGER,
    seconds              DOUBLE,
    overrides_file       VARCHAR
);
COMMENT ON TABLE dedup_runs IS 'One row per deduplication pass (run at the end of each ingest, or by `python -m pipeline dedup`), with its counts.';
COMMENT ON COLUMN dedup_runs.dedup_run_id IS 'Sequential number of the deduplication pass.';
COMMENT ON COLUMN dedup_runs.ingest_run_id IS 'Latest runs.run_id when the pass ran (the ingest it followed).';
COMMENT ON COLUMN dedup_runs.started_at IS 'When the pass started (UTC).';
COMMENT ON COLUMN dedup_runs.finished_at IS 'When the pass finished (UTC).';
COMMENT ON COLUMN dedup_runs.sightings IS 'Publication sightings deduplicated.';
COMMENT ON COLUMN dedup_runs.editions IS 'Editions found.';
COMMENT ON COLUMN dedup_runs.works IS 'Works found.';
COMMENT ON COLUMN dedup_runs.candidate_pairs IS 'Sighting pairs proposed by blocking (exact keys and MinHash LSH) and compared.';
COMMENT ON COLUMN dedup_runs.edition_joins IS 'Unions made at edition level (rows of match_links with decision joined, level edition).';
COMMENT ON COLUMN dedup_runs.work_joins IS 'Unions made at work level.';
COMMENT ON COLUMN dedup_runs.vetoed IS 'Matches refused by a cannot-link rule or a forbid (decision vetoed).';
COMMENT ON COLUMN dedup_runs.ambiguous IS 'Matches left out because the sighting matched several items that cannot be one (decision ambiguous).';
COMMENT ON COLUMN dedup_runs.pins IS 'Pin decisions from the overrides file that were applied.';
COMMENT ON COLUMN dedup_runs.forbids IS 'Forbid decisions from the overrides file that were applied.';
COMMENT ON COLUMN dedup_runs.unresolved_overrides IS 'Override references that matched no sighting (fix the overrides file).';
COMMENT ON COLUMN dedup_runs.ids_kept IS 'Edition and work ids carried over from the previous pass.';
COMMENT ON COLUMN dedup_runs.ids_created IS 'New edition and work ids issued.';
COMMENT ON COLUMN dedup_runs.ids_merged IS 'Ids retired because their cluster merged into an older one (see dedup_ids.merged_into).';
COMMENT ON COLUMN dedup_runs.ids_retired IS 'Ids retired because none of their sightings remain.';
COMMENT ON COLUMN dedup_runs.seconds IS 'Wall-clock duration of the pass.';
COMMENT ON COLUMN dedup_runs.overrides_file IS 'Overrides file read (pin/forbid decisions), if any.';

CREATE TABLE IF NOT EXISTS edition_members (
    sighting_id      VARCHAR PRIMARY KEY,
    edition_id       VARCHAR NOT NULL,
    work_id          VARCHAR NOT NULL,
    text_language    VARCHAR,
    edition_language VARCHAR,
    dedup_run_id     INTEGER NOT NULL
);
COMMENT ON TABLE edition_members IS 'Current assignment of every publication sighting to its edition and work (rewritten by each deduplication pass; ids are stable, see dedup_ids). Query sighting_editions rather than this table.';
COMMENT ON COLUMN edition_members.sighting_id IS 'The sighting (sightings.sighting_id).';
COMMENT ON COLUMN edition_members.edition_id IS 'Stable edition id (ed_ + 12 hex digits).';
COMMENT ON COLUMN edition_members.work_id IS 'Stable work id (wk_ + 12 hex digits).';
COMMENT ON COLUMN edition_members.text_language IS 'Language of this sighting''s text (ISO 639-1), detected from its function words, else as the page declared; NULL when unsure.';
COMMENT ON COLUMN edition_members.edition_language IS 'Language of the edition (the detected language of its sightings).';
COMMENT ON COLUMN edition_members.dedup_run_id IS 'Deduplication pass that wrote the row.';

CREATE TABLE IF NOT EXISTS dedup_ids (
    id                 VARCHAR PRIMARY KEY,
    level              VARCHAR NOT NULL,
    first_dedup_run_id INTEGER NOT NULL,
    last_dedup_run_id  INTEGER,
    status             VARCHAR NOT NULL,
    merged_into        VARCHAR,
    seed_sighting_id   VARCHAR
);
COMMENT ON TABLE dedup_ids IS 'Every edition and work id ever issued and what became of it: ids are never reissued; when two clusters merge the oldest id survives and the others point to it.';
COMMENT ON COLUMN dedup_ids.id IS 'The id (ed_... edition, wk_... work).';
COMMENT ON COLUMN dedup_ids.level IS 'edition or work.';
COMMENT ON COLUMN dedup_ids.first_dedup_run_id IS 'Deduplication pass that issued the id.';
COMMENT ON COLUMN dedup_ids.last_dedup_run_id IS 'Last pass in which the id was in use.';
COMMENT ON COLUMN dedup_ids.status IS 'active, merged (its cluster joined an older one: see merged_into) or retired (no sightings left).';
COMMENT ON COLUMN dedup_ids.merged_into IS 'For merged ids: the id that now holds their sightings.';
COMMENT ON COLUMN dedup_ids.seed_sighting_id IS 'Smallest sighting id of the cluster when the id was issued (the id is a hash of it).';

CREATE TABLE IF NOT EXISTS match_links (
    dedup_run_id INTEGER NOT NULL,
    level        VARCHAR NOT NULL,
    sighting_a   VARCHAR NOT NULL,
    sighting_b   VARCHAR NOT NULL,
    edition_a    VARCHAR,
    edition_b    VARCHAR,
    rule         VARCHAR NOT NULL,
    score        DOUBLE NOT NULL,
    decision     VARCHAR NOT NULL,
    reason       VARCHAR,
    evidence     VARCHAR
);
COMMENT ON TABLE match_links IS 'Why rows were merged or kept apart: every union made by the last deduplication pass (decision joined), and every match it refused (vetoed: a cannot-link rule or a forbid; ambiguous: several equally good candidates). The joined links of an edition form a tree over its sightings.';
COMMENT ON COLUMN match_links.dedup_run_id IS 'Deduplication pass that made the decision.';
COMMENT ON COLUMN match_links.level IS 'edition (sightings into editions) or work (editions into works).';
COMMENT ON COLUMN match_links.sighting_a IS 'One sighting of the pair (for work links: a sighting of the first edition).';
COMMENT ON COLUMN match_links.sighting_b IS 'The other sighting (for work links: a sighting of the second edition).';
COMMENT ON COLUMN match_links.edition_a IS 'Edition of sighting_a after the pass.';
COMMENT ON COLUMN match_links.edition_b IS 'Edition of sighting_b after the pass.';
COMMENT ON COLUMN match_links.rule IS 'Rule that matched: pin, same_url, same_card, same_text, prefix, paraphrase (editions); pin, edition_link, shared_isbn, shared_signals, same_teaser, teaser_of_work, shared_file_name, similar_text (works).';
COMMENT ON COLUMN match_links.score IS 'Strength of the rule''s evidence, 0..1 (edges are applied strongest first).';
COMMENT ON COLUMN match_links.decision IS 'joined, vetoed or ambiguous.';
COMMENT ON COLUMN match_links.reason IS 'Why a match was refused (vetoed, ambiguous); NULL when joined.';
COMMENT ON COLUMN match_links.evidence IS 'Details of the match: text overlap, the linking URL, the shared ISBN, shared signals.';

-- Written by pipeline/changes.py after every pass, not by the pass itself: the publications view
-- below leaves these editions out, so the table must exist before the view is created.
CREATE TABLE IF NOT EXISTS edition_withdrawals (
    edition_id        VARCHAR PRIMARY KEY,
    work_id           VARCHAR NOT NULL,
    sections          VARCHAR[] NOT NULL,
    last_listed_at    TIMESTAMPTZ,
    walks_since       INTEGER NOT NULL,
    withdrawn_run_id  INTEGER,
    dedup_run_id      INTEGER NOT NULL,
    reason            VARCHAR NOT NULL
);
COMMENT ON TABLE edition_withdrawals IS 'Editions withdrawn because the sites stopped listing them: every listing section that ever showed the edition was walked to its end at least withdraw_after_walks times since, and none of those walks showed it (pipeline/changes.py). Rewritten after every deduplication pass; an edition listed again leaves it. Its sightings stay (the archive keeps every page version), so the edition stays in edition_members, but not in publications or works.';
COMMENT ON COLUMN edition_withdrawals.edition_id IS 'The withdrawn edition (edition_members.edition_id).';
COMMENT ON COLUMN edition_withdrawals.work_id IS 'Its work.';
COMMENT ON COLUMN edition_withdrawals.sections IS 'The listing sections that showed it (listing URL without the pager parameter, as section_walks.section).';
COMMENT ON COLUMN edition_withdrawals.last_listed_at IS 'When a listing page last showed it: the end of the last walk that saw it, or the retrieval of the page.';
COMMENT ON COLUMN edition_withdrawals.walks_since IS 'Complete walks since then of the section with the fewest (at least withdraw_after_walks).';
COMMENT ON COLUMN edition_withdrawals.withdrawn_run_id IS 'Ingest run whose pass first found it withdrawn (this time).';
COMMENT ON COLUMN edition_withdrawals.dedup_run_id IS 'Deduplication pass after which the table was last written.';
COMMENT ON COLUMN edition_withdrawals.reason IS 'The reason logged in record_changes, e.g. not listed by 2 complete walks of <section>.';

CREATE OR REPLACE VIEW sighting_editions AS
SELECT s.sighting_id, m.edition_id, m.work_id
FROM sightings AS s
LEFT JOIN edition_members AS m USING (sighting_id)
WHERE s.kind = 'publication';
COMMENT ON VIEW sighting_editions IS 'One row per publication sighting with its edition and work (NULL only until the next deduplication pass has run).';
COMMENT ON COLUMN sighting_editions.sighting_id IS 'The sighting (sightings.sighting_id).';
COMMENT ON COLUMN sighting_editions.edition_id IS 'Its edition: one publication in one language.';
COMMENT ON COLUMN sighting_editions.work_id IS 'Its work: the publication across languages.';

CREATE OR REPLACE MACRO derived_title(t) AS
    CASE WHEN t IS NULL OR trim(t) = '' THEN NULL
         WHEN length(regexp_replace(trim(t), '\s+', ' ', 'g')) <= 80 THEN regexp_replace(trim(t), '\s+', ' ', 'g')
         ELSE regexp_extract(left(regexp_replace(trim(t), '\s+', ' ', 'g'), 81), '^(.*)\s', 1) || ' …'
    END;

-- Order of trust in a page format when sightings of one edition disagree: a detail page says most
-- about its item, a text listing least. Used by the publications view and by exports.
CREATE OR REPLACE MACRO source_rank(fmt) AS
    CASE fmt
        WHEN 'html-detail' THEN 1 WHEN 'text-detail' THEN 1 WHEN 'text-catalogue' THEN 2
        WHEN 'html-listing' THEN 3 WHEN 'text-listing' THEN 4 ELSE 5
    END;

-- A listing page's section and pager page: its URL without the pager parameter (Drupal's `page`,
-- 0-based, absent on the first page), and that parameter's value. One definition for the dedup's
-- card slots (pipeline/dedup/cards.py) and the withdrawals (pipeline/changes.py).
CREATE OR REPLACE MACRO listing_section(url, param) AS
    regexp_replace(regexp_replace(url, '([?&])' || param || '=[^&#]*&?', '\1'), '[?&]$', '');
CREATE OR REPLACE MACRO listing_page(url, param) AS
    coalesce(try_cast(regexp_extract(url, '[?&]' || param || '=(\d+)', 1) AS INTEGER), 0);

CREATE OR REPLACE VIEW publications AS
WITH pages AS (
    -- a page version is superseded once a newer version of its URL is archived: its values lose to
    -- the current version's (a corrected title or a shortened abstract shows), while a page's first
    -- retrieval, not its latest, orders pages of one rank (refetching one page must not hand every
    -- field to it)
    SELECT page_id, format, retrieved_at,
           url IS NOT NULL AND retrieved_at < max(retrieved_at) OVER (PARTITION BY source, url) AS superseded,
           min(retrieved_at) OVER (PARTITION BY source, coalesce(url, page_id)) AS url_first_seen,
           coalesce(url, page_id) AS page_key
    FROM raw_pages
),
ranked AS (
    SELECT
        m.edition_id, m.work_id, m.edition_language, s.*,
        p.format, p.retrieved_at, p.superseded, p.url_first_seen, p.page_key,
        source_rank(p.format) AS source_rank,
        coalesce(nullif(s.full_abstract, ''), CASE WHEN NOT s.abstract_truncated THEN s.abstract END) AS full_text
    FROM edition_members AS m
    JOIN sightings AS s USING (sighting_id)
    JOIN pages AS p USING (page_id)
    WHERE s.kind = 'publication'
),
merged AS (
SELECT
    edition_id,
    any_value(work_id) AS work_id,
    any_value(edition_language) AS language,
    first(title ORDER BY superseded, source_rank, url_first_seen, page_key, sighting_id) FILTER (WHERE title IS NOT NULL) AS title,
    coalesce(
        first(full_text ORDER BY superseded, source_rank, length(full_text) DESC, sighting_id) FILTER (WHERE full_text IS NOT NULL),
        first(abstract ORDER BY superseded, length(abstract) DESC, sighting_id) FILTER (WHERE abstract IS NOT NULL)
    ) AS abstract,
    count(full_text) = 0 AS abstract_truncated,
    first(year ORDER BY superseded, source_rank, url_first_seen, page_key, sighting_id) FILTER (WHERE year IS NOT NULL) AS year,
    first(page_count ORDER BY superseded, source_rank, url_first_seen, page_key, sighting_id) FILTER (WHERE page_count IS NOT NULL) AS page_count,
    coalesce(first(isbn ORDER BY superseded, source_rank, url_first_seen, page_key, sighting_id) FILTER (WHERE len(isbn) > 0), []::VARCHAR[]) AS isbn,
    coalesce(first(eisbn ORDER BY superseded, source_rank, url_first_seen, page_key, sighting_id) FILTER (WHERE len(eisbn) > 0), []::VARCHAR[]) AS eisbn,
    coalesce(first(languages ORDER BY superseded, source_rank, url_first_seen, page_key, sighting_id) FILTER (WHERE len(languages) > 0), []::VARCHAR[]) AS languages,
    first(pdf_available ORDER BY superseded, source_rank, url_first_seen, page_key, sighting_id) FILTER (WHERE pdf_available IS NOT NULL) AS pdf_available,
    coalesce(first(pdf_urls ORDER BY superseded, source_rank, url_first_seen, page_key, sighting_id) FILTER (WHERE len(pdf_urls) > 0), []::VARCHAR[]) AS pdf_urls,
    first(canonical_url ORDER BY superseded, source_rank, url_first_seen, page_key, sighting_id) FILTER (WHERE canonical_url IS NOT NULL) AS url,
    struct_pack(
        title := first(sighting_id ORDER BY superseded, source_rank, url_first_seen, page_key, sighting_id) FILTER (WHERE title IS NOT NULL),
        abstract := coalesce(
            first(sighting_id ORDER BY superseded, source_rank, length(full_text) DESC, sighting_id) FILTER (WHERE full_text IS NOT NULL),
            first(sighting_id ORDER BY superseded, length(abstract) DESC, sighting_id) FILTER (WHERE abstract IS NOT NULL)
        ),
        year := first(sighting_id ORDER BY superseded, source_rank, url_first_seen, page_key, sighting_id) FILTER (WHERE year IS NOT NULL),
        page_count := first(sighting_id ORDER BY superseded, source_rank, url_first_seen, page_key, sighting_id) FILTER (WHERE page_count IS NOT NULL),
        isbn := first(sighting_id ORDER BY superseded, source_rank, url_first_seen, page_key, sighting_id) FILTER (WHERE len(isbn) > 0),
        eisbn := first(sighting_id ORDER BY superseded, source_rank, url_first_seen, page_key, sighting_id) FILTER (WHERE len(eisbn) > 0),
        languages := first(sighting_id ORDER BY superseded, source_rank, url_first_seen, page_key, sighting_id) FILTER (WHERE len(languages) > 0),
        pdf_available := first(sighting_id ORDER BY superseded, source_rank, url_first_seen, page_key, sighting_id) FILTER (WHERE pdf_available IS NOT NULL),
        url := first(sighting_id ORDER BY superseded, source_rank, url_first_seen, page_key, sighting_id) FILTER (WHERE canonical_url IS NOT NULL)
    ) AS value_sources,
    coalesce(list_sort(list_distinct(list(year) FILTER (WHERE year IS NOT NULL))), []) AS years_seen,
    coalesce(list_sort(list_distinct(list(page_count) FILTER (WHERE page_count IS NOT NULL))), []) AS page_counts_seen,
    -- sorted: list_distinct keeps no order, and the change log hashes this list
    list_sort(list_distinct(list(source))) AS sources,
    count(*) AS sighting_count,
    list(sighting_id ORDER BY sighting_id) AS sighting_ids,
    min(retrieved_at) AS first_seen,
    list_sort(list_distinct(flatten(list(quality_flags)))) AS quality_flags
FROM ranked
GROUP BY edition_id
)
SELECT
    edition_id, work_id, language, title,
    coalesce(title, derived_title(abstract)) AS display_title,
    title IS NULL AND abstract IS NOT NULL AS title_derived,
    * EXCLUDE (edition_id, work_id, language, title)
FROM merged
WHERE edition_id NOT IN (SELECT edition_id FROM edition_withdrawals);
COMMENT ON VIEW publications IS 'One row per live edition (one publication in one language) with its metadata merged field by field: each value comes from the best sighting that has it (the current version of a page before versions it replaced; then detail page, catalogue, listing card, text listing; then the page seen first), and value_sources names that sighting. Editions the sites no longer list are left out (they are in withdrawn_editions): a view of its own rather than a column here, so that every query, export, harvest and the works view that reads publications goes on meaning what is published now without a filter to remember. Deduplication rules: pipeline/dedup; why rows were merged: match_links.';
COMMENT ON COLUMN publications.edition_id IS 'Stable edition id.';
COMMENT ON COLUMN publications.work_id IS 'Stable id of the work (the same publication in other languages): see the works view.';
COMMENT ON COLUMN publications.language IS 'Language of the edition (ISO 639-1), detected from its text; NULL when unsure.';
COMMENT ON COLUMN publications.title IS 'Best title: from the highest-ranked source that shows one; NULL when no page shows a title (see display_title).';
COMMENT ON COLUMN publications.display_title IS 'Title to show: the page''s title, else the opening of the abstract (at most 80 characters, ending in " …"), marked by title_derived.';
COMMENT ON COLUMN publications.title_derived IS 'True when display_title was derived from the abstract because no page shows a title.';
COMMENT ON COLUMN publications.abstract IS 'Full abstract when any sighting has one (detail page, catalogue, untruncated listing), else the longest teaser.';
COMMENT ON COLUMN publications.abstract_truncated IS 'True when only truncated teasers are known.';
COMMENT ON COLUMN publications.year IS 'Year of publication, from the best source that gives it.';
COMMENT ON COLUMN publications.page_count IS 'Number of pages, from the best source that gives it.';
COMMENT ON COLUMN publications.isbn IS 'Print ISBNs (13 digits), from the best source that gives them.';
COMMENT ON COLUMN publications.eisbn IS 'E-ISBNs (13 digits), from the best source that gives them.';
COMMENT ON COLUMN publications.languages IS 'Languages the page says the publication is available in (ISO 639-1).';
COMMENT ON COLUMN publications.pdf_available IS 'Whether a PDF is offered.';
COMMENT ON COLUMN publications.pdf_urls IS 'Links to the PDF files.';
COMMENT ON COLUMN publications.url IS 'Canonical URL of the edition''s page.';
COMMENT ON COLUMN publications.value_sources IS 'For each merged field, the sighting_id its value was taken from.';
COMMENT ON COLUMN publications.years_seen IS 'Every distinct year the sightings give (more than one: the sources disagree).';
COMMENT ON COLUMN publications.page_counts_seen IS 'Every distinct page count the sightings give.';
COMMENT ON COLUMN publications.sources IS 'Sites the edition was seen on.';
COMMENT ON COLUMN publications.sighting_count IS 'Number of sightings of the edition.';
COMMENT ON COLUMN publications.sighting_ids IS 'Its sightings (sightings.sighting_id).';
COMMENT ON COLUMN publications.first_seen IS 'When a page showing it was first retrieved.';
COMMENT ON COLUMN publications.quality_flags IS 'Union of the quality flags of its sightings.';

CREATE OR REPLACE VIEW editions AS
SELECT
    m.edition_id,
    any_value(m.work_id) AS work_id,
    any_value(m.edition_language) AS language,
    count(*) AS sighting_count,
    list(m.sighting_id ORDER BY m.sighting_id) AS sighting_ids,
    any_value(i.first_dedup_run_id) AS first_dedup_run_id
FROM edition_members AS m
LEFT JOIN dedup_ids AS i ON i.id = m.edition_id
GROUP BY m.edition_id;
COMMENT ON VIEW editions IS 'One row per edition with its stable id, work and sightings (publications has the merged metadata).';
COMMENT ON COLUMN editions.edition_id IS 'Stable edition id: survives re-runs and new sightings; see dedup_ids for merged ids.';
COMMENT ON COLUMN editions.work_id IS 'Stable id of its work.';
COMMENT ON COLUMN editions.language IS 'Language of the edition (ISO 639-1).';
COMMENT ON COLUMN editions.sighting_count IS 'Number of its sightings.';
COMMENT ON COLUMN editions.sighting_ids IS 'Its sightings.';
COMMENT ON COLUMN editions.first_dedup_run_id IS 'Deduplication pass that issued the id.';

CREATE OR REPLACE VIEW works AS
SELECT
    work_id,
    list_sort(list_distinct(list(language) FILTER (WHERE language IS NOT NULL))) AS languages,
    count(*) AS edition_count,
    list(edition_id ORDER BY language NULLS LAST, edition_id) AS edition_ids,
    list(struct_pack(edition_id := edition_id, language := language, title := title, display_title := display_title) ORDER BY language NULLS LAST, edition_id) AS editions,
    -- between editions of one language: the one on most sites, then the first seen, then the
    -- smallest sighting id (its natural key); never the edition id, which depends on the order of
    -- past dedup passes (dedup/ids.py), nor its number of sightings, which grows with every nightly
    -- version of a listing page and would flip the title between editions with nothing changed
    first(title ORDER BY (language = 'en') DESC NULLS LAST, len(sources) DESC, first_seen, sighting_ids[1]) FILTER (WHERE title IS NOT NULL) AS title,
    coalesce(
        first(title ORDER BY (language = 'en') DESC NULLS LAST, len(sources) DESC, first_seen, sighting_ids[1]) FILTER (WHERE title IS NOT NULL),
        first(display_title ORDER BY (language = 'en') DESC NULLS LAST, len(sources) DESC, first_seen, sighting_ids[1]) FILTER (WHERE display_title IS NOT NULL)
    ) AS display_title,
    count(title) = 0 AS title_derived,
    sum(sighting_count) AS sighting_count,
    list_sort(list_distinct(flatten(list(sources)))) AS sources
FROM publications
GROUP BY work_id;
COMMENT ON VIEW works IS 'One row per work with a live edition: a publication across its language editions, with its languages and editions (withdrawn editions left out, as in publications).';
COMMENT ON COLUMN works.work_id IS 'Stable work id: survives re-runs and new sightings; see dedup_ids for merged ids.';
COMMENT ON COLUMN works.languages IS 'Languages of its editions (ISO 639-1).';
COMMENT ON COLUMN works.edition_count IS 'Number of editions.';
COMMENT ON COLUMN works.edition_ids IS 'Its editions (publications.edition_id).';
COMMENT ON COLUMN works.editions IS 'Its editions with language, title and display title.';
COMMENT ON COLUMN works.title IS 'A title for the work: the English edition''s when there is one, else (and between editions of one language) the title of the edition seen on most sites, then first seen; NULL when no edition shows a title.';
COMMENT ON COLUMN works.display_title IS 'Title to show: title, else an edition''s display_title derived from its abstract (title_derived).';
COMMENT ON COLUMN works.title_derived IS 'True when no edition shows a title and display_title comes from an abstract.';
COMMENT ON COLUMN works.sighting_count IS 'Sightings of all its editions.';
COMMENT ON COLUMN works.sources IS 'Sites any of its editions was seen on.';
