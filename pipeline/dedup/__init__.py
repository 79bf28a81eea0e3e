"""Deduplicate publication sightings into editions and works, explained and measured.

Entry point: `run_dedup(con, overrides_path) -> DedupSummary`, called at the end of every
ingest. The rules are stated in `match` (editions) and `match_works` (works); how ids stay
stable in `ids`; how clusters refuse impossible unions in `cluster`.
"""

from pipeline.dedup.run import DedupSummary, run_dedup

__all__ = ["DedupSummary", "run_dedup"]
