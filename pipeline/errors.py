"""The pipeline's exception tree, sorted by what the caller must do.

    PipelineError                 base; the CLI turns it into a one-line message and an exit code
    ├── ConfigError               stop: settings or the sources file are wrong
    ├── ArchiveError              stop: raw/ is unreadable or an object does not match its hash
    │   └── ArchiveWriteError     stop the crawl: raw/ refused a write (errno: disk full, permission...)
    ├── WarehouseError            stop: the DuckDB file cannot be opened or written
    │   └── WarehouseLockedError  stop: another process holds the single writer lock
    ├── ExportError               stop: the export file cannot be written (the previous one is kept)
    │   └── UnknownRunError       stop: `export --since` names a run the warehouse does not have
    ├── PageRefused               stop: a page supplied by hand is not one the archive takes
    ├── PageError                 skip with a reason: one page could not be parsed
    └── FetchError                skip with a reason: one URL could not be fetched
        └── RetryableFetchError   retry: timeout, connection reset, 429, 5xx
    KeyboardInterrupt
    └── Interrupted               stop now: SIGTERM or SIGINT; the run records itself `interrupted`

A full disk, a permission denied or a read-only mount arrive as OSError (or as DuckDB's words for
it): `io_failure` finds them along an exception's chain and `io_message` says what to do (exit 5).

Parsers raise `parsers.base.ParseError`; the parse stage wraps it in PageError with the page's
identity, so a message always names the page and its URL.
"""

from __future__ import annotations

import errno
import os
import re


class PipelineError(Exception):
    """Base of every error the pipeline raises on purpose."""


class ConfigError(PipelineError):
    pass


class ArchiveError(PipelineError):
    pass


class ArchiveWriteError(ArchiveError):
    """raw/ refused a write during the crawl; what was submitted before it is durable, nothing after.

    Carries the machine's errno and the path it names, so the command line picks its exit code from
    them (a full, forbidden or read-only raw/ is exit 5) instead of reading the crawl report's text.
    `errno` is None when the writer failed for another reason (a bug, a store's own error).
    """

    def __init__(self, cause: BaseException) -> None:
        failure = io_failure(cause)
        if failure is None and isinstance(cause, OSError):
            failure = (cause.errno or 0, None if cause.filename is None else str(cause.filename))
        self.errno: int | None = failure[0] if failure else None
        self.path: str | None = failure[1] if failure else None
        self.cause = cause
        super().__init__(f"archive writes stopped: {type(cause).__name__}: {cause}")

    def __reduce__(self) -> tuple[object, ...]:  # copied or pickled, it is rebuilt from its cause
        return (type(self), (self.cause,))

    @property
    def machine_refused(self) -> bool:
        """A full disk, a permission denied or a read-only mount: the machine's failure, not the site's."""
        return self.errno in IO_ERRNOS


class WarehouseError(PipelineError):
    pass


class WarehouseLockedError(WarehouseError):
    pass


class ExportError(PipelineError):
    pass


class UnknownRunError(ExportError):
    pass


class PageRefused(PipelineError):
    """A file handed to `archive add` that is refused at the door (the CLI exits 2)."""


class PageError(PipelineError):
    """A page that cannot be turned into records; recorded in `rejects`, the run goes on."""

    def __init__(self, page_id: str, url: str | None, reason: str) -> None:
        self.page_id = page_id
        self.url = url
        self.reason = reason
        super().__init__(f"page {page_id} ({url or 'no URL'}): {reason}")


class FetchError(PipelineError):
    """A URL that could not be fetched; recorded in `fetches`, the crawl goes on."""

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        self.reason = reason
        super().__init__(f"{url}: {reason}")


class RetryableFetchError(FetchError):
    def __init__(self, url: str, reason: str, retry_after: float | None = None) -> None:
        self.retry_after = retry_after
        super().__init__(url, reason)


class Interrupted(KeyboardInterrupt):
    """SIGTERM or SIGINT asked the run to stop: it ends its step, records itself `interrupted`, frees the lock.

    A KeyboardInterrupt, so that no `except Exception` on the way (a crawl task, a parse pool)
    takes it for a page's or a site's failure, and asyncio hands it straight out of its loop.
    `stage` is where the signal found the run (crawl, load, dedup...), `exit_code` the shell's
    convention for a death by that signal (130 SIGINT, 143 SIGTERM), which cron and systemd read.
    """

    def __init__(self, signum: int, stage: str) -> None:
        self.signum = signum
        self.stage = stage
        self.exit_code = 128 + signum
        super().__init__(f"{self.signal_name} during {stage}")

    @property
    def signal_name(self) -> str:
        import signal

        try:
            return signal.Signals(self.signum).name
        except ValueError:
            return f"signal {self.signum}"


#: the machine's refusals: a full disk, no permission, a read-only mount (README "Exit status": 5)
_IO_ADVICE = {
    errno.ENOSPC: "no space left on device", errno.EDQUOT: "disk quota exceeded",
    errno.EACCES: "permission denied", errno.EPERM: "operation not permitted",
    errno.EROFS: "read-only file system",
}  # fmt: skip
IO_ERRNOS = frozenset(_IO_ADVICE)
#: the same refusals as DuckDB words them, with the file it was writing ("... file "<path>": <reason>")
_DUCKDB_IO = re.compile(
    r'"(?P<path>[^"]+)":? (?P<reason>No space left on device|Disk quota exceeded|Permission denied'
    r"|Read-only file system|Operation not permitted)"
)
_REASON_ERRNO = {
    "No space left on device": errno.ENOSPC, "Disk quota exceeded": errno.EDQUOT,
    "Permission denied": errno.EACCES, "Operation not permitted": errno.EPERM,
    "Read-only file system": errno.EROFS,
}  # fmt: skip


def _chain(exc: BaseException) -> list[BaseException]:
    """The exception and those it was raised from or while handling, innermost cause last."""
    seen: list[BaseException] = []
    todo: list[BaseException] = [exc]
    while todo and len(seen) < 50:
        current = todo.pop(0)
        if any(current is s for s in seen):
            continue
        seen.append(current)
        todo.extend(e for e in (current.__cause__, current.__context__) if e is not None)
    return seen


def io_failure(exc: BaseException) -> tuple[int, str | None] | None:
    """(errno, path) of the full disk, denied permission or read-only mount behind `exc`, if any.

    Looked for along the whole chain: a DuckDB write that failed for lack of space invalidates the
    connection, and the run's attempt to record itself then raises a second error on top of it.
    """
    for current in _chain(exc):
        if isinstance(current, OSError) and current.errno in _IO_ADVICE:
            second = current.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS) and current.filename2
            path = current.filename2 if second else current.filename
            return current.errno, None if path is None else str(path)
        if type(current).__module__.split(".")[0] in ("duckdb", "_duckdb"):
            found = _DUCKDB_IO.search(str(current))
            if found:
                return _REASON_ERRNO[found["reason"]], found["path"]
    return None


def io_message(code: int, path: str | None, *, unchanged: str | None = None) -> str:
    """One line: what the machine refused, where, and what to do about it."""
    where = path or "(path not reported)"
    folder = os.path.dirname(path) if path else None
    if code in (errno.ENOSPC, errno.EDQUOT):
        todo = f"free space on its filesystem (df -h {folder or '.'}) and run again"
    elif code == errno.EROFS:
        todo = "remount that filesystem read-write or point --db/--raw at a writable folder"
    else:
        todo = f"give the user running the pipeline write access to {folder or where} or point --db/--raw elsewhere"
    tail = f"; {unchanged}" if unchanged else ""
    return f"{where}: {_IO_ADVICE.get(code, os.strerror(code))} ({errno.errorcode.get(code, code)}); {todo}{tail}"
