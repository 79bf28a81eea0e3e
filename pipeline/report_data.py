"""The run report as plain records: what `pipeline/report.py` reads and `pipeline/report_html.py` draws.

Why a module of its own: the queries import the renderer (to write the page) and the renderer
needs these records' shapes; with the records here both depend on this module and neither on
the other, so the page can be read, tested and changed without the SQL behind it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: rows of a list the page shows before saying "and N more" (the warehouse has them all)
LIST_LIMIT = 40


@dataclass(frozen=True)
class Run:
    run_id: int
    status: str
    started: str
    finished: str | None
    pages_parsed: int | None
    pages_failed: int | None
    sightings_added: int | None
    rejects_added: int | None
    message: str | None


@dataclass(frozen=True)
class SiteRow:
    site: str
    pages: int
    sightings: int
    editions: int
    works: int


@dataclass(frozen=True)
class ChangeItem:
    level: str
    op: str
    id: str
    title: str | None
    title_derived: bool
    language: str | None
    url: str | None
    merged_into: str | None
    merged_into_title: str | None
    #: record_changes.reason of its last change in the run (not listed by ..., listed again, fields)
    reason: str | None = None


@dataclass(frozen=True)
class RunChanges:
    """What one run's passes logged: records per level and operation, withdrawals per reason."""

    run_id: int
    counts: dict[tuple[str, str], int]
    #: (level, reason, records) of the run's withdrawals
    withdrawn: list[tuple[str, str, int]]


@dataclass(frozen=True)
class Sighting:
    source: str
    format: str
    title: str | None
    text: str | None
    url: str | None


@dataclass(frozen=True)
class EditionExample:
    rule: str
    edition_id: str
    title: str | None
    language: str | None
    sighting_count: int
    sources: list[str]
    rules: list[tuple[str, int]]
    sightings: list[Sighting]


@dataclass(frozen=True)
class WorkExample:
    rule: str
    work_id: str
    title: str | None
    languages: list[str]
    editions: list[tuple[str | None, str | None]]
    edition_count: int
    score: float
    evidence: str | None


@dataclass(frozen=True)
class Refusal:
    level: str
    rule: str
    decision: str
    reason: str | None
    count: int


@dataclass(frozen=True)
class FlagRow:
    flag: str
    sightings: int
    editions: int
    examples: list[str]
    example_title: str | None


@dataclass(frozen=True)
class RejectGroup:
    stage: str
    reason: str
    count: int
    last_run: int


@dataclass(frozen=True)
class RejectRow:
    run_id: int
    stage: str
    source: str | None
    url: str | None
    reason: str
    excerpt: str | None


@dataclass(frozen=True)
class FetchFailure:
    outcome: str
    reason: str | None
    status: int | None
    count: int
    sources: list[str]
    example_url: str


@dataclass
class Report:
    """Everything the page shows, as plain values (no markup, nothing escaped yet)."""

    db_path: str
    generated_at: str
    runs: list[Run] = field(default_factory=list)
    totals: dict[str, int] = field(default_factory=dict)
    sites: list[SiteRow] = field(default_factory=list)
    years: list[tuple[int, int]] = field(default_factory=list)
    years_unknown: int = 0
    types: list[tuple[str, int]] = field(default_factory=list)
    types_unknown: int = 0
    languages: list[tuple[str, int]] = field(default_factory=list)
    change_run: int | None = None
    previous_run: int | None = None
    change_counts: dict[tuple[str, str], int] = field(default_factory=dict)
    changes: list[ChangeItem] = field(default_factory=list)
    #: (level, op, reason, records) of the current run's net changes
    change_reasons: list[tuple[str, str, str, int]] = field(default_factory=list)
    #: the last runs' changes, newest first
    change_history: list[RunChanges] = field(default_factory=list)
    dedup_run: int | None = None
    edition_rules: list[tuple[str, int]] = field(default_factory=list)
    work_rules: list[tuple[str, int]] = field(default_factory=list)
    merged_editions: int = 0
    multilingual_works: int = 0
    edition_examples: list[EditionExample] = field(default_factory=list)
    work_examples: list[WorkExample] = field(default_factory=list)
    refusals: list[Refusal] = field(default_factory=list)
    flags: list[FlagRow] = field(default_factory=list)
    reject_groups: list[RejectGroup] = field(default_factory=list)
    recent_rejects: list[RejectRow] = field(default_factory=list)
    fetch_run: int | None = None
    fetch_outcomes: list[tuple[str, int]] = field(default_factory=list)
    fetch_failures: list[FetchFailure] = field(default_factory=list)
    fetch_failures_all_runs: int = 0

    @property
    def current_run(self) -> Run | None:
        return self.runs[0] if self.runs else None
