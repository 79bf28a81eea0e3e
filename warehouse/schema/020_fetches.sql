-- Crawling: one row per request, and what each run's crawl did.

CREATE TABLE IF NOT EXISTS fetches (
    fetch_id      VARCHAR PRIMARY KEY,
    run_id        INTEGER,
    source        VARCHAR NOT NULL,
    kind          VARCHAR NOT NULL,
    url           VARCHAR NOT NULL,
    final_url     VARCHAR,
    status        INTEGER,
    outcome       VARCHAR NOT NULL,
    reason        VARCHAR,
    conditional   BOOLEAN,
    etag          VARCHAR,
    last_modified VARCHAR,
    content_type  VARCHAR,
    sha256        VARCHAR,
    fetched_at    TIMESTAMPTZ NOT NULL,
    attempts      INTEGER,
    elapsed_ms    INTEGER
);
COMMENT ON TABLE fetches IS 'One row per HTTP request outcome of the crawler (loaded from raw/fetchlog.jsonl). A fetched body is in raw_pages/raw objects by sha256; a 304 reuses the archived body.';
COMMENT ON COLUMN fetches.fetch_id IS 'Stable id of the log line.';
COMMENT ON COLUMN fetches.run_id IS 'Run whose crawl made the request.';
COMMENT ON COLUMN fetches.source IS 'Site, as named in the sources file.';
COMMENT ON COLUMN fetches.kind IS 'robots, sitemap, listing or detail.';
COMMENT ON COLUMN fetches.url IS 'URL requested.';
COMMENT ON COLUMN fetches.final_url IS 'URL answered after redirects within the allowed hosts.';
COMMENT ON COLUMN fetches.status IS 'Last HTTP status received; NULL when no answer came.';
COMMENT ON COLUMN fetches.outcome IS 'fetched (body archived), not_modified (304), refused (off-site redirect, oversized or non-HTML body), disallowed (robots.txt), failed (after retries), unreachable (host down).';
COMMENT ON COLUMN fetches.reason IS 'Why the request did not yield a body, in one line.';
COMMENT ON COLUMN fetches.conditional IS 'True when the request carried If-None-Match / If-Modified-Since.';
COMMENT ON COLUMN fetches.etag IS 'ETag of the response, sent back as If-None-Match next time.';
COMMENT ON COLUMN fetches.last_modified IS 'Last-Modified of the response, sent back as If-Modified-Since next time.';
COMMENT ON COLUMN fetches.content_type IS 'Content-Type of the response.';
COMMENT ON COLUMN fetches.sha256 IS 'SHA-256 of the archived body (fetched outcomes only).';
COMMENT ON COLUMN fetches.fetched_at IS 'When the request was made (UTC).';
COMMENT ON COLUMN fetches.attempts IS 'Attempts made, retries included.';
COMMENT ON COLUMN fetches.elapsed_ms IS 'Time spent on the request, waits between retries included.';

ALTER TABLE runs ADD COLUMN IF NOT EXISTS crawl JSON;
ALTER TABLE runs ADD COLUMN IF NOT EXISTS layout_alerts VARCHAR[];
ALTER TABLE runs ADD COLUMN IF NOT EXISTS sources_unreachable VARCHAR[];
COMMENT ON COLUMN runs.crawl IS 'Per source: requests, outcomes, listing and detail pages, problems (JSON). NULL for runs that did not crawl.';
COMMENT ON COLUMN runs.layout_alerts IS 'Listing pages that yielded no cards, far fewer than usual, or needed the text fallback: a sign the site changed its markup.';
COMMENT ON COLUMN runs.sources_unreachable IS 'Sources that could not be crawled in this run (unreachable host, robots.txt unavailable).';

ALTER TABLE runs ADD COLUMN IF NOT EXISTS dedup JSON;
COMMENT ON COLUMN runs.dedup IS 'What the deduplication pass did (editions, works, joins, vetoes, ids kept/created/merged), or skipped=true when its inputs had not changed since the last pass (JSON).';
