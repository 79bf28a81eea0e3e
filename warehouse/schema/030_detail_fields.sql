-- Detail pages: the table of contents and the attachment table, as fields of the one record a
-- detail page gives (never as records of their own).

ALTER TABLE sightings ADD COLUMN IF NOT EXISTS toc VARCHAR[];
ALTER TABLE sightings ADD COLUMN IF NOT EXISTS attachments VARCHAR[];
COMMENT ON COLUMN sightings.toc IS 'Table of contents printed on a detail page, one entry per item (bullets removed); empty elsewhere.';
COMMENT ON COLUMN sightings.attachments IS 'Attachment rows of a detail page as printed, "<label> <size> <unit>" (e.g. ENGLISH 787.11 KB); empty elsewhere.';
