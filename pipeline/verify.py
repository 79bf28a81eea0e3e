"""Check the raw archive against itself, and move the lines that cannot be read out of the way.

What a check covers: every object against the hash it is named by (missing, not gzip, edited);
every manifest and fetch-log line (JSON, each field of its type); every object a manifest or
fetch-log line points to; and a manifest lost while objects remain. Unreadable lines are moved
to side files (`archive.quarantine_lines`), so the next run reads clean files; objects are never
touched here: the crawler fetches a page again when its object is damaged.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pipeline.archive import (
    Archive,
    BadLine,
    FetchLog,
    check_fetch_record,
    entry_from_record,
    quarantine_lines,
    rejected_path,
)
from pipeline.errors import ArchiveError


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the archive: where, and what."""

    where: str
    reason: str

    def __str__(self) -> str:
        return f"{self.where}: {self.reason}"


@dataclass
class VerifyReport:
    problems: list[Problem] = field(default_factory=list)
    #: not damage, but worth a look: objects no manifest line names (a crash between writing an
    #: object and its line leaves one; many mean manifest lines were lost)
    warnings: list[Problem] = field(default_factory=list)
    objects: int = 0
    manifest_entries: int = 0
    fetch_records: int = 0
    quarantined: int = 0

    @property
    def clean(self) -> bool:
        return not self.problems

    @property
    def summary(self) -> str:
        verdict = "archive intact" if self.clean else f"{len(self.problems)} problems"
        return (
            f"{verdict}: {self.objects} objects, {self.manifest_entries} manifest lines, "
            f"{self.fetch_records} fetch-log lines checked; {self.quarantined} lines quarantined, "
            f"{len(self.warnings)} warnings"
        )


def quarantine_archive_lines(archive: Archive) -> list[BadLine]:
    """Move unreadable manifest and fetch-log lines into their side files; return what moved."""
    return quarantine_lines(archive.manifest, entry_from_record) + quarantine_lines(
        FetchLog(archive.root).path, check_fetch_record
    )


def bad_line_problem(archive: Archive, line: BadLine) -> Problem:
    """The file, the line, why it was unreadable, and the side file it went to."""
    moved_to = rejected_path(archive.root / line.file).name
    return Problem(f"{line.file} line {line.lineno}", f"{line.reason}; moved to {moved_to}")


def index_problem(archive: Archive) -> str | None:
    """Say so when the manifest is gone (missing, emptied, nothing readable) but objects remain.

    The manifest is the only record of which site, URL, format and time each object belongs to;
    an object alone cannot say. Going on would report `ok` while the warehouse no longer matches
    the archive, and the crawler, which remembers pages through the fetch log, would not archive
    them again, so the loss would become permanent. The caller refuses to run instead.
    """
    objects = archive.object_shas()
    if not objects or any(True for _ in archive.iter_entries()):
        return None
    state = "missing" if not archive.manifest.exists() else "without a single readable line"
    return (
        f"{archive.manifest} is {state} but {archive.objects} holds {len(objects)} objects: the record of "
        f"what each object is (site, URL, format, time) is lost, so nothing was run or changed. Restore the "
        f"manifest from a backup or version control (e.g. git checkout -- raw/manifest.jsonl), or move "
        f"{archive.root} aside to start a new archive"
    )


def verify_archive(archive: Archive) -> VerifyReport:
    """Check everything in the archive, quarantining unreadable lines as it goes."""
    if not archive.root.is_dir():
        raise ArchiveError(f"no archive at {archive.root}")
    report = VerifyReport()
    lost = index_problem(archive)
    if lost:
        report.problems.append(Problem(archive.manifest.name, lost))
    moved = quarantine_archive_lines(archive)
    report.quarantined = len(moved)
    report.problems += [bad_line_problem(archive, line) for line in moved]
    entries = list(archive.iter_entries())
    records = list(FetchLog(archive.root).records())
    report.manifest_entries, report.fetch_records = len(entries), len(records)
    users: dict[str, int] = {}
    for entry in entries:
        users[entry.sha256] = users.get(entry.sha256, 0) + 1
    logged = {r["sha256"] for r in records if r.get("sha256")}
    on_disk = set(archive.object_shas())
    report.objects = len(on_disk)
    for sha in sorted(on_disk | set(users) | logged):
        reason = archive.object_problem(sha)
        if reason:
            named = f" (named by {users[sha]} manifest lines)" if sha in users else ""
            report.problems.append(Problem(f"object {sha[:12]}", reason + named))
    if not lost:
        for sha in sorted(on_disk - set(users)):
            report.warnings.append(Problem(f"object {sha[:12]}", "no manifest line names it"))
    return report
