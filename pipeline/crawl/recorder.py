"""Recording a crawl: bodies into the archive and outcomes into the fetch log, off the event loop.

Every page used to cost a gzip and three fsyncs on the event loop, during which no other request
of any site progressed. `ArchiveWriter` moves that to one thread and commits in groups: the
objects of a group are written and fsync'ed, then the group's manifest lines (one fsync), then
its fetch-log lines (one fsync). The order inside a group and between groups is the order of
submission, so the resume rules of a killed run hold as before: a fetch-log line never names a
body that is not durable, and a section's "complete" line comes after the lines of its details.

`Recorder` is one source's view: it counts outcomes, keeps the crawl's in-memory state (validators,
intact objects, known detail pages) current at once, and hands the disk work to the writer.
"""

from __future__ import annotations

import hashlib
import queue
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pipeline.archive import Archive, ArchiveEntry, FetchLog, FetchState
from pipeline.crawl.report import CrawlOptions, SourceReport
from pipeline.errors import ArchiveError, ArchiveWriteError
from pipeline.fetch import FetchOutcome
from pipeline.sources import Source
from pipeline.urls import canonical_url

#: most submissions one group commit takes
GROUP_MAX = 64
#: threads writing a group's objects at once (their fsyncs are committed together)
OBJECT_THREADS = 8
_STOP = object()


class ArchiveWriter:
    """One thread that writes everything a crawl records, in submission order.

    A write that fails (disk full, permissions) stops the writer: what was submitted before the
    failing group's first object is durable; the failure is raised, as an `ArchiveWriteError`
    carrying the errno, by the next `submit` or by `close`, so the crawl of the source that
    submitted next stops with the reason, and the command line can tell a full raw/ by its type.
    """

    def __init__(self, archive: Archive, fetch_log: FetchLog) -> None:
        self.archive = archive
        self.fetch_log = fetch_log
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._error: ArchiveWriteError | None = None
        self._objects = ThreadPoolExecutor(OBJECT_THREADS, thread_name_prefix="iom-archive-object")
        self._thread = threading.Thread(target=self._run, name="iom-archive-writer", daemon=True)
        self._thread.start()

    def submit(self, body: tuple[bytes, ArchiveEntry] | None, record: dict[str, Any]) -> None:
        """Queue a body (if any) and the fetch-log record that names it."""
        if self.failure is not None:
            raise self.failure
        self._queue.put((body, record))

    def close(self) -> None:
        """Wait until everything submitted is durable; raise the writer's failure, if any."""
        self._queue.put(_STOP)
        self._thread.join()
        self._objects.shutdown()
        if self.failure is not None:
            raise self.failure

    @property
    def failure(self) -> ArchiveWriteError | None:
        """Why the writer stopped (typed, with the errno), or None while it writes."""
        return self._error

    def _run(self) -> None:
        stopping = False
        while not stopping:
            group = [self._queue.get()]
            while len(group) < GROUP_MAX:
                try:
                    group.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            if _STOP in group:
                stopping = True
                group = group[: group.index(_STOP)]
            if self._error is not None or not group:
                continue  # after a failure nothing more is written; close() reports it
            try:
                bodies = [body for body, _ in group if body is not None]
                if bodies:
                    self.archive.store(bodies, self._objects)
                self.fetch_log.append_many([record for _, record in group])
            except BaseException as exc:  # reported to the crawl by submit() and close()
                self._error = ArchiveWriteError(exc)


class Recorder:
    """One source's recording: counts, in-memory crawl state, and submissions to the writer."""

    def __init__(
        self,
        source: Source,
        archive: Archive,
        writer: ArchiveWriter,
        state: FetchState,
        options: CrawlOptions,
        report: SourceReport,
    ) -> None:
        self.source = source
        self.archive = archive
        self.writer = writer
        self.state = state
        self.options = options
        self.report = report
        #: sha256 -> archived body intact, checked once a run (reading a body costs a hash)
        self._intact: dict[str, bool] = {}

    def record(self, outcome: FetchOutcome, fmt: str) -> ArchiveEntry | None:
        """Archive the body (if any) and log the outcome; the log line is written after the body.

        Returns the archive entry of a fetched body (its page_id names the page for the load)."""
        self.report.count(outcome)
        sha = None
        body = None
        entry = None
        if outcome.outcome == "fetched" and outcome.body is not None:
            entry = self.archive.entry_for(
                outcome.body,
                source=self.source.name,
                url=outcome.final_url or outcome.url,
                format=fmt,
                status=outcome.status,
                headers=outcome.headers,
            )
            body = (outcome.body, entry)
            sha = entry.sha256
            self._intact[sha] = True  # the store replaces a damaged copy of this body, if there was one
            self.state.validators[outcome.url] = {
                "etag": outcome.headers.get("etag", ""),
                "last-modified": outcome.headers.get("last-modified", ""),
                "sha256": sha,
                "url": entry.url or outcome.url,
            }
        record = {
            "kind": outcome.kind,
            "source": self.source.name,
            "url": outcome.url,
            "final_url": outcome.final_url,
            "status": outcome.status,
            "outcome": outcome.outcome,
            "reason": outcome.reason,
            "etag": outcome.headers.get("etag"),
            "last_modified": outcome.headers.get("last-modified"),
            "content_type": outcome.headers.get("content-type"),
            "sha256": sha,
            "format": fmt,
            "fetched_at": outcome.fetched_at,
            "attempts": outcome.attempts,
            "elapsed_ms": outcome.elapsed_ms,
            "conditional": outcome.conditional,
            "run_id": self.options.run_id,
        }
        record["fetch_id"] = hashlib.sha256(repr(sorted(record.items())).encode()).hexdigest()[:16]
        self.writer.submit(body, record)
        return entry

    def section(self, record: dict[str, Any]) -> None:
        """A section's walk, logged after everything this source submitted before it."""
        self.writer.submit(None, record)

    def body(self, outcome: FetchOutcome) -> bytes | None:
        """The body of a fetched page, or the archived one after a 304."""
        if outcome.outcome == "fetched":
            return outcome.body
        if outcome.outcome == "not_modified":
            known = self.state.validators.get(outcome.url)
            if known:
                try:
                    return self.archive.read(known["sha256"])
                except ArchiveError as exc:
                    self.report.problems.append(str(exc))
        return None

    def archived(self, sha256: str) -> bool:
        """Whether the body archived under `sha256` is there and matches its hash."""
        if sha256 not in self._intact:
            problem = self.archive.object_problem(sha256)
            self._intact[sha256] = problem is None
            if problem:
                self.report.problems.append(f"{problem}; fetching the page again")
        return self._intact[sha256]

    def validators(self, url: str) -> dict[str, str] | None:
        """Validators for a conditional request, only while the body they point at is intact."""
        found = self.state.validators.get(url)
        if not found or not (found.get("etag") or found.get("last-modified")):
            return None
        if not self.archived(found["sha256"]):
            return None  # a 304 would leave nothing to read: ask for the body
        return found

    def known_details(self) -> tuple[set[str], list[str]]:
        """(canonical URLs of pages archived intact by earlier runs, detail URLs to fetch again).

        A detail page whose body is missing or damaged is fetched again whatever the walk finds.
        Listing URLs are not details and are left out of the known set.
        """
        known: set[str] = set()
        refetch: list[str] = []
        for url, found in self.state.validators.items():
            if not self.source.allows(url):
                continue
            if not self.archived(found["sha256"]):
                if self.state.kinds.get(url) == "detail":
                    refetch.append(url)
                continue
            known.add(canonical_url(url) or url)
        for section in self.source.start_urls:
            known.discard(canonical_url(section) or section)
        return known, refetch
