-- Analyst views. Views are replaced on every run, so they always match the code.

CREATE OR REPLACE VIEW publications AS
WITH keyed AS (
    SELECT
        s.*,
        md5(
            lower(regexp_replace(coalesce(s.title, ''), '[^[:alnum:]]+', ' ', 'g')) || '|' ||
            lower(regexp_replace(coalesce(s.abstract, ''), '[^[:alnum:]]+', ' ', 'g'))
        ) AS publication_id
    FROM sightings AS s
    WHERE s.kind = 'publication'
)
SELECT
    publication_id,
    any_value(title ORDER BY title NULLS LAST)                         AS title,
    any_value(abstract)                                                AS abstract,
    bool_and(abstract_truncated)                                       AS abstract_truncated,
    max(year)                                                          AS year,
    max(page_count)                                                    AS page_count,
    list_distinct(flatten(list(isbn)))                                 AS isbn,
    list_distinct(flatten(list(eisbn)))                                AS eisbn,
    list_distinct(flatten(list(languages)))                            AS languages,
    bool_or(pdf_available)                                             AS pdf_available,
    list_distinct(list(source))                                        AS sources,
    count(*)                                                           AS sighting_count,
    list(sighting_id ORDER BY sighting_id)                             AS sighting_ids,
    list_distinct(flatten(list(quality_flags)))                        AS quality_flags
FROM keyed
GROUP BY publication_id;
COMMENT ON VIEW publications IS 'One row per distinct publication known so far: sightings with the same normalised title and abstract text (exact-duplicate grouping).';
