-- Cross-language matching (pipeline/dedup/xling.py): sentence vectors of text openings and whole abstracts, so a
-- text is embedded once, ever, and not on every dedup pass. A cache: dropping it costs time only.

CREATE TABLE IF NOT EXISTS text_vectors (
    text_key VARCHAR NOT NULL,
    model VARCHAR NOT NULL,
    vector FLOAT[512] NOT NULL,
    PRIMARY KEY (text_key, model)
);
COMMENT ON TABLE text_vectors IS 'Cache of multilingual sentence vectors of text openings and whole abstracts (the dedup rule similar_text); safe to empty, it refills on the next pass.';
COMMENT ON COLUMN text_vectors.text_key IS 'BLAKE2b (12 bytes, hex) of the compared text: an opening (first 300 characters at a word boundary) or a whole abstract (first 2,000).';
COMMENT ON COLUMN text_vectors.model IS 'Model that made the vector, with its package version (vectors of different models never mix).';
COMMENT ON COLUMN text_vectors.vector IS 'Unit-length 512-dimension vector; cosine similarity is the dot product.';
