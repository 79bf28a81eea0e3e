-- Core tables. Every statement is idempotent: the schema is applied at the start of each run.

CREATE SEQUENCE IF NOT EXISTS reject_seq START 1;

CREATE TABLE IF NOT EXISTS runs (
    run_id          INTEGER PRIMARY KEY,
    started_at      TIMESTAMPTZ NOT NULL,
    finished_at     TIMESTAMPTZ,
    status          VARCHAR NOT NULL,
    command         VARCHAR,
    options         JSON,
    pages_archived  INTEGER,
    pages_new       INTEGER,
    pages_parsed    INTEGER,
    pages_failed    INTEGER,
    pages_skipped   INTEGER,
    sightings_added INTEGER,
    rejects_added   INTEGER,
    message         VARCHAR
);
COMMENT ON TABLE runs IS 'One row per pipeline run (ingest), with what it did. status: running (or crashed if it never finished), ok, partial (some pages failed), failed (nothing could be processed), offline (sites unreachable, archive used).';
COMMENT ON COLUMN runs.run_id IS 'Sequential run number.';
COMMENT ON COLUMN runs.started_at IS 'When the run started (UTC).';
COMMENT ON COLUMN runs.finished_at IS 'When the run finished; NULL if it is running or was killed.';
COMMENT ON COLUMN runs.status IS 'running, crashed, ok, partial, failed or offline.';
COMMENT ON COLUMN runs.command IS 'The CLI command that started the run.';
COMMENT ON COLUMN runs.options IS 'The options the run was started with (JSON).';
COMMENT ON COLUMN runs.pages_archived IS 'Pages in the raw archive when the run started parsing.';
COMMENT ON COLUMN runs.pages_new IS 'Archived pages the warehouse had not seen before this run.';
COMMENT ON COLUMN runs.pages_parsed IS 'Pages parsed successfully in this run.';
COMMENT ON COLUMN runs.pages_failed IS 'Pages that could not be parsed in this run (see rejects).';
COMMENT ON COLUMN runs.pages_skipped IS 'Pages already processed by an earlier run and not parsed again.';
COMMENT ON COLUMN runs.sightings_added IS 'Sighting rows written by this run.';
COMMENT ON COLUMN runs.rejects_added IS 'Reject rows written by this run.';
COMMENT ON COLUMN runs.message IS 'One-line summary of the run, including the first failures.';

CREATE TABLE IF NOT EXISTS raw_pages (
    page_id        VARCHAR PRIMARY KEY,
    source         VARCHAR NOT NULL,
    url            VARCHAR,
    format         VARCHAR NOT NULL,
    sha256         VARCHAR NOT NULL,
    retrieved_at   TIMESTAMPTZ NOT NULL,
    size_bytes     BIGINT NOT NULL,
    http_status    INTEGER,
    label          VARCHAR,
    first_run_id   INTEGER NOT NULL,
    parse_status   VARCHAR NOT NULL,
    parse_error    VARCHAR,
    parsed_run_id  INTEGER,
    sightings_count INTEGER,
    page_info      JSON
);
COMMENT ON TABLE raw_pages IS 'One row per archived page (same source, URL and body); the bytes are in raw/objects/<sha256[:2]>/<sha256>.gz.';
COMMENT ON COLUMN raw_pages.page_id IS 'Stable id: first 16 hex digits of sha256(source, url, body sha256).';
COMMENT ON COLUMN raw_pages.source IS 'Site the page came from (e.g. migrantprotection.iom.int).';
COMMENT ON COLUMN raw_pages.url IS 'URL the page was retrieved from; NULL when the supplier did not say.';
COMMENT ON COLUMN raw_pages.format IS 'Page format, which picks the parser: text-listing, text-catalogue, html-listing, html-detail.';
COMMENT ON COLUMN raw_pages.sha256 IS 'SHA-256 of the body as retrieved (before compression).';
COMMENT ON COLUMN raw_pages.retrieved_at IS 'When the body was first retrieved (UTC).';
COMMENT ON COLUMN raw_pages.size_bytes IS 'Size of the body as retrieved, in bytes.';
COMMENT ON COLUMN raw_pages.http_status IS 'HTTP status of the retrieval; NULL for supplied dumps.';
COMMENT ON COLUMN raw_pages.label IS 'Name the page was supplied under (seed dumps), if any.';
COMMENT ON COLUMN raw_pages.first_run_id IS 'Run that first registered the page.';
COMMENT ON COLUMN raw_pages.parse_status IS 'pending, parsed or failed.';
COMMENT ON COLUMN raw_pages.parse_error IS 'Why the page could not be parsed (failed pages only).';
COMMENT ON COLUMN raw_pages.parsed_run_id IS 'Run that last parsed the page.';
COMMENT ON COLUMN raw_pages.sightings_count IS 'Sightings the last parse produced.';
COMMENT ON COLUMN raw_pages.page_info IS 'Facts about the page found while parsing (headings, pager, layout), JSON.';

CREATE TABLE IF NOT EXISTS sightings (
    sighting_id        VARCHAR PRIMARY KEY,
    page_id            VARCHAR NOT NULL,
    run_id             INTEGER NOT NULL,
    source             VARCHAR NOT NULL,
    position           INTEGER NOT NULL,
    kind               VARCHAR NOT NULL,
    title              VARCHAR,
    abstract           VARCHAR,
    abstract_truncated BOOLEAN NOT NULL,
    full_abstract      VARCHAR,
    year               INTEGER,
    page_count         INTEGER,
    isbn               VARCHAR[],
    eisbn              VARCHAR[],
    languages          VARCHAR[],
    text_language      VARCHAR,
    pdf_available      BOOLEAN,
    pdf_urls           VARCHAR[],
    url                VARCHAR,
    canonical_url      VARCHAR,
    detail_url         VARCHAR,
    edition_links      VARCHAR[],
    extra              JSON,
    quality_flags      VARCHAR[]
);
COMMENT ON TABLE sightings IS 'One row per card (listing) or entry (catalogue, detail page) seen on one archived page. The same publication is usually sighted many times; see publications.';
COMMENT ON COLUMN sightings.sighting_id IS 'Stable id: <page_id>:<position>.';
COMMENT ON COLUMN sightings.page_id IS 'The archived page it was seen on (raw_pages.page_id).';
COMMENT ON COLUMN sightings.run_id IS 'Run that wrote the row.';
COMMENT ON COLUMN sightings.source IS 'Site of the page (copied from raw_pages for convenience).';
COMMENT ON COLUMN sightings.position IS '1-based order of the card or entry on its page (page chrome not counted).';
COMMENT ON COLUMN sightings.kind IS 'publication; news (a news article or its teaser); event (an event, seminar, webinar or conference page), course (an e-course or training page), initiative (an initiative, project or programme page) or about (an about, contact, FAQ or other static page): pages that are no publication, one sighting each (title = the page heading, abstract = its opening prose), never deduplicated or exported; caption (a photo caption of a news card). Only publication sightings become editions.';
COMMENT ON COLUMN sightings.title IS 'Title, whitespace and Unicode (NFC) normalised; NULL where the page shows none (text listings).';
COMMENT ON COLUMN sightings.abstract IS 'Abstract or teaser text as shown on the page, without the trailing ... marker.';
COMMENT ON COLUMN sightings.abstract_truncated IS 'True when the page cut the abstract (it ended with ...).';
COMMENT ON COLUMN sightings.full_abstract IS 'Full abstract from the detail page behind a listing card, stored beside the teaser.';
COMMENT ON COLUMN sightings.year IS 'Year of publication.';
COMMENT ON COLUMN sightings.page_count IS 'Number of pages.';
COMMENT ON COLUMN sightings.isbn IS 'Print ISBNs, checksum-verified, as 13 digits.';
COMMENT ON COLUMN sightings.eisbn IS 'Electronic ISBNs (E-ISBN), checksum-verified, as 13 digits.';
COMMENT ON COLUMN sightings.languages IS 'Languages the publication is available in, ISO 639-1 codes.';
COMMENT ON COLUMN sightings.text_language IS 'Language the title and abstract are written in (ISO 639-1), when the page says.';
COMMENT ON COLUMN sightings.pdf_available IS 'Whether the page offers the publication as a PDF.';
COMMENT ON COLUMN sightings.pdf_urls IS 'Links to PDF files shown for the publication.';
COMMENT ON COLUMN sightings.url IS 'Link of the card or entry (its detail page); NULL where the page shows none.';
COMMENT ON COLUMN sightings.canonical_url IS 'url canonicalised (scheme, host case, query order, tracking parameters, trailing slash and /en|/es|/fr interface prefix removed): the same node under two prefixes has one canonical_url.';
COMMENT ON COLUMN sightings.detail_url IS 'Detail page that completed this sighting, if fetched.';
COMMENT ON COLUMN sightings.edition_links IS 'Links to other language editions of the same work shown on the page.';
COMMENT ON COLUMN sightings.extra IS 'Other fields the page shows (type, region, organisation, series, ...), JSON.';
COMMENT ON COLUMN sightings.quality_flags IS 'Oddities kept for review, e.g. not_a_language:Armenia, invalid_isbn:<value>, isbn_on_several_titles:<isbn>, markup_residue_removed.';

CREATE TABLE IF NOT EXISTS rejects (
    reject_id   BIGINT PRIMARY KEY DEFAULT nextval('reject_seq'),
    run_id      INTEGER NOT NULL,
    page_id     VARCHAR,
    stage       VARCHAR NOT NULL,
    position    INTEGER,
    reason      VARCHAR NOT NULL,
    excerpt     VARCHAR,
    record      JSON,
    recorded_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
COMMENT ON TABLE rejects IS 'Everything that could not be loaded, with the reason: whole pages (position NULL) and single records.';
COMMENT ON COLUMN rejects.reject_id IS 'Sequential id.';
COMMENT ON COLUMN rejects.run_id IS 'Run that met the problem.';
COMMENT ON COLUMN rejects.page_id IS 'Archived page concerned (raw_pages.page_id).';
COMMENT ON COLUMN rejects.stage IS 'parse (the page or entry could not be read), validate (the record failed validation) or fetch.';
COMMENT ON COLUMN rejects.position IS 'Position of the record on the page; NULL when the whole page failed.';
COMMENT ON COLUMN rejects.reason IS 'What went wrong, in one line.';
COMMENT ON COLUMN rejects.excerpt IS 'The start of the offending text, to find it in the page.';
COMMENT ON COLUMN rejects.record IS 'The record as parsed, when there was one (JSON).';
COMMENT ON COLUMN rejects.recorded_at IS 'When the reject was written.';
