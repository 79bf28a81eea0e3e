"""Deduplicate publication sightings into editions and works, explained and measured.

Entry point: `run_dedup(con, overrides_path) -> DedupSummary`, called at the end of every
ingest. The rules are stated in `match` (editions) and `match_works` (works); how ids stay
stable in `ids`; how clusters refuse impossible unions in `cluster`.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pipeline.dedup.run import DedupSummary, run_dedup


def __getattr__(name: str) -> Any:
    """The dedup stack (numpy, scipy, datasketch) loads only when a pass runs, not for `--help`."""
    if name in ("DedupSummary", "run_dedup"):
        from pipeline.dedup import run

        return getattr(run, name)
    raise AttributeError(name)


__all__ = ["DedupSummary", "run_dedup"]
