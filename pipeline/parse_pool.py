"""Run parsers in worker processes with a per-page time limit; never parses in the caller.

Why processes, not threads: a parse that runs away (Lexbor on a hostile tree, a regular
expression backtracking) spends its time in C code that no thread can interrupt, and a thread
left running keeps its CPU. A worker process can be killed: the page becomes a reject with
reason "parse timeout", a fresh worker takes its place, and the run goes on. Workers are
started with `spawn` (forking a process that runs an event loop and DuckDB threads is unsafe)
and kept for the whole run, so the start-up cost is paid once per worker, not per page.

One pool serves both callers, each in the shape that costs it least:
- the crawl gives one page at a time, body included (`parse`, `parse_for_load`); it calls
  through `asyncio.to_thread`, so the event loop serves every other source while it waits;
- the load gives batches of archive entries (`map`, a few hundred bytes each): a worker reads
  the bodies itself, checks them against their hash, parses and validates them and streams one
  compact result per page back (`PageResult.as_rows`), so the loading process only loads while
  both cores parse. At most `ahead` finished batches wait for the loader: memory stays flat
  however large the archive.

The time limit holds per page either way: one thread in the caller (the dispatcher) hands jobs
to idle workers and reads their results as they arrive, so a page is timed from the previous
page's result (a worker's first page from the moment it is ready). A worker silent for longer
than `timeout_s` is killed; the page it was on fails ("parse timeout"), a fresh worker takes
the rest of its job, and the run goes on. A worker that dies costs its page the same way
("parser crashed").
"""

from __future__ import annotations

import contextlib
import multiprocessing
import queue
import signal
import socket
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import TYPE_CHECKING, Any

from parsers import PARSERS, ParsedPage, ParseError, ShapeError
from pipeline.archive import Archive, ArchiveEntry

if TYPE_CHECKING:
    from pipeline.page_result import PageResult

#: a worker starting up imports the parsers and pydantic; its first page is timed from then on
STARTUP_S = 120.0
#: a page whose worker died, and one whose worker never started
DIED = "parser process died"
NOT_STARTED = "parse worker did not start"
CLOSED = "parse pool is closed"


class ParseTimeout(ParseError):
    """The page took longer than the per-page limit; its worker was stopped."""


class ParserCrash(Exception):
    """The parser raised something other than ParseError, or its process died."""


def timeout_reason(timeout_s: float) -> str:
    """A timed-out page's reject reason."""
    return f"parse timeout: page not parsed within {timeout_s:g} s"


def ignore_ctrl_c() -> None:  # pragma: no cover - runs in the worker process
    """Ctrl-C reaches the whole process group: the parent ends the run and stops its workers, so a
    worker ignores SIGINT rather than print a KeyboardInterrupt traceback of its own."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@dataclass(frozen=True)
class _Inline:
    """A page the caller holds in memory (the crawl's); with its entry, its records validated too."""

    fmt: str
    body: bytes
    url: str | None
    entry: ArchiveEntry | None


def _work(fmt: str, body: bytes, url: str | None, entry: ArchiveEntry | None) -> Any:
    """One page's parse; with its archive entry, its records validated too (see `parse_for_load`).

    The same function in a worker and, with no time limit, in the caller, so both give one result.
    """
    parsed = PARSERS[fmt](body, url)
    if entry is None:
        return parsed
    from pipeline.parse import result_from_parsed

    return parsed, result_from_parsed(entry, parsed).as_rows()


def _inline_reply(page: _Inline) -> tuple[str, Any]:
    """A crawl page's outcome as plain data: exceptions do not cross the pipe, their kind does."""
    try:
        return "ok", _work(page.fmt, page.body, page.url, page.entry)
    except ShapeError as exc:
        return "shape", str(exc)
    except ParseError as exc:
        return "parse", str(exc)
    except Exception as exc:
        return "crash", f"{type(exc).__name__}: {exc}"


def _serve(conn: Connection, root: str | None) -> None:  # pragma: no cover - runs in the worker process
    ignore_ctrl_c()
    # load the validation stack and langcodes' name tables before the first page, not during it
    # (about 0.3 s): a crawl starts its workers while robots.txt and the sitemap download
    from pipeline.models import language_code
    from pipeline.parse import parse_entry

    language_code("Español")
    archive = Archive(Path(root)) if root is not None else None
    conn.send(("ready", -1, None))
    while True:
        try:
            items = conn.recv()
        except EOFError:
            return
        if items is None:
            return
        for index, item in enumerate(items):
            if isinstance(item, _Inline):
                reply: Any = _inline_reply(item)
            else:
                assert archive is not None  # `map` refuses entries without the archive's root
                reply = parse_entry(archive, item).as_rows()
            conn.send(("page", index, reply))


class _Job:
    """Pages given to the pool at once (one crawl page, or one batch): replies arrive in order."""

    def __init__(self, items: Sequence[ArchiveEntry | _Inline]) -> None:
        self.items = items
        self.replies: list[Any] = [None] * len(items)
        self.next = 0  # first page without a reply
        self.finished = threading.Event()

    @property
    def done(self) -> bool:
        return self.next >= len(self.items)

    def fail_page(self, reason: str, timed_out: bool) -> None:
        """The page in hand gets no parse: an entry becomes a failed result, a crawl page an error."""
        item = self.items[self.next]
        if isinstance(item, _Inline):
            self.replies[self.next] = ("timeout" if timed_out else "died", reason)
        else:
            from pipeline.page_result import PageResult, failed

            why = reason if timed_out else f"parser crashed: {ParserCrash.__name__}: {reason}"
            self.replies[self.next] = failed(PageResult(item), why)
        self.next += 1


class _Worker:
    def __init__(self, ctx: Any, root: Path | None) -> None:
        self.conn, child = ctx.Pipe()
        args = (child, str(root) if root is not None else None)
        self.process = ctx.Process(target=_serve, args=args, daemon=True, name="iom-parse-worker")
        self.process.start()
        child.close()
        self.ready = False
        self.job: _Job | None = None
        self.offset = 0  # index in the job of the first item sent to this worker
        self.deadline = time.monotonic() + STARTUP_S

    def give(self, job: _Job, timeout_s: float) -> None:
        self.job, self.offset = job, job.next
        self.conn.send(list(job.items[job.next :]))
        if self.ready:
            self.deadline = time.monotonic() + timeout_s

    def stop(self) -> None:
        try:
            with contextlib.suppress(OSError):  # already gone: the kill ends it anyway
                self.conn.send(None)
            self.conn.close()
        finally:
            if self.process.is_alive():
                self.process.kill()
            self.process.join(5)


class PagePool:
    """A fixed number of parser processes, started on first use and kept until `close`.

    `root` is the archive the workers read entries from (`map`); the crawl, which sends bodies,
    needs none. `timeout_s <= 0` parses in the calling process with no limit (for debugging a
    parser).
    """

    def __init__(self, timeout_s: float, workers: int = 2, *, root: Path | None = None, ahead: int = 2) -> None:
        self.timeout_s = timeout_s
        self.size = max(1, workers)
        self.root = Path(root) if root is not None else None
        self.ahead = max(1, ahead)
        self._ctx = multiprocessing.get_context("spawn")
        self._workers: list[_Worker] = []
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._open: set[_Job] = set()  # given and not finished: failed by `close` if it comes first
        self._lock = threading.Lock()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._dispatcher: threading.Thread | None = None
        self._warm = False
        self._closed = False
        self._error: BaseException | None = None

    # -- the crawl: one page at a time --------------------------------------------------------
    def parse(self, fmt: str, body: bytes, url: str | None) -> ParsedPage:
        parser = PARSERS.get(fmt)
        if parser is None:
            raise ParseError(f"unknown page format {fmt!r} (known: {', '.join(sorted(PARSERS))})")
        if self.timeout_s <= 0:
            return parser(body, url)
        return self._ask(_Inline(fmt, body, url, None))

    def parse_for_load(self, body: bytes, entry: ArchiveEntry) -> tuple[ParsedPage, PageResult]:
        """Parse an archived page and validate its records, both in the worker.

        The crawl parses every page it fetches to find its links; validating there too hands the
        load finished rows (`PageResult.as_rows`), so the loading process neither parses nor
        validates the pages of its own run's crawl.
        """
        if entry.format not in PARSERS:
            raise ParseError(f"unknown page format {entry.format!r} (known: {', '.join(sorted(PARSERS))})")
        if self.timeout_s <= 0:
            return _work(entry.format, body, entry.url, entry)
        return self._ask(_Inline(entry.format, body, entry.url, entry))

    def _ask(self, page: _Inline) -> Any:
        job = self._submit([page])
        self._wait(job)
        kind, value = job.replies[0]
        if kind == "ok":
            return value
        if kind == "shape":
            raise ShapeError(value)
        if kind == "parse":
            raise ParseError(value)
        if kind == "timeout":
            raise ParseTimeout(value)
        raise ParserCrash(value)

    # -- the load: batches of archive entries -------------------------------------------------
    def map(self, batches: Iterable[Sequence[ArchiveEntry]]) -> Iterator[list[PageResult]]:
        """The results of each batch, in the order of the batches and of their entries."""
        if self.root is None:
            raise ValueError("PagePool.map needs the archive's root (PagePool(..., root=...))")
        if self.timeout_s <= 0:
            from pipeline.parse import parse_entry

            archive = Archive(self.root)
            for batch in batches:
                yield [parse_entry(archive, entry) for entry in batch]
            return
        pending: deque[tuple[Sequence[ArchiveEntry], _Job]] = deque()
        source = iter(batches)

        def fill() -> None:
            # size + ahead batches given, finished or not, besides the one the loader holds
            while len(pending) < self.size + self.ahead:
                try:
                    batch = next(source)
                except StopIteration:
                    return
                pending.append((batch, self._submit(batch)))

        fill()
        while pending:
            batch, job = pending.popleft()
            fill()
            self._wait(job)
            results: list[PageResult] = job.replies
            for result, entry in zip(results, batch, strict=True):
                result.entry = entry  # the caller's own entry object
            yield results

    # -- the dispatcher thread ----------------------------------------------------------------
    def _submit(self, items: Sequence[ArchiveEntry | _Inline]) -> _Job:
        job = _Job(items)
        if not items:
            job.finished.set()
            return job
        with self._lock:
            if self._closed:
                raise ParserCrash(CLOSED)
            self._open.add(job)
            self._start_dispatcher()
        self._jobs.put(job)
        self._wake()
        return job

    def _wait(self, job: _Job) -> None:
        # timed: a SIGTERM the kernel hands to the dispatcher thread runs its handler only when
        # this (main) thread next runs bytecode, which an untimed wait would put off to the job's end
        while not job.finished.wait(0.2):
            pass
        if self._error is not None:
            raise self._error

    def _wake(self) -> None:
        with contextlib.suppress(OSError):  # closed meanwhile, or already woken many times over
            self._wake_w.send(b"\0")

    def _start_dispatcher(self) -> None:
        if self._dispatcher is None:
            self._dispatcher = threading.Thread(target=self._run, name="iom-parse-dispatch", daemon=True)
            self._dispatcher.start()

    def _run(self) -> None:
        try:
            self._dispatch()
        except BaseException as exc:  # handed to every waiting caller, which raises it
            self._error = exc
        finally:
            self._fail_open(CLOSED)

    def _dispatch(self) -> None:
        waiting: deque[_Job] = deque()  # jobs given to no worker yet (or whose worker was stopped)
        while True:
            while True:
                try:
                    job = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if job is None:
                    return
                waiting.append(job)
            if self._warm:
                while len(self._workers) < self.size:
                    self._workers.append(_Worker(self._ctx, self.root))
            busy = [w for w in self._workers if w.job is not None]
            while waiting and len(busy) < self.size:
                busy.append(self._give(waiting.popleft()))
            now = time.monotonic()
            timeout = max(0.0, min((w.deadline for w in busy), default=now + 60.0) - now)
            for conn in wait([w.conn for w in busy] + [self._wake_r], timeout):
                if conn is self._wake_r:
                    with contextlib.suppress(OSError):
                        self._wake_r.recv(4096)
                    continue
                worker = next(w for w in busy if w.conn is conn)
                try:
                    kind, index, reply = worker.conn.recv()
                except (EOFError, OSError):
                    self._lost(worker, DIED if worker.ready else NOT_STARTED, False, waiting)
                    continue
                self._received(worker, kind, index, reply)
            now = time.monotonic()
            for worker in busy:
                if worker.job is not None and now > worker.deadline:
                    if worker.ready:
                        self._lost(worker, timeout_reason(self.timeout_s), True, waiting)
                    else:
                        self._lost(worker, NOT_STARTED, False, waiting)

    def _give(self, job: _Job) -> _Worker:
        """An idle live worker (a new one if none) takes the job."""
        while True:
            worker = next((w for w in self._workers if w.job is None), None)
            if worker is not None and not worker.process.is_alive():
                self._retire(worker)
                continue
            if worker is None:
                worker = _Worker(self._ctx, self.root)
                self._workers.append(worker)
            try:
                worker.give(job, self.timeout_s)
            except OSError:  # it died idle: its pipe is closed
                worker.job = None
                self._retire(worker)
                continue
            return worker

    def _received(self, worker: _Worker, kind: str, index: int, reply: Any) -> None:
        now = time.monotonic()
        worker.deadline = now + self.timeout_s
        if kind == "ready":
            worker.ready = True
            return
        job = worker.job
        assert job is not None
        job.replies[worker.offset + index] = reply
        job.next = worker.offset + index + 1
        if job.done:
            worker.job = None
            self._finish(job)

    def _lost(self, worker: _Worker, reason: str, timed_out: bool, waiting: deque[_Job]) -> None:
        """Stop a worker stuck on (or killed by) a page: that page fails, its job goes on."""
        job = worker.job
        assert job is not None
        job.fail_page(reason, timed_out)
        worker.job = None
        self._retire(worker)
        if job.done:
            self._finish(job)
        else:
            waiting.appendleft(job)

    def _retire(self, worker: _Worker) -> None:
        self._workers.remove(worker)
        worker.stop()

    def _finish(self, job: _Job) -> None:
        with self._lock:
            self._open.discard(job)
        job.finished.set()

    def _fail_open(self, reason: str) -> None:
        """Jobs still open when the dispatcher ends: their callers get an error, never a hang."""
        with self._lock:
            jobs, self._open = self._open, set()
        for job in jobs:
            while not job.done:
                job.fail_page(reason, timed_out=False)
            job.finished.set()

    # -- lifetime -----------------------------------------------------------------------------
    def warm(self) -> None:
        """Start every worker now, in the background, instead of on the first page.

        Starting a worker (spawn, then importing the parsers) takes about 0.2 s; a crawl calls this
        before its first request, so that time passes while robots.txt and the sitemap download.
        """
        if self.timeout_s <= 0:
            return
        with self._lock:
            if self._closed:
                return
            self._warm = True
            self._start_dispatcher()
        self._wake()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            dispatcher = self._dispatcher
        if dispatcher is not None:
            self._jobs.put(None)
            self._wake()
            dispatcher.join(10)
        for worker in self._workers:
            worker.stop()
        self._workers = []
        self._fail_open(CLOSED)
        self._wake_r.close()
        self._wake_w.close()

    def __enter__(self) -> PagePool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
