"""Run parsers in worker processes with a per-page time limit; never parses in the caller.

Why processes, not threads: a parse that runs away (Lexbor on a hostile tree, a regular
expression backtracking) spends its time in C code that no thread can interrupt, and a thread
left running keeps its CPU. A worker process can be killed: the page becomes a reject with
reason "parse timeout", a fresh worker takes its place, and the run goes on. Workers are
started with `spawn` (forking a process that runs an event loop and DuckDB threads is unsafe)
and kept for the whole run, so the start-up cost is paid once per worker, not per page.

`PagePool.parse` blocks its calling thread only while it waits on a pipe; the crawler calls it
through `asyncio.to_thread`, so the event loop keeps serving every other source meanwhile.
"""

from __future__ import annotations

import multiprocessing
import queue
import signal
import threading
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

from parsers import PARSERS, ParsedPage, ParseError, ShapeError

if TYPE_CHECKING:
    from pipeline.archive import ArchiveEntry
    from pipeline.page_result import PageResult


class ParseTimeout(ParseError):
    """The page took longer than the per-page limit; its worker was stopped."""


def timeout_reason(timeout_s: float) -> str:
    """A timed-out page's reject reason, one wording for the crawl's pool and the load's batches."""
    return f"parse timeout: page not parsed within {timeout_s:g} s"


def ignore_ctrl_c() -> None:  # pragma: no cover - runs in the worker process
    """Ctrl-C reaches the whole process group: the parent ends the run and stops its workers, so a
    worker ignores SIGINT rather than print a KeyboardInterrupt traceback of its own."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class ParserCrash(Exception):
    """The parser raised something other than ParseError, or its process died."""


def _work(fmt: str, body: bytes, url: str | None, entry: ArchiveEntry | None) -> Any:
    """One page's parse; with its archive entry, its records validated too (see `parse_for_load`).

    The same function in a worker and, with no time limit, in the caller, so both give one result.
    """
    parsed = PARSERS[fmt](body, url)
    if entry is None:
        return parsed
    from pipeline.parse import result_from_parsed

    return parsed, result_from_parsed(entry, parsed).as_rows()


def _serve(conn: Connection) -> None:  # pragma: no cover - runs in the worker process
    ignore_ctrl_c()
    # load the validation stack and langcodes' name tables before the first page, not during it
    # (about 0.3 s): a crawl starts its workers while robots.txt and the sitemap download
    from pipeline.models import language_code

    language_code("Español")
    while True:
        try:
            fmt, body, url, entry = conn.recv()
        except EOFError:
            return
        try:
            reply: tuple[Any, ...] = ("ok", _work(fmt, body, url, entry))
        except ShapeError as exc:
            reply = ("shape", str(exc))
        except ParseError as exc:
            reply = ("parse", str(exc))
        except Exception as exc:
            reply = ("crash", f"{type(exc).__name__}: {exc}")
        conn.send(reply)


class _Worker:
    def __init__(self, ctx: Any) -> None:
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_serve, args=(child,), daemon=True, name="iom-parse-worker")
        self.process.start()
        child.close()

    def stop(self) -> None:
        self.conn.close()
        if self.process.is_alive():
            self.process.kill()
        self.process.join(5)


class PagePool:
    """A fixed number of parser processes; `parse` gives a page to an idle one and waits.

    `timeout_s <= 0` parses in the calling process with no limit (for debugging a parser).
    """

    def __init__(self, timeout_s: float, workers: int = 2) -> None:
        self.timeout_s = timeout_s
        self.size = max(1, workers)
        self._ctx = multiprocessing.get_context("spawn")
        self._idle: queue.Queue[_Worker | None] = queue.Queue()
        self._started: list[_Worker] = []
        self._lock = threading.Lock()
        self._closed = False
        for _ in range(self.size):
            self._idle.put(None)  # a slot; its worker is started on first use

    def parse(self, fmt: str, body: bytes, url: str | None) -> ParsedPage:
        parser = PARSERS.get(fmt)
        if parser is None:
            raise ParseError(f"unknown page format {fmt!r} (known: {', '.join(sorted(PARSERS))})")
        if self.timeout_s <= 0:
            return parser(body, url)
        return self._ask((fmt, body, url, None))

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
        return self._ask((entry.format, body, entry.url, entry))

    def _ask(self, message: tuple[Any, ...]) -> Any:
        worker = self._idle.get()
        try:
            if worker is not None and not worker.process.is_alive():
                self._retire(worker)
                worker = None
            if worker is None:
                worker = self._start()
            worker.conn.send(message)
            if not worker.conn.poll(self.timeout_s):
                self._retire(worker)
                worker = None
                raise ParseTimeout(timeout_reason(self.timeout_s))
            try:
                kind, value = worker.conn.recv()
            except (EOFError, OSError) as exc:
                self._retire(worker)
                worker = None
                raise ParserCrash("parser process died") from exc
        finally:
            self._idle.put(worker)
        if kind == "ok":
            return value
        if kind == "shape":
            raise ShapeError(value)
        if kind == "parse":
            raise ParseError(value)
        raise ParserCrash(value)

    def warm(self) -> None:
        """Start every worker now, in the background, instead of on the first page.

        Starting a worker (spawn, then importing the parsers) takes about 0.2 s; a crawl calls this
        before its first request, so that time passes while robots.txt and the sitemap download.
        """
        if self.timeout_s <= 0:
            return

        def start_all() -> None:
            slots: list[_Worker | None] = []
            while len(slots) < self.size:
                worker = self._idle.get()
                if worker is None:
                    try:
                        worker = self._start()
                    except ParserCrash:  # closed meanwhile
                        worker = None
                slots.append(worker)
            for worker in slots:
                self._idle.put(worker)

        threading.Thread(target=start_all, name="iom-parse-warm", daemon=True).start()

    def _start(self) -> _Worker:
        with self._lock:
            if self._closed:
                raise ParserCrash("parse pool is closed")
            worker = _Worker(self._ctx)
            self._started.append(worker)
            return worker

    def _retire(self, worker: _Worker) -> None:
        with self._lock:
            if worker in self._started:
                self._started.remove(worker)
        worker.stop()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            workers, self._started = self._started, []
        for worker in workers:
            worker.stop()

    def __enter__(self) -> PagePool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
