"""The warehouse as callers see it, and its DuckDB-file backend (the lake's is pipeline/lake.py).

Callers import what they need from here: `connect`, `migrate`, `open_writer`, `open_readers`,
`committed`, `next_ids`, `transaction`, `location`... Each asks `backend_for(location)` or
`backend_of(connection)` for the backend in use (`pipeline/backend.py` names what both must do)
and hands the work to it, so no other module branches on the backend. What is below the file's:
opening a DuckDB file, its schema steps, and the working copy a run writes and publishes whole.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import re
import shutil
import stat
import time
from collections.abc import Callable
from glob import escape as glob_escape
from pathlib import Path
from typing import TypeVar

import duckdb

from pipeline import lake
from pipeline.backend import (
    MEMORY_LIMIT,
    SAFE_CONFIG,
    SCHEMA_DIR,
    Backend,
    LakeSpec,
    Location,
    Readers,
    Writer,
    schema_steps,
)
from pipeline.backend import first_line as _first_line

# callers import these from here, beside the rest of the warehouse's calls; the seam defines them
from pipeline.backend import location as location
from pipeline.backend import transaction as transaction
from pipeline.errors import WarehouseError, WarehouseLockedError

T = TypeVar("T")

#: `md:x`, `s3://...`: not a file on this machine; `:memory:` keeps nothing
_NOT_A_FILE = re.compile(r"^(?::memory:|[a-zA-Z][a-zA-Z0-9+.-]+:)")


# ---------------------------------------------------------------------------------------------
# the seam: which backend, and the calls every other module makes


def backend_for(where: Location | str) -> Backend:
    """The backend a `--warehouse` location names."""
    return lake.BACKEND if isinstance(where, LakeSpec) else FILE


def search_index(con: duckdb.DuckDBPyConnection, where: Location) -> Path:
    """Where the warehouse at `where` (open as `con`) keeps its search index (pipeline/search.py)."""
    return backend_for(where).search_index(con, where)


def is_lake(con: duckdb.DuckDBPyConnection) -> bool:
    """This connection works in a lake (pipeline/lake.py attaches it as `lake` and uses it).

    By the database's type, not its name: a file called lake.duckdb is named `lake` too.
    """
    row = con.execute("SELECT type FROM duckdb_databases() WHERE database_name = current_database()").fetchone()
    return row is not None and row[0] == "ducklake"


def backend_of(con: duckdb.DuckDBPyConnection) -> Backend:
    """The backend a connection works in, for callers that were handed a connection only."""
    return lake.BACKEND if is_lake(con) else FILE


def rebuild_hint(published: Location) -> str:
    """The exact commands that rebuild a damaged warehouse from the raw archive (docs/operations.md "Recovery")."""
    return backend_for(published).rebuild_hint(published)


def connect(where: Location, *, read_only: bool = False, memory_limit: str = MEMORY_LIMIT) -> duckdb.DuckDBPyConnection:
    """Open the warehouse; a second writer or a damaged file gets a clear error, not a stack trace.

    A lake (pipeline/lake.py) is opened with the lake attached and in use, so the same SQL runs.
    """
    return backend_for(where).connect(where, read_only=read_only, memory_limit=memory_limit)


def connect_file(
    path: str | Path,
    *,
    read_only: bool = False,
    memory_limit: str = MEMORY_LIMIT,
    published: Path | None = None,
) -> duckdb.DuckDBPyConnection:
    """Open a DuckDB file warehouse.

    DuckDB allows one writing process per file: a cron ingest that overlaps a running one must
    stop and say so rather than wait or corrupt anything. `published` is the file users know
    (for the working copy of a run, the warehouse it will become), named in the errors.

    Read-only, a published file is read from its readers' copy when the last run made one and
    the file is still that build (`readers_copy`): an analyst's read-write session locks the
    published file against every other open, read-only ones too, and must not stop `query`,
    `stats`, `export`, `report` or OAI-PMH.
    """
    if _NOT_A_FILE.match(str(path)):
        raise WarehouseError(f"{path} is not a warehouse file: give a path such as warehouse/iom.duckdb")
    path = Path(path)
    shown = published or path
    check_file(path)
    if read_only and not path.exists():
        raise WarehouseError(f"no warehouse at {path}: run `make ingest` first")
    if read_only and published is None:
        return _open_for_readers(path, memory_limit)
    return _open_file(path, read_only=read_only, memory_limit=memory_limit, shown=shown)


def _open_file(path: Path, *, read_only: bool, memory_limit: str, shown: Path) -> duckdb.DuckDBPyConnection:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        return duckdb.connect(str(path), read_only=read_only, config={"memory_limit": memory_limit, **SAFE_CONFIG})
    except duckdb.IOException as exc:
        if "lock" in str(exc).lower():
            raise WarehouseLockedError(
                f"warehouse {path} is in use by another process (DuckDB allows one writer): {exc}"
            ) from exc
        raise WarehouseError(f"cannot open warehouse {shown}: {_first_line(exc)}; {_what_to_do(exc, shown)}") from exc
    except duckdb.Error as exc:
        raise WarehouseError(f"cannot open warehouse {shown}: {_first_line(exc)}; {_what_to_do(exc, shown)}") from exc


#: copies of a published file that a session kept writing to, before a run gives up (exit 4)
_COPY_TRIES = 3
#: under the working copy's folder: one copy of the published build that only the product's readers open
READERS_DIR = "readers"
#: a readers' copy the next publish may remove between a reader's look and its open: look again
_READERS_TRIES = 3


def file_stamp(path: Path) -> str | None:
    """Size, modification time and inode: what tells one published build from any later change to the file.

    A rename keeps all three, so the stamp of a file about to be swapped in is the published
    file's; an analyst's checkpoint, a restore or a copy by hand changes at least one of them
    (on a filesystem whose clock ticks finer than a checkpoint takes: `_copy_published` does not
    rely on it). The one stamp of a file: the readers' copy's name and the working copy's
    `published.stamp` must agree.
    """
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return f"{st.st_size}-{st.st_mtime_ns}-{st.st_ino}"


#: the stamp as `file_stamp` writes it, and nothing else: the end of a readers' copy's name
_STAMP_RE = r"\d+-\d+-\d+"

#: DuckDB's main header and its two database headers (4 KiB each, at the start of every file):
#: a checkpoint ends by writing the next iteration into one of the two, so a file whose first
#: blocks read the same before and after a copy had no checkpoint complete in between
DUCKDB_HEADERS = 3 * 4096


def readers_dir(published: Path) -> Path:
    return published.parent / ".build" / READERS_DIR


def readers_copies(published: Path) -> list[Path]:
    """Every readers' copy of `published`, current or older; never another warehouse's in the same folder.

    Two warehouses may share a folder and one's name may start with the other's (`iom.duckdb`
    and `iom.duckdb.bak`, a dated `iom.duckdb.2024`): a copy is `published`'s only when its name
    is `published`'s name, a dot and a stamp, and nothing more.
    """
    mine = re.compile(rf"{re.escape(published.name)}\.{_STAMP_RE}")
    try:
        return sorted(p for p in readers_dir(published).iterdir() if mine.fullmatch(p.name) and p.is_file())
    except (FileNotFoundError, NotADirectoryError):
        return []


def readers_copy(published: Path) -> Path | None:
    """The readers' copy of the build `published` holds now, or None (no publish made one, or the file changed since).

    The copy is named by the stamp of the file it was published as, so a copy and its stamp are
    one file, replaced at once: a file changed after the publish (restored by hand, or written
    and checkpointed by an analyst's session) has another stamp and is never answered from an
    older build.
    """
    stamp = file_stamp(published)
    if stamp is None:
        return None
    copy = readers_dir(published) / f"{published.name}.{stamp}"
    return copy if copy.is_file() else None


def _open_for_readers(published: Path, memory_limit: str) -> duckdb.DuckDBPyConnection:
    """The readers' copy when it is the build now published, else the published file itself.

    The copy is a file of its own (a hard link would share DuckDB's lock, which is taken on the
    inode) that nobody opens read-write, and no write-ahead log ever sits beside it: an analyst's
    session on the published file neither blocks these reads nor has its uncommitted or
    un-checkpointed writes replayed into them.
    """
    config = {"memory_limit": memory_limit, **SAFE_CONFIG}
    for _ in range(_READERS_TRIES):
        copy = readers_copy(published)
        if copy is None:
            break
        try:
            return duckdb.connect(str(copy), read_only=True, config=config)
        except duckdb.Error:
            if copy.exists():
                break  # damaged or opened read-write by someone: the published file may still answer
            # replaced by a newer publish between the look and the open: look again
    try:
        return _open_file(published, read_only=True, memory_limit=memory_limit, shown=published)
    except WarehouseLockedError as exc:
        if readers_copies(published):
            raise WarehouseLockedError(
                f"warehouse {published} is held read-write by another process and changed since the last run"
                " published it (restored by hand, or written by that session), so the copy of that run kept for"
                " readers is not answered instead: end that session, or run an ingest, which publishes the file"
                " as it is now"
            ) from exc
        raise


#: pseudo filesystems: their files are windows on the kernel, never a warehouse (/dev's devices are
#: refused as not regular files; /dev/shm is a RAM disk and may hold one)
_SPECIAL_ROOTS = ("/proc", "/sys")
_EXAMPLE = "give a path such as warehouse/iom.duckdb"
#: bytes 8-11 of every DuckDB database file (after the header block's checksum)
DUCKDB_MAGIC = b"DUCK"


def check_file(path: Path) -> None:
    """Refuse a `--db` that is a directory, a device, a FIFO or a file under /proc or /sys.

    DuckDB would read /proc/self/mem (EIO) or a directory and fail with a traceback or a "damaged,
    rebuild it" hint that would move a system file aside; say what the path is instead.
    """
    resolved = str(path.resolve(strict=False))
    for root in _SPECIAL_ROOTS:
        if resolved == root or resolved.startswith(root + "/"):
            raise WarehouseError(f"{path} is not a warehouse file (it is under {root}): {_EXAMPLE}")
    try:
        st = path.stat()
    except FileNotFoundError:
        return
    except NotADirectoryError as exc:
        raise WarehouseError(f"{path} is not a warehouse file: {exc.strerror}") from exc
    if stat.S_ISDIR(st.st_mode):
        raise WarehouseError(f"{path} is a directory, not a warehouse file: give a file path such as {path}/iom.duckdb")
    if not stat.S_ISREG(st.st_mode):
        raise WarehouseError(f"{path} is not a regular file (a device, FIFO or socket): {_EXAMPLE}")
    if st.st_size:
        # a DuckDB file says so at byte 8; anything else is someone's file, never "damaged, rebuild over it"
        with open(path, "rb") as fh:
            head = fh.read(12)
        if head[8:12] != DUCKDB_MAGIC:
            raise WarehouseError(
                f"{path} is not a DuckDB database (no DuckDB header), so it is left as it is: give --db the "
                "warehouse file, or a path that does not exist yet to build one there"
            )


def _what_to_do(exc: BaseException, shown: Path) -> str:
    """How to get a warehouse back; one that a newer DuckDB wrote can also be copied to the 1.x format."""
    if "newer version of duckdb" in str(exc).lower():
        return (
            f"it was written by a newer DuckDB (2.x) than this pipeline's {duckdb.__version__}: copy it to the"
            f" 1.x format (docs/analysts.md, 'Which DuckDB opens the warehouse') or {rebuild_hint(shown)}"
        )
    return rebuild_hint(shown)


def migrate(con: duckdb.DuckDBPyConnection) -> None:
    """Bring the schema up to date from `warehouse/schema/*.sql`, on a file or a lake."""
    backend_of(con).migrate(con)


def migrate_file(con: duckdb.DuckDBPyConnection) -> None:
    """Apply the schema steps when they changed since they were last applied (each is idempotent).

    The fingerprint of the step files is kept in `schema_state`: a run on an up-to-date warehouse
    reads one row instead of re-running every step (and checkpointing).

    All steps run in one transaction and are checkpointed into the file at once, so the
    write-ahead log never holds schema changes. DuckDB 1.5 cannot replay some of them (a column
    comment on a table whose DEFAULT calls a function, like `rejects`: "Calling
    DatabaseManager::GetDefaultDatabase with no default database set", duckdb/duckdb#21490: 1.5.5
    and 1.5.6 fail, 2.0 replays it): a run killed before its first checkpoint would otherwise leave
    a warehouse that no client opens until its .wal file is deleted.
    """
    steps = [(step.name, step.read_text(encoding="utf-8")) for step in schema_steps(SCHEMA_DIR)]
    fingerprint = hashlib.sha256("\0".join(f"{name}\0{text}" for name, text in steps).encode()).hexdigest()
    try:
        applied = con.execute("SELECT fingerprint FROM schema_state").fetchall()
    except duckdb.CatalogException:
        applied = []
    if applied == [(fingerprint,)]:
        return  # the steps as they are now were applied already: nothing to do
    con.execute("BEGIN TRANSACTION")
    try:
        for name, text in steps:
            try:
                con.execute(text)
            except duckdb.Error as exc:
                raise WarehouseError(f"schema step {name} failed: {exc}") from exc
        con.execute("DELETE FROM schema_state")
        con.execute("INSERT INTO schema_state VALUES (?, now())", [fingerprint])
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")
    con.execute("CHECKPOINT")


class WorkingCopy:
    """The pipeline writes a private copy of the warehouse and publishes it whole when a run ends.

    Analysts open the published file (`warehouse/iom.duckdb`); runs write `warehouse/.build/iom.duckdb`,
    which nobody else opens, and the product's own readers open `warehouse/.build/readers/` (publish).
    DuckDB allows one writer per file and a reader blocks a writer, so a
    run that wrote the published file would fail while an analyst holds it open, and an analyst
    would see a half-loaded warehouse. Publishing copies the finished working copy beside the
    published file and renames it over it (atomic on POSIX): open connections keep the snapshot
    they opened, new ones see the new run, nobody sees a half-written file.

    The working copy follows the published file: when the published file is not the one the last
    run published (someone edited or restored it), the next run starts from it. A second run while
    one is writing gets WarehouseLockedError, as before.
    """

    STAMP = "published.stamp"
    #: present while the copy holds writes not yet published (a run in progress, or one that
    #: stopped or was killed after it wrote): such a copy is not the published warehouse
    UNPUBLISHED = "unpublished"

    def __init__(self, published: Path) -> None:
        self.published = Path(published)
        self.build_dir = self.published.parent / ".build"
        self.path = self.build_dir / self.published.name
        self.con: duckdb.DuckDBPyConnection | None = None
        self._lock: int | None = None  # fd holding the run lock (build_dir/run.lock) while a run lasts
        #: the copy equalled the published warehouse when this run opened it (no earlier run's
        #: unpublished writes in it): only then may a run stopped before its load publish it
        self.fresh = False

    def _stamp(self) -> str | None:
        return file_stamp(self.published)

    def open(self) -> duckdb.DuckDBPyConnection:
        """Connect to the working copy for writing, refreshed from the published file if that changed."""
        if _NOT_A_FILE.match(str(self.published)):
            raise WarehouseError(f"{self.published} is not a warehouse file: give a path such as warehouse/iom.duckdb")
        check_file(self.published)
        self.build_dir.mkdir(parents=True, exist_ok=True)
        self._take_run_lock()
        stamp_file = self.build_dir / self.STAMP
        current = self._stamp()
        known = stamp_file.read_text(encoding="utf-8").strip() if stamp_file.exists() else None
        if known is not None:  # written as size:mtime:inode before the stamp had one form
            known = known.replace(":", "-")
        marker = self.build_dir / self.UNPUBLISHED
        # copied again from the published file, or started empty: nothing of an earlier run in it
        refreshed = not self.path.exists() or current != known
        self.fresh = refreshed or not marker.exists()
        if current is None and known is not None and self.path.exists():
            # the published warehouse was deleted after a run published it: on purpose, to rebuild
            # from raw/, so start from an empty one (a first run that never published keeps its copy)
            self._probe_lock()
            self.path.unlink()
            self.path.with_name(self.path.name + ".wal").unlink(missing_ok=True)
            stamp_file.unlink(missing_ok=True)
        elif current is not None and (current != known or not self.path.exists()):
            # guard against a second run replacing the copy under the first: take the lock first
            if self.path.exists():
                self._probe_lock()
            self._copy_published()
            self.path.with_name(self.path.name + ".wal").unlink(missing_ok=True)
        self.con = connect_file(self.path, published=self.published)
        marker.touch()  # removed by publish(): a run that ends any other way leaves the copy marked
        return self.con

    def _copy_published(self) -> None:
        """Copy the published file to the working copy, whole: never while another process writes it.

        An analyst's session may hold the published file read-write and checkpoint into it at
        any moment; a copy taken across such a write would be torn. The file's stamp (size, time,
        inode) and DuckDB's header blocks are the same before and after a copy no checkpoint
        overlapped, and the copy's own headers are those: anything else means copy again, and a
        file that keeps changing stops the run (exit 4) rather than load a torn copy. The headers
        do not depend on the clock: a checkpoint that reuses free blocks keeps the size, and on a
        filesystem with coarse timestamps (FAT's 2 s, some network mounts) one inside a tick
        keeps the mtime, but every checkpoint writes a new iteration into a header.
        """
        tmp = self.path.with_name(self.path.name + ".tmp")
        try:
            for _ in range(_COPY_TRIES):
                before = (self._stamp(), _headers(self.published))
                shutil.copyfile(self.published, tmp)
                if (self._stamp(), _headers(self.published)) == before and _headers(tmp) == before[1]:
                    os.replace(tmp, self.path)
                    return
            raise WarehouseLockedError(
                f"warehouse {self.published} changed while this run copied it {_COPY_TRIES} times (a session is"
                " writing to it): run again when that session has ended"
            )
        except BaseException:  # a full disk: no half copy left to fill it further
            tmp.unlink(missing_ok=True)
            raise

    def _probe_lock(self) -> None:
        """Raise WarehouseLockedError while a run holds the working copy; a damaged copy is no obstacle.

        The copy is about to be replaced or removed, so one that cannot be opened (a damaged
        published file copied here by the run that then stopped on it) must not stop the rebuild:
        DuckDB 1.5 refuses a truncated file at open, where 2.0 opened it and failed only on reads.
        """
        try:
            connect_file(self.path, published=self.published).close()
        except WarehouseLockedError:
            raise
        except WarehouseError:
            pass

    def publish(self) -> None:
        """Checkpoint and close the working copy, then swap it in as the published file.

        The same build is copied for the product's own readers first (`readers_copy`), under the
        stamp the published file will have: a run's disk then holds three copies (published,
        working, readers'), and two more for a moment while it publishes. Both swaps are renames
        of whole files, so a reader sees one build or the next, and one mid-query keeps the file
        it opened. The run lock is held until the end: a second run must not refresh the working
        copy while it is being copied.
        """
        if self.con is None:
            raise WarehouseError("publish() before open()")
        try:
            try:
                self.con.execute("CHECKPOINT")
            finally:
                self.detach()
            self._swap_in()
        finally:
            self.close()

    def _swap_in(self) -> None:
        readers = readers_dir(self.published)
        tmp = self.published.with_name(f".{self.published.name}.publishing")
        readers_tmp = readers / f".{self.published.name}.publishing"
        wal = self.published.with_name(self.published.name + ".wal")
        try:
            _copy_synced(self.path, tmp)
            stamp = file_stamp(tmp)  # the published file's once renamed: same inode, size and mtime
            current = readers / f"{self.published.name}.{stamp}"
            try:
                readers.mkdir(exist_ok=True)
                _copy_synced(self.path, readers_tmp)
                os.replace(readers_tmp, current)  # unused until the published file has its stamp
            except OSError as exc:  # no room for it: the build is published all the same
                readers_tmp.unlink(missing_ok=True)
                logging.getLogger(__name__).warning(
                    "no copy of this build for readers (%s: %s): until a run makes one, query, stats, export, "
                    "report and OAI-PMH read %s and wait for a read-write session on it",
                    exc.strerror or type(exc).__name__,
                    exc.filename or readers,
                    self.published,
                )
            wal_before = _inode(wal)
            os.replace(tmp, self.published)
        except BaseException:  # disk full, read-only, a signal: the published file stays the last good one
            tmp.unlink(missing_ok=True)
            readers_tmp.unlink(missing_ok=True)
            raise
        for old in readers_copies(self.published):
            if old != current:  # readers that have an older copy open keep reading it until they close
                with contextlib.suppress(OSError):
                    old.unlink()
        _set_wal_aside(self.published, wal_before)
        (self.build_dir / self.STAMP).write_text(self._stamp() or "", encoding="utf-8")
        (self.build_dir / self.UNPUBLISHED).unlink(missing_ok=True)

    def may_publish_interrupted(self, partly_loaded: bool) -> bool:
        """Only a copy with no half load: stopped before its load, and opened with no earlier stopped run's writes.

        Otherwise the published warehouse stays the previous run's, and the next run goes on from
        the copy (pages loaded are not loaded twice).
        """
        return not partly_loaded and self.fresh

    def after_io_failure(self, failed_path: str | None, run_id: int | None, message: str, exit_code: int) -> None:
        """Drop a copy whose write failed, or whose connection DuckDB invalidated ("FATAL"); keep a whole one.

        The next run copies the published file again and loads from raw/, and the space the
        copy took is free again. A copy that is whole (the publish or raw/ failed) records the
        run as failed, so it says what cron saw when the next run publishes it.
        """
        in_copy = failed_path is not None and Path(failed_path).resolve().is_relative_to(self.build_dir.resolve())
        if in_copy or (self.con is not None and not self.usable()):
            self.discard()
        elif run_id is not None and self.path.exists():
            try:
                con = self.con if self.con is not None else self.reopen()
                con.execute(
                    "UPDATE runs SET status = 'failed', exit_code = ?, message = ? WHERE run_id = ?",
                    [exit_code, message, run_id],
                )
            except Exception:  # the disk is full for that too: a copy that may be torn is not kept
                logging.getLogger(__name__).debug("recording the failed run failed", exc_info=True)
                self.discard()

    def discard(self) -> None:
        """Drop the working copy after a write to it failed (disk full, read-only): the next run starts afresh.

        DuckDB invalidates a database whose write failed for lack of space ("FATAL"), and what the
        file holds then is not to be trusted; the next run copies the published warehouse again
        and loads what raw/ holds, so nothing is lost but time. Deleting it also frees the space.
        Keeps the run lock: call close() after it.
        """
        if self.con is not None:
            with contextlib.suppress(duckdb.Error):
                self.con.close()
            self.con = None
        for leftover in (
            self.path,
            self.path.with_name(self.path.name + ".wal"),
            self.path.with_name(self.path.name + ".tmp"),
            self.build_dir / self.STAMP,
        ):
            with contextlib.suppress(OSError):
                leftover.unlink(missing_ok=True)

    def usable(self) -> bool:
        """The run's connection still answers (DuckDB invalidates a database after a fatal write error)."""
        if self.con is None:
            return False
        try:
            self.con.execute("SELECT 1").fetchall()
        except duckdb.Error:
            return False
        return True

    def _take_run_lock(self) -> None:
        """One run at a time, also while a run has the working copy closed (during its crawl)."""
        if self._lock is not None:
            return
        fd = os.open(self.build_dir / "run.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            os.close(fd)
            raise WarehouseLockedError(
                f"warehouse {self.path} is in use by another process (a run is in progress)"
            ) from exc
        self._lock = fd

    def detach(self) -> None:
        """Close the connection but keep the run lock: the crawl runs with the warehouse closed."""
        if self.con is not None:
            self.con.close()
            self.con = None

    def reopen(self) -> duckdb.DuckDBPyConnection:
        """Connect again after detach(), to load what the crawl archived."""
        self.con = connect_file(self.path, published=self.published)
        return self.con

    def close(self) -> None:
        """Close the connection and release the run lock, even when DuckDB refuses to close an invalidated one."""
        try:
            self.detach()
        finally:
            self.con = None
            if self._lock is not None:
                with contextlib.suppress(OSError):
                    os.close(self._lock)  # closing the descriptor releases the flock
                self._lock = None


#: how many write-ahead logs of replaced files are kept beside the published one, the latest (see _set_wal_aside)
STALE_WALS_KEPT = 1


def _copy_synced(source: Path, target: Path) -> None:
    shutil.copyfile(source, target)
    with open(target, "rb") as fh:
        os.fsync(fh.fileno())


def _headers(path: Path) -> bytes:
    """The first blocks of a DuckDB file (`DUCKDB_HEADERS`): they change with every checkpoint."""
    with open(path, "rb") as fh:
        return fh.read(DUCKDB_HEADERS)


def _inode(path: Path) -> int | None:
    try:
        return path.stat().st_ino
    except FileNotFoundError:
        return None


def _held_read_write(path: Path) -> bool:
    """Some process holds DuckDB's write lock on this file (a POSIX record lock on the whole file).

    Only for a process with no connection of its own to the file: closing any descriptor of a
    file drops every POSIX lock the process holds on it, DuckDB's too (a run publishing works
    on its working copy, never on the published file).
    """
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.lockf(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return True
    else:
        fcntl.lockf(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def _set_wal_aside(published: Path, wal_before: int | None) -> None:
    """Move aside a write-ahead log that belongs to the file just replaced; keep the latest such log only.

    The log is found by name, so a session on the replaced file (an analyst's, or one that
    crashed) leaves it beside the new file, and whoever opened that next would replay another
    file's writes into it. A log that was there before the swap is the old file's; one that
    appeared since is too unless a session holds the new file read-write (then it may be that
    session's, and it is left alone). A session still writing a log moved aside writes on into
    it unharmed: what it wrote is in the replaced file, which only that session still has.
    Older moved-aside logs are removed: they can be replayed into no file anyone still has.
    """
    wal = published.with_name(published.name + ".wal")
    now = _inode(wal)
    if now is not None and (now == wal_before or not _held_read_write(published)):
        with contextlib.suppress(OSError):
            wal.rename(wal.with_name(f"{wal.name}.stale-{time.time_ns()}"))
    stale = sorted(
        published.parent.glob(f"{glob_escape(wal.name)}.stale-*"),
        key=lambda p: (_stale_time(p), p.name),
    )
    for old in stale[: max(len(stale) - STALE_WALS_KEPT, 0)]:
        with contextlib.suppress(OSError):
            old.unlink()


def _stale_time(path: Path) -> int:
    """When a log was moved aside: its suffix (seconds before, nanoseconds now), as nanoseconds."""
    suffix = path.name.rsplit(".stale-", 1)[-1]
    if not suffix.isdigit():
        return 0
    value = int(suffix)
    return value * 1_000_000_000 if value < 10**12 else value


# ---------------------------------------------------------------------------------------------
# the file's side of the seam (pipeline/backend.py)


class FileReaders:
    """A read-only connection per request: a run replaces the published file, so none is kept.

    Each is opened by `connect_file(read_only=True)`, so on the readers' copy of the last build
    when there is one: a server keeps answering while an analyst holds the published file read-write.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def open(self) -> duckdb.DuckDBPyConnection:
        return connect_file(self.path, read_only=True)


def _file(where: Location | str) -> Path:
    if isinstance(where, LakeSpec):
        raise WarehouseError(f"{where} is a lake, not a DuckDB file")
    return Path(where)


class FileBackend:
    """The warehouse as one DuckDB file: one writer at a time, readers on the last published build."""

    concurrent_writers = False

    def connect(
        self, where: Location | str, *, read_only: bool = False, memory_limit: str = MEMORY_LIMIT
    ) -> duckdb.DuckDBPyConnection:
        return connect_file(_file(where), read_only=read_only, memory_limit=memory_limit)

    def open_writer(self, where: Location) -> WorkingCopy:
        """A working copy, published whole when the run ends."""
        return WorkingCopy(_file(where))

    def open_readers(self, where: Location) -> FileReaders:
        return FileReaders(_file(where))

    def rebuild_hint(self, where: Location) -> str:
        return (
            f"move it aside and rebuild it from raw/: mv {where} {where}.damaged && "
            f"iom-pipeline ingest --offline --db {where}"
        )

    def migrate(self, con: duckdb.DuckDBPyConnection) -> None:
        migrate_file(con)

    def committed(self, con: duckdb.DuckDBPyConnection, work: Callable[[], T]) -> T:
        """Once: a file has one writer and never conflicts."""
        return work()

    def next_ids(self, con: duckdb.DuckDBPyConnection, sequence: str, n: int) -> list[int]:
        """DuckDB's own sequence."""
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", sequence):
            raise ValueError(f"not a sequence name: {sequence!r}")
        rows = con.execute(f"SELECT nextval('{sequence}') FROM range({int(n)})").fetchall()
        return sorted(int(r[0]) for r in rows)

    def new_run_id(self, con: duckdb.DuckDBPyConnection) -> tuple[int, list[int]]:
        """One writer at a time, so any run still `running` is dead and the next number is free."""
        dead = [int(r[0]) for r in con.execute("SELECT run_id FROM runs WHERE status = 'running'").fetchall()]
        ((last,),) = con.execute("SELECT coalesce(max(run_id), 0) + 1 FROM runs").fetchall()
        return int(last), dead

    def hold_sources(self, con: duckdb.DuckDBPyConnection, names: list[str] | None) -> None:
        """Nothing to do: the run lock of the working copy already keeps every other writer out."""

    def exclusive_dedup(self, con: duckdb.DuckDBPyConnection) -> contextlib.AbstractContextManager[None]:
        """The file's single writer already guarantees it."""
        return contextlib.nullcontext()

    def read_snapshot(self, con: duckdb.DuckDBPyConnection) -> int | None:
        """A file holds one build and no snapshots to name."""
        return None

    def search_index(self, con: duckdb.DuckDBPyConnection, where: Location) -> Path:
        """Beside the file: `iom.duckdb` has `iom.search.duckdb`."""
        path = _file(where)
        return path.with_name(f"{path.stem}.search.duckdb")

    def record_status(self) -> str:
        return "record_status"


FILE: Backend = FileBackend()


# ---------------------------------------------------------------------------------------------
# the calls every other module makes, whichever the backend


def open_writer(where: Location) -> Writer:
    """The run's writer: a working copy published whole (file), or the lake itself."""
    return backend_for(where).open_writer(where)


def open_readers(where: Location) -> Readers:
    """Connections for a long-lived reader such as the OAI-PMH server."""
    return backend_for(where).open_readers(where)


def committed(con: duckdb.DuckDBPyConnection, work: Callable[[], T]) -> T:
    """Run `work` (one whole transaction), again after a lake commit conflict; once on a file.

    On a lake, a commit that loses a race with another worker's is rolled back and redone, alone
    after it has lost a few (pipeline/lake.py `commit`, counted in `lake.RETRIES`); a file has
    one writer and never conflicts.
    """
    return backend_of(con).committed(con, work)


def commit_retries() -> tuple[int, int]:
    """Lake commits this process redid after a conflict so far, and how many of them alone (0s on a file)."""
    return lake.RETRIES.retries, lake.RETRIES.alone


def next_ids(con: duckdb.DuckDBPyConnection, sequence: str, n: int = 1) -> list[int]:
    """`n` new ids of a warehouse sequence: DuckDB's own on a file, PostgreSQL's on a lake."""
    if n <= 0:
        return []
    return backend_of(con).next_ids(con, sequence, n)


def new_run_id(con: duckdb.DuckDBPyConnection) -> tuple[int, list[int]]:
    """The id of a new run, and the ids of runs left `running` by a process that died.

    A file has one writer at a time, so any run still `running` is dead and the next number is
    free. A lake has live workers' runs `running` too: see `lake.start_run_id`.
    """
    return backend_of(con).new_run_id(con)


def hold_sources(con: duckdb.DuckDBPyConnection, names: list[str] | None) -> None:
    """Claim the sources a run loads: nothing to do on a file (one writer), a lease on a lake."""
    backend_of(con).hold_sources(con, names)


def exclusive_dedup(con: duckdb.DuckDBPyConnection) -> contextlib.AbstractContextManager[None]:
    """One dedup pass at a time: a file's single writer already guarantees it, a lake needs a lease.

    Logs (debug, `-v`) that the run enters its dedup step: what tells an operator, or a test
    sending a signal, that the load is over.
    """
    logging.getLogger(__name__).debug("dedup step: started")
    return backend_of(con).exclusive_dedup(con)
