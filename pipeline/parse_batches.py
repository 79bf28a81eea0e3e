"""Parse batches of archived pages in worker processes, under a per-page time limit; never loads.

Why this and not `PagePool` for a run's parse stage: `PagePool` sends each body over a pipe and
waits for its page, one round trip per page, with the caller reading every object. Here the
caller sends a batch of archive entries (a few hundred bytes each) and each worker reads the
bodies itself, checks them against their hash, parses and validates them (`parse.parse_entry`)
and streams one compact result per page back (`PageResult.as_rows`). The loading process then
only loads, while both cores parse; batches are handed out as workers free up and at most
`ahead` finished batches wait for the loader, so memory stays flat however large the archive.

The time limit holds per page, as in `PagePool`: a thread in the caller reads the workers'
results as they arrive, so a page is timed from the previous page's result. A worker silent for
longer than `timeout_s` is killed; the page it was on becomes a reject ("parse timeout"), a
fresh worker takes the rest of its batch, and the run goes on. A worker that dies costs its
page the same way ("parser crashed").
"""

from __future__ import annotations

import contextlib
import multiprocessing
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from pipeline.archive import Archive, ArchiveEntry
from pipeline.page_result import failed
from pipeline.parse import PageResult, parse_entry
from pipeline.parse_pool import ignore_ctrl_c, timeout_reason

#: a worker starting up imports the parsers and pydantic; its first page is timed from then on
STARTUP_S = 120.0
#: how often the reader thread looks again when nothing arrives (a freed slot, a closed pool)
_TICK_S = 0.05


def _serve(conn: Connection, root: str) -> None:  # pragma: no cover - runs in the worker process
    ignore_ctrl_c()
    archive = Archive(Path(root))
    conn.send(("ready", -1, None))
    while True:
        try:
            entries = conn.recv()
        except EOFError:
            return
        if entries is None:
            return
        for index, entry in enumerate(entries):
            conn.send(("page", index, parse_entry(archive, entry).as_rows()))


class _Job:
    """One batch: its entries and the results received so far, in entry order."""

    def __init__(self, seq: int, entries: Sequence[ArchiveEntry]) -> None:
        self.seq = seq
        self.entries = entries
        self.results: list[PageResult | None] = [None] * len(entries)
        self.next = 0  # first page without a result

    @property
    def done(self) -> bool:
        return self.next >= len(self.entries)


class _Worker:
    def __init__(self, ctx: Any, root: Path) -> None:
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_serve, args=(child, str(root)), daemon=True, name="iom-parse-batch")
        self.process.start()
        child.close()
        self.ready = False
        self.job: _Job | None = None
        self.offset = 0  # index in the job of the first entry sent to this worker
        self.deadline = time.monotonic() + STARTUP_S

    def give(self, job: _Job, timeout_s: float) -> None:
        self.job, self.offset = job, job.next
        self.conn.send(list(job.entries[job.next :]))
        if self.ready:
            self.deadline = time.monotonic() + timeout_s

    def stop(self) -> None:
        try:
            self.conn.close()
        finally:
            if self.process.is_alive():
                self.process.kill()
            self.process.join(5)


class BatchPool:
    """Worker processes that parse batches of archive entries; `map` yields results in order.

    `timeout_s <= 0` parses in the calling process with no limit (for debugging a parser).
    """

    def __init__(self, root: Path, timeout_s: float, workers: int = 2, ahead: int = 2) -> None:
        self.root = Path(root)
        self.timeout_s = timeout_s
        self.size = max(1, workers)
        self.ahead = max(1, ahead)
        self._ctx = multiprocessing.get_context("spawn")
        self._workers: list[_Worker] = []
        self._cond = threading.Condition()
        self._finished: dict[int, list[PageResult]] = {}
        self._error: BaseException | None = None
        self._closed = False
        self._reader: threading.Thread | None = None

    def map(self, batches: Iterable[Sequence[ArchiveEntry]]) -> Iterator[list[PageResult]]:
        """The results of each batch, in the order of the batches and of their entries."""
        if self.timeout_s <= 0:
            archive = Archive(self.root)
            for batch in batches:
                yield [parse_entry(archive, entry) for entry in batch]
            return
        self._reader = threading.Thread(target=self._run, args=(iter(batches),), name="parse-batches", daemon=True)
        self._reader.start()
        seq = 0
        while True:
            with self._cond:
                while seq not in self._finished and self._error is None and self._reader.is_alive():
                    self._cond.wait(_TICK_S)
                if self._error is not None:
                    raise self._error
                results = self._finished.pop(seq, None)
                self._cond.notify_all()
            if results is None:  # the reader ended, and it ends only once every batch is finished
                return
            yield results
            seq += 1

    # -- the reader thread ------------------------------------------------------------------
    def _run(self, batches: Iterator[Sequence[ArchiveEntry]]) -> None:
        try:
            self._dispatch(batches)
        except BaseException as exc:  # handed to the consumer, which raises it
            with self._cond:
                self._error = exc
                self._cond.notify_all()

    def _dispatch(self, batches: Iterator[Sequence[ArchiveEntry]]) -> None:
        waiting: list[_Job] = []  # batches given to no worker yet (or whose worker was stopped)
        seq = 0
        exhausted = False
        while not self._closed:
            with self._cond:
                finished = len(self._finished)
            busy = [w for w in self._workers if w.job is not None]
            # hand out work while the loader keeps up: finished + in hand stays bounded
            while not exhausted and len(waiting) + len(busy) + finished < self.size + self.ahead:
                batch = next(batches, None)
                if batch is None:
                    exhausted = True
                    break
                if batch:
                    waiting.append(_Job(seq, batch))
                else:
                    self._finish(_Job(seq, batch))
                seq += 1
            while waiting and len(busy) < self.size:
                worker = self._idle_worker()
                worker.give(waiting.pop(0), self.timeout_s)
                busy.append(worker)
            if exhausted and not waiting and not busy:
                return
            if not busy:
                time.sleep(_TICK_S)
                continue
            now = time.monotonic()
            timeout = max(0.0, min(min(w.deadline for w in busy) - now, _TICK_S))
            for conn in wait([w.conn for w in busy], timeout):
                worker = next(w for w in busy if w.conn is conn)
                try:
                    kind, index, result = worker.conn.recv()
                except (EOFError, OSError):
                    waiting.insert(0, self._lost(worker, "parser crashed: ParserCrash: parser process died"))
                    continue
                self._received(worker, kind, index, result)
            now = time.monotonic()
            for worker in busy:
                if worker.job is not None and now > worker.deadline:
                    waiting.insert(0, self._lost(worker, timeout_reason(self.timeout_s)))
            waiting.sort(key=lambda job: job.seq)
            for job in [j for j in waiting if j.done]:
                waiting.remove(job)
                self._finish(job)

    def _received(self, worker: _Worker, kind: str, index: int, result: PageResult | None) -> None:
        now = time.monotonic()
        if kind == "ready":
            worker.ready = True
            worker.deadline = now + self.timeout_s
            return
        job = worker.job
        assert job is not None and result is not None
        result.entry = job.entries[worker.offset + index]  # the caller's own entry object
        job.results[worker.offset + index] = result
        job.next = worker.offset + index + 1
        worker.deadline = now + self.timeout_s
        if job.done:
            worker.job = None
            self._finish(job)

    def _lost(self, worker: _Worker, reason: str) -> _Job:
        """Stop a worker stuck on (or killed by) a page: that page fails, its batch goes on."""
        job = worker.job
        assert job is not None
        if not worker.ready:  # it never started: nothing is known about its pages
            reason = "parser crashed: ParserCrash: parse worker did not start"
        job.results[job.next] = failed(PageResult(job.entries[job.next]), reason)
        job.next += 1
        worker.job = None
        self._workers.remove(worker)
        worker.stop()
        return job

    def _idle_worker(self) -> _Worker:
        for worker in self._workers:
            if worker.job is None:
                return worker
        worker = _Worker(self._ctx, self.root)
        self._workers.append(worker)
        return worker

    def _finish(self, job: _Job) -> None:
        with self._cond:
            self._finished[job.seq] = [r for r in job.results if r is not None]
            self._cond.notify_all()

    # -- lifetime ---------------------------------------------------------------------------
    def close(self) -> None:
        self._closed = True
        if self._reader is not None:
            self._reader.join(10)
        for worker in self._workers:
            with contextlib.suppress(OSError):  # already gone: stop() ends it anyway
                worker.conn.send(None)
            worker.stop()
        self._workers = []

    def __enter__(self) -> BatchPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
