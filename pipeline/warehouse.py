"""Open the DuckDB warehouse and bring its schema up to date from `warehouse/schema/*.sql`."""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import time
from pathlib import Path

import duckdb

from pipeline.errors import WarehouseError, WarehouseLockedError

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "warehouse" / "schema"


#: DuckDB otherwise takes up to 80% of RAM; the dedup pass at 1M sightings fits in 4 GB with this
MEMORY_LIMIT = "2GB"


#: DuckDB must never download or load code at run time (no network here, and no surprises in cron)
SAFE_CONFIG = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}
#: `md:x`, `s3://...`: not a file on this machine; `:memory:` keeps nothing
_NOT_A_FILE = re.compile(r"^(?::memory:|[a-zA-Z][a-zA-Z0-9+.-]+:)")


def rebuild_hint(published: Path) -> str:
    """The exact commands that rebuild a damaged warehouse from the raw archive (README "Recovery")."""
    return (
        f"move it aside and rebuild it from raw/: mv {published} {published}.damaged && "
        f"iom-pipeline ingest --offline --db {published}"
    )


def connect(
    path: Path,
    *,
    read_only: bool = False,
    memory_limit: str = MEMORY_LIMIT,
    published: Path | None = None,
) -> duckdb.DuckDBPyConnection:
    """Open the warehouse file; a second writer or a damaged file gets a clear error, not a stack trace.

    DuckDB allows one writing process per file: a cron ingest that overlaps a running one must
    stop and say so rather than wait or corrupt anything. `published` is the file users know
    (for the working copy of a run, the warehouse it will become), named in the errors.
    """
    if _NOT_A_FILE.match(str(path)):
        raise WarehouseError(f"{path} is not a warehouse file: give a path such as warehouse/iom.duckdb")
    path = Path(path)
    shown = published or path
    if read_only and not path.exists():
        raise WarehouseError(f"no warehouse at {path}: run `make ingest` first")
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


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _what_to_do(exc: BaseException, shown: Path) -> str:
    """How to get a warehouse back; one that a newer DuckDB wrote can also be copied to the 1.x format."""
    if "newer version of duckdb" in str(exc).lower():
        return (
            f"it was written by a newer DuckDB (2.x) than this pipeline's {duckdb.__version__}: copy it to the"
            f" 1.x format (README, 'Which DuckDB opens the warehouse') or {rebuild_hint(shown)}"
        )
    return rebuild_hint(shown)


def schema_steps() -> list[Path]:
    """The named, ordered SQL steps; the number prefix is the order."""
    return sorted(SCHEMA_DIR.glob("*.sql"))


def migrate(con: duckdb.DuckDBPyConnection) -> None:
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
    steps = [(step.name, step.read_text(encoding="utf-8")) for step in schema_steps()]
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
    which nobody else opens. DuckDB allows one writer per file and a reader blocks a writer, so a
    run that wrote the published file would fail while an analyst holds it open, and an analyst
    would see a half-loaded warehouse. Publishing copies the finished working copy beside the
    published file and renames it over it (atomic on POSIX): open connections keep the snapshot
    they opened, new ones see the new run, nobody sees a half-written file.

    The working copy follows the published file: when the published file is not the one the last
    run published (someone edited or restored it), the next run starts from it. A second run while
    one is writing gets WarehouseLockedError, as before.
    """

    STAMP = "published.stamp"

    def __init__(self, published: Path) -> None:
        self.published = Path(published)
        self.build_dir = self.published.parent / ".build"
        self.path = self.build_dir / self.published.name
        self.con: duckdb.DuckDBPyConnection | None = None
        self._lock: int | None = None  # fd holding the run lock (build_dir/run.lock) while a run lasts

    def _stamp(self) -> str | None:
        try:
            st = self.published.stat()
        except FileNotFoundError:
            return None
        return f"{st.st_size}:{st.st_mtime_ns}:{st.st_ino}"

    def open(self) -> duckdb.DuckDBPyConnection:
        """Connect to the working copy for writing, refreshed from the published file if that changed."""
        if _NOT_A_FILE.match(str(self.published)):
            raise WarehouseError(f"{self.published} is not a warehouse file: give a path such as warehouse/iom.duckdb")
        self.build_dir.mkdir(parents=True, exist_ok=True)
        self._take_run_lock()
        stamp_file = self.build_dir / self.STAMP
        current = self._stamp()
        known = stamp_file.read_text(encoding="utf-8").strip() if stamp_file.exists() else None
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
            tmp = self.path.with_name(self.path.name + ".tmp")
            shutil.copyfile(self.published, tmp)
            os.replace(tmp, self.path)
            self.path.with_name(self.path.name + ".wal").unlink(missing_ok=True)
        self.con = connect(self.path, published=self.published)
        return self.con

    def _probe_lock(self) -> None:
        """Raise WarehouseLockedError while a run holds the working copy; a damaged copy is no obstacle.

        The copy is about to be replaced or removed, so one that cannot be opened (a damaged
        published file copied here by the run that then stopped on it) must not stop the rebuild:
        DuckDB 1.5 refuses a truncated file at open, where 2.0 opened it and failed only on reads.
        """
        try:
            connect(self.path, published=self.published).close()
        except WarehouseLockedError:
            raise
        except WarehouseError:
            pass

    def publish(self) -> None:
        """Checkpoint and close the working copy, then swap it in as the published file."""
        if self.con is None:
            raise WarehouseError("publish() before open()")
        try:
            self.con.execute("CHECKPOINT")
        finally:
            self.close()
        tmp = self.published.with_name(f".{self.published.name}.publishing")
        shutil.copyfile(self.path, tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, self.published)
        # a write-ahead log beside the published name belongs to a connection to the old file:
        # replayed into the new one it would corrupt it
        wal = self.published.with_name(self.published.name + ".wal")
        if wal.exists():
            wal.rename(wal.with_name(f"{wal.name}.stale-{int(time.time())}"))
        (self.build_dir / self.STAMP).write_text(self._stamp() or "", encoding="utf-8")

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
        self.con = connect(self.path, published=self.published)
        return self.con

    def close(self) -> None:
        self.detach()
        if self._lock is not None:
            os.close(self._lock)  # closing the descriptor releases the flock
            self._lock = None
