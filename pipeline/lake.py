"""The warehouse as a DuckLake whose catalog is in PostgreSQL: the one module that knows about the lake.

A DuckDB file allows one writing process; a DuckLake keeps its catalog in PostgreSQL and its rows
in Parquet files under a data folder, so several ingest workers on several machines can commit
into one warehouse. `BACKEND` is the lake's side of the one seam (`pipeline/backend.py`); the file's
is `pipeline/warehouse.py`, and the rest of the pipeline stays backend-neutral. Here:

- `LakeSpec` / `parse_spec` (pipeline/backend.py): `--warehouse ducklake:postgres:<libpq conninfo>`;
- `connect_lake`: a DuckDB connection with the lake attached and in use, its extensions loaded
  from the installed wheels (never downloaded: see `SAFE_CONFIG`);
- `migrate_lake`: the schema steps of `warehouse/schema/*.sql` (still the one source of the
  schema) translated statement by statement into what DuckLake accepts; each rule says why;
- `next_ids`: ids from PostgreSQL sequences, since DuckLake has none;
- `with_retries` / `transaction`: what to do when two workers' commits conflict.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import duckdb
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, wait_random_exponential

from pipeline.backend import (
    EXTENSION_WHEELS as EXTENSION_WHEELS,  # where lake users look for it
)
from pipeline.backend import (
    LAKE_CATALOG,
    MEMORY_LIMIT,
    SAFE_CONFIG,
    Backend,
    LakeSpec,
    Location,
    extension_file,
    load_extension,
    parse_spec,
    schema_steps,
    transaction,
)
from pipeline.backend import first_line as _first_line
from pipeline.backend import is_lake_spec as is_lake_spec  # where lake users look for it
from pipeline.errors import WarehouseError, WarehouseLockedError

log = logging.getLogger(__name__)

#: the catalog name the lake is attached as (and USEd), so unqualified table names resolve to it
LAKE = LAKE_CATALOG
#: the same PostgreSQL database attached directly, for what DuckLake does not do (sequences)
PG = "lake_pg"
#: PostgreSQL schema holding the warehouse's sequences, apart from DuckLake's own `ducklake_*` tables
SEQUENCE_SCHEMA = "warehouse_sequences"
#: lake-only table holding comments on view columns, which DuckLake cannot store (rule `view-column-comment`)
VIEW_COLUMN_COMMENTS = "lake_view_column_comments"
#: bump when a translation rule changes, so lakes migrated by the old rules are migrated again
RULES_VERSION = "2"
#: sequences only the lake needs: a DuckDB file has one writer, which numbers its runs max + 1;
#: workers starting together would all take the same number
LAKE_SEQUENCES = {"run_seq": 1}

#: what a lake connection loads
LAKE_EXTENSIONS = ("json", "parquet", "postgres_scanner", "ducklake")

T = TypeVar("T")


# ---------------------------------------------------------------------------------------------
# specs and connections


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def load_extensions(con: duckdb.DuckDBPyConnection) -> None:
    """Load the lake's extensions from the installed wheels: no download, no autoload, same in cron.

    The wheels hold signed binaries built for exactly this DuckDB (their folder is named after its
    version), so signature checks stay on.
    """
    load_extension(con, *LAKE_EXTENSIONS)


def connect_lake(
    spec: str | LakeSpec,
    data_path: Path | None = None,
    *,
    read_only: bool = False,
    memory_limit: str = MEMORY_LIMIT,
) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with the lake attached as `lake` and in use, so queries read as on a file.

    `data_path` is where the Parquet files go; a new lake needs it, an existing one remembers
    its own (DuckLake stores it in the catalog). Readers attach read-only: they never take part
    in commit conflicts and cannot write by mistake.
    """
    lake = spec if isinstance(spec, LakeSpec) else parse_spec(spec)
    data_path = data_path if data_path is not None else lake.data_path
    con = duckdb.connect(":memory:", config={"memory_limit": memory_limit, **SAFE_CONFIG})
    try:
        load_extensions(con)
        if not read_only:
            try:
                con.execute(f"ATTACH {_sql_string(lake.conninfo)} AS {PG} (TYPE postgres)")
            except duckdb.Error as exc:
                raise WarehouseError(f"cannot open the lake {lake}: {_first_line(exc)}") from exc
            if data_path is None and lake.default_data_path is not None and not _catalog_exists(con):
                data_path = lake.default_data_path
        options = []
        if data_path is not None:
            data_path = Path(data_path)
            if not read_only:
                data_path.mkdir(parents=True, exist_ok=True)
            options.append(f"DATA_PATH {_sql_string(str(data_path.resolve()) + '/')}")
        if read_only:
            options.append("READ_ONLY")
        suffix = f" ({', '.join(options)})" if options else ""
        attach = f"ATTACH {_sql_string(str(lake))} AS {LAKE}{suffix}"
        try:
            Retrying(
                retry=retry_if_exception(_is_init_race),
                stop=stop_after_attempt(10),
                wait=wait_random_exponential(multiplier=0.05, max=1.0),
                reraise=True,
            )(con.execute, attach)
        except duckdb.Error as exc:
            raise WarehouseError(f"cannot open the lake {lake}: {_first_line(exc)}") from exc
        con.execute(f"USE {LAKE}")
    except BaseException:
        con.close()
        raise
    return con


def _catalog_exists(con: duckdb.DuckDBPyConnection) -> bool:
    """The catalog database already holds a lake (DuckLake's own tables are there)."""
    inner = "SELECT count(*) FROM information_schema.tables WHERE table_name = 'ducklake_metadata'"
    return bool(con.execute(f"SELECT * FROM postgres_query('{PG}', {_sql_string(inner)})").fetchall()[0][0])


def _is_init_race(exc: BaseException) -> bool:
    """Two workers attached a new, empty catalog at once and both began creating DuckLake's tables.

    Observed on 1.5.5: 'Failed to initialize DuckLake: Failed to execute query "CREATE TABLE
    "public"."ducklake_metadata"...": ERROR: duplicate key value violates unique constraint
    "pg_type_typname_nsp_index"'. PostgreSQL creates the tables in one transaction, so the loser
    finds a complete catalog when it attaches again.
    """
    text = str(exc)
    return (
        isinstance(exc, duckdb.Error)
        and "Failed to initialize DuckLake" in text
        and ("duplicate key" in text or "already exists" in text)
    )


# ---------------------------------------------------------------------------------------------
# commit conflicts


def is_conflict(exc: BaseException) -> bool:
    """A DuckLake commit lost a race with another writer's commit; doing the work again succeeds.

    Observed on 1.5.5 as a TransactionException at COMMIT: "Failed to commit DuckLake transaction.
    Transaction conflict - attempting to delete from table with index "2" - but another transaction
    has inserted into it" (also: created by another transaction already, has altered it, has
    deleted inlined data from it). The failed transaction is rolled back already.
    """
    return isinstance(exc, duckdb.TransactionException) and "Transaction conflict" in str(exc)


@dataclass
class RetryStats:
    """How often commits had to be redone: the cost of concurrency, for logs and benchmarks."""

    retries: int = 0
    conflicts: list[str] = field(default_factory=list)
    alone: int = 0  # commits that lost too often and were redone with every other commit held back


#: this process's retries of lake commits (warehouse.committed), reported with each run
RETRIES = RetryStats()


def with_retries(
    fn: Callable[[], T],
    *,
    attempts: int = 10,
    stats: RetryStats | None = None,
    max_wait: float = 2.0,
) -> T:
    """Run `fn` (one whole transaction), again after a commit conflict, with jittered backoff.

    Only conflicts are retried: any other error is a real failure and surfaces at once. `fn` must
    redo its work from scratch (open its own transaction, e.g. with `transaction(con)`), because a
    conflicting commit has been rolled back. The jitter keeps writers that collided from colliding
    again in lockstep.
    """

    def count(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome is not None else None
        if stats is not None:
            stats.retries += 1
            if exc is not None:
                stats.conflicts.append(str(exc).strip().splitlines()[-1])
        log.debug("lake commit conflict (attempt %d), retrying: %s", state.attempt_number, exc)

    retrying = Retrying(
        retry=retry_if_exception(is_conflict),
        stop=stop_after_attempt(attempts),
        wait=wait_random_exponential(multiplier=0.05, max=max_wait),
        before_sleep=count,
        reraise=True,
    )
    return retrying(fn)


# ---------------------------------------------------------------------------------------------
# sequences


def next_ids(con: duckdb.DuckDBPyConnection, sequence: str, n: int = 1) -> list[int]:
    """`n` ids from a warehouse sequence, unique across every worker (DuckLake has no sequences).

    They come from a PostgreSQL sequence in the catalog database: nextval is atomic across
    connections and never hands out a number twice, even when the transaction that used it
    rolls back (gaps, as in DuckDB, and no duplicates).
    """
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", sequence):
        raise ValueError(f"not a sequence name: {sequence!r}")
    inner = f"SELECT nextval('{SEQUENCE_SCHEMA}.{sequence}') AS id FROM generate_series(1, {int(n)})"
    rows = con.execute(f"SELECT id FROM postgres_query('{PG}', {_sql_string(inner)})").fetchall()
    return sorted(int(r[0]) for r in rows)


# ---------------------------------------------------------------------------------------------
# schema translation


@dataclass
class LakeSchema:
    """The schema steps as the lake takes them, and what had to be kept outside DuckLake."""

    statements: list[tuple[str, str]] = field(default_factory=list)  # (step name, SQL) run in DuckLake
    sequences: dict[str, int] = field(default_factory=dict)  # name -> START, created in PostgreSQL
    keys: dict[str, tuple[str, ...]] = field(default_factory=dict)  # table -> PRIMARY KEY columns (not enforced)
    view_column_comments: list[tuple[str, str, str]] = field(default_factory=list)  # (view, column, comment)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (step name, statement) with no lake form
    applied_rules: set[str] = field(default_factory=set)


#: The translation rules, by name; each is applied in `translate` and named in LakeSchema.applied_rules.
RULES = {
    "sequence": "CREATE SEQUENCE -> a PostgreSQL sequence in the catalog database "
    "(DuckLake: 'does not support sequences'); ids come from next_ids().",
    "primary-key": "PRIMARY KEY / UNIQUE dropped, kept as NOT NULL and recorded in LakeSchema.keys "
    "(DuckLake: 'PRIMARY KEY/UNIQUE constraints are not supported'); uniqueness is the writers' job.",
    "nextval-default": "DEFAULT nextval('seq') dropped: a DuckLake default cannot call a sequence; "
    "writers give the id from next_ids().",
    "fixed-array": "TYPE[n] -> TYPE[] (DuckLake: 'unsupported type FLOAT[512]'); values cast on insert.",
    "index": "CREATE INDEX skipped (DuckLake: 'does not support indexes'); Parquet min/max statistics prune instead.",
    "view-column-comment": "COMMENT ON COLUMN <view>.<col> -> a row of lake_view_column_comments "
    "(DuckLake: 'Cannot comment on columns for entry ... it is not a table').",
}

_LEADING_COMMENTS = re.compile(r"^(?:\s*--[^\n]*\n)*\s*")
_CREATE_SEQUENCE = re.compile(
    r"^CREATE\s+SEQUENCE\s+(?:IF\s+NOT\s+EXISTS\s+)?(\w+)(?:\s+START\s+(?:WITH\s+)?(\d+))?\s*;?\s*$", re.I
)
_CREATE_TABLE = re.compile(r"^(CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?(\w+)\s*)\((.*)\)\s*;?\s*$", re.I | re.S)
_CREATE_VIEW = re.compile(r"^CREATE\s+(?:OR\s+REPLACE\s+)?VIEW\s+(?:IF\s+NOT\s+EXISTS\s+)?(\w+)", re.I)
_CREATE_INDEX = re.compile(r"^CREATE\s+(?:UNIQUE\s+)?INDEX\b", re.I)
_ALTER_ADD = re.compile(r"^ALTER\s+TABLE\s+\w+\s+ADD\s+COLUMN\b", re.I)
_COMMENT_COLUMN = re.compile(r"^COMMENT\s+ON\s+COLUMN\s+(\w+)\.(\w+)\s+IS\s+'((?:[^']|'')*)'\s*;?\s*$", re.I | re.S)
_TABLE_CONSTRAINT = re.compile(r"^(?:CONSTRAINT\s+\w+\s+)?(PRIMARY\s+KEY|UNIQUE|CHECK|FOREIGN\s+KEY)\b", re.I)
_TABLE_KEY = re.compile(r"^(?:CONSTRAINT\s+\w+\s+)?PRIMARY\s+KEY\s*\(([^)]*)\)", re.I)
_INLINE_KEY = re.compile(r"\s+(PRIMARY\s+KEY|UNIQUE)\b", re.I)
_NOT_NULL = re.compile(r"\bNOT\s+NULL\b", re.I)
_NEXTVAL_DEFAULT = re.compile(r"\s+DEFAULT\s+nextval\s*\(\s*'[^']*'\s*\)", re.I)
_FIXED_ARRAY = re.compile(r"(\w)\[\d+\]")


def _split_top_level(body: str) -> list[str]:
    """Split a column list at the commas outside parentheses and quotes (DECIMAL(9,2), defaults)."""
    parts, depth, quote, start = [], 0, False, 0
    for i, ch in enumerate(body):
        if ch == "'":
            quote = not quote
        elif quote:
            continue
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(body[start:i])
            start = i + 1
    parts.append(body[start:])
    return [p.strip() for p in parts if p.strip()]


def _translate_table(name: str, head: str, body: str, out: LakeSchema) -> str:
    """One CREATE TABLE with its keys, sequence defaults and fixed-size arrays rewritten, column by column.

    Column by column rather than one regex over the statement, so a key that spans columns
    (`PRIMARY KEY (a, b)`) makes each of them NOT NULL and commas inside types or defaults stay put.
    """
    columns: list[str] = []
    for item in _split_top_level(body):
        if constraint := _TABLE_CONSTRAINT.match(item):
            kind = constraint.group(1).upper()
            if kind.startswith(("CHECK", "FOREIGN")):
                columns.append(item)  # left for DuckLake to accept or refuse, loudly
                continue
            out.applied_rules.add("primary-key")
            if key := _TABLE_KEY.match(item):
                cols = tuple(c.strip() for c in key.group(1).split(","))
                out.keys[name] = cols
                # the key's columns must still never be NULL
                columns = [c if c.split()[0] not in cols or _NOT_NULL.search(c) else c + " NOT NULL" for c in columns]
            continue
        col = item
        inline = _INLINE_KEY.search(col)
        if inline:
            if inline.group(1).upper().startswith("PRIMARY"):
                out.keys[name] = (col.split()[0],)
                if not _NOT_NULL.search(col):
                    col = _INLINE_KEY.sub(" NOT NULL", col, count=1)
            col = _INLINE_KEY.sub("", col)
            out.applied_rules.add("primary-key")
        if _NEXTVAL_DEFAULT.search(col):
            col = _NEXTVAL_DEFAULT.sub("", col)
            out.applied_rules.add("nextval-default")
        if _FIXED_ARRAY.search(col):
            col = _FIXED_ARRAY.sub(r"\1[]", col)
            out.applied_rules.add("fixed-array")
        columns.append(col)
    return head + "(\n    " + ",\n    ".join(columns) + "\n)"


def translate(steps: list[tuple[str, str]] | None = None) -> LakeSchema:
    """The schema steps rewritten for DuckLake, statement by statement (see RULES for each change).

    Statements are split by DuckDB's own parser, so quoting and comments are handled as DuckDB
    handles them; anything no rule names passes through unchanged and, if DuckLake refuses it,
    fails `migrate_lake` with the step's name, so a new kind of statement gets a rule on purpose.
    """
    if steps is None:
        steps = [(p.name, p.read_text(encoding="utf-8")) for p in schema_steps()]
    out = LakeSchema()
    views: set[str] = set()
    splitter = duckdb.connect(":memory:", config=dict(SAFE_CONFIG))
    try:
        for name, text in steps:
            for stmt in splitter.extract_statements(text):
                sql = _LEADING_COMMENTS.sub("", stmt.query).strip().rstrip(";").strip()
                if not sql:
                    continue
                if m := _CREATE_SEQUENCE.match(sql):
                    out.sequences[m.group(1)] = int(m.group(2) or 1)
                    out.applied_rules.add("sequence")
                    continue
                if _CREATE_INDEX.match(sql):
                    out.skipped.append((name, sql))
                    out.applied_rules.add("index")
                    continue
                if m := _CREATE_TABLE.match(sql):
                    sql = _translate_table(m.group(2), m.group(1), m.group(3), out)
                elif m := _CREATE_VIEW.match(sql):
                    views.add(m.group(1).lower())
                elif _ALTER_ADD.match(sql) and _FIXED_ARRAY.search(sql):
                    sql = _FIXED_ARRAY.sub(r"\1[]", sql)
                    out.applied_rules.add("fixed-array")
                elif (m := _COMMENT_COLUMN.match(sql)) and m.group(1).lower() in views:
                    out.view_column_comments.append((m.group(1), m.group(2), m.group(3).replace("''", "'")))
                    out.applied_rules.add("view-column-comment")
                    continue
                out.statements.append((name, sql))
    finally:
        splitter.close()
    return out


def schema_fingerprint(steps: list[tuple[str, str]]) -> str:
    """The steps' fingerprint as migrate() computes it, plus the rules version (a rule change re-migrates)."""
    base = "\0".join(f"{name}\0{text}" for name, text in steps)
    return hashlib.sha256(f"{base}\0lake-rules-{RULES_VERSION}".encode()).hexdigest()


#: key of the PostgreSQL advisory lock that serialises the sequence DDL of workers migrating at once
_DDL_LOCK = 0x10A_1A3E


def migrate_lake(con: duckdb.DuckDBPyConnection, *, stats: RetryStats | None = None) -> LakeSchema:
    """Bring the lake's schema up to date from warehouse/schema/*.sql; the lake's migrate().

    Like migrate(), a fingerprint in `schema_state` skips the work when nothing changed, and all
    DuckLake statements commit as one transaction (one snapshot): readers see the old schema or
    the new one. Sequences are created first, outside it: DuckDB lets a transaction write to one
    attached database only, and PostgreSQL's CREATE SEQUENCE IF NOT EXISTS is idempotent anyway.
    Workers starting together race to migrate; the losers' commits conflict and are retried,
    and on retry they find the fingerprint and stop.
    """
    steps = [(p.name, p.read_text(encoding="utf-8")) for p in schema_steps()]
    fingerprint = schema_fingerprint(steps)
    schema = translate(steps)

    def applied() -> bool:
        try:
            return con.execute("SELECT fingerprint FROM schema_state").fetchall() == [(fingerprint,)]
        except duckdb.CatalogException:
            return False

    if applied():
        return schema
    schema.sequences.update({k: v for k, v in LAKE_SEQUENCES.items() if k not in schema.sequences})
    if schema.sequences:
        # IF NOT EXISTS is not safe against a concurrent creator in PostgreSQL (two workers starting
        # on a new lake both insert the schema's catalog row): a transaction-level advisory lock
        # makes the workers create it one after the other
        ddl = [f"SELECT pg_advisory_xact_lock({_DDL_LOCK})", f"CREATE SCHEMA IF NOT EXISTS {SEQUENCE_SCHEMA}"] + [
            f"CREATE SEQUENCE IF NOT EXISTS {SEQUENCE_SCHEMA}.{seq} START {start}"
            for seq, start in schema.sequences.items()
        ]
        con.execute(f"CALL postgres_execute('{PG}', {_sql_string('; '.join(ddl))})")

    def apply() -> None:
        if applied():
            return
        with transaction(con):
            for name, sql in schema.statements:
                try:
                    con.execute(sql)
                except duckdb.Error as exc:
                    raise WarehouseError(f"schema step {name} failed on the lake: {_first_line(exc)}\n{sql}") from exc
            con.execute(
                f"CREATE TABLE IF NOT EXISTS {VIEW_COLUMN_COMMENTS} "
                "(view_name VARCHAR NOT NULL, column_name VARCHAR NOT NULL, comment VARCHAR NOT NULL)"
            )
            con.execute(
                f"COMMENT ON TABLE {VIEW_COLUMN_COMMENTS} IS 'Comments on the columns of the views (DuckLake keeps "
                "comments on table columns only); a DuckDB file warehouse has them as column comments.'"
            )
            con.execute(f"DELETE FROM {VIEW_COLUMN_COMMENTS}")
            if schema.view_column_comments:
                con.executemany(f"INSERT INTO {VIEW_COLUMN_COMMENTS} VALUES (?, ?, ?)", schema.view_column_comments)
            con.execute("DELETE FROM schema_state")
            con.execute("INSERT INTO schema_state VALUES (?, now())", [fingerprint])

    with_retries(apply, stats=stats)
    return schema


def duplicate_keys(con: duckdb.DuckDBPyConnection, keys: dict[str, tuple[str, ...]]) -> dict[str, int]:
    """Rows beyond the first per key, per table: the check a DuckDB file's PRIMARY KEY made on insert.

    DuckLake enforces no keys, so concurrent workers can insert the same key twice; this is how a
    test or a maintenance run sees it (the ingest's dedup step must keep it at zero).
    """
    out = {}
    for table, cols in keys.items():
        key = ", ".join(cols)
        (extra,) = con.execute(f"SELECT count(*) - count(DISTINCT ({key})) FROM {table}").fetchone()  # type: ignore[misc]
        out[table] = int(extra)
    return out


# ---------------------------------------------------------------------------------------------
# leases: what one worker holds while it runs


#: advisory-lock namespaces (the first key of PostgreSQL's two-key locks), one per kind of lease
RUN_LOCKS = 0x10A1
SOURCE_LOCKS = 0x10A2
DEDUP_LOCK = (0x10A3, 1)
#: every commit holds this lock shared; one that lost ESCALATE_AFTER races holds it alone
COMMIT_TURN = (0x10A4, 1)
ESCALATE_AFTER = 3


def commit(
    con: duckdb.DuckDBPyConnection,
    work: Callable[[], T],
    *,
    stats: RetryStats | None = None,
    attempts: int = 10,
    escalate_after: int = ESCALATE_AFTER,
) -> T:
    """`work` (one whole transaction) committed optimistically, and alone once it has lost too often.

    Concurrent batches conflict whenever one updates a table another appends to (every batch
    updates its pages' parse status), so a long transaction can lose every race to shorter ones:
    under load, ten attempts in a row lost and the worker failed. Retrying alone ends that: each
    commit holds a shared PostgreSQL advisory lock, and one that has lost `escalate_after` times
    waits for the lock exclusively. PostgreSQL queues later shared requests behind a waiting
    exclusive one, so the transactions in flight finish, no new one starts, and the redo runs
    with no other committing writer. The usual cost is two round trips to the catalog a commit.
    """
    held = leases(con)
    lost = 0

    def attempt() -> T:
        nonlocal lost
        alone = lost >= escalate_after
        held.lock(*COMMIT_TURN, shared=not alone)
        try:
            if alone and stats is not None:
                stats.alone += 1
            return work()
        except BaseException as exc:
            lost += is_conflict(exc)
            raise
        finally:
            held.unlock(*COMMIT_TURN, shared=not alone)

    return with_retries(attempt, stats=stats, attempts=attempts)


class Leases:
    """Advisory locks held by one PostgreSQL session of this process, released when it ends.

    DuckLake has no locks of its own, and a lock row in the lake would outlive a worker killed
    with -9. A PostgreSQL session lock lives as long as its connection: the server drops it as
    soon as the process dies and its socket closes. (A machine that vanishes from the network
    keeps its locks until TCP keepalive notices: put `keepalives_idle=60` in the conninfo.)
    The DuckDB postgres extension pools connections, so the session is pinned by one DuckDB
    transaction on a connection of its own, kept open; the queries run outside any PostgreSQL
    transaction (`use_transaction => false`), so the session is idle between them and holds back
    neither vacuum nor an `idle_in_transaction_session_timeout`.

    `check()` says whether the session still holds what it took: a lost connection loses the
    locks, and a worker must then stop rather than load a source another worker may now hold.
    """

    def __init__(self, conninfo: str) -> None:
        self.conninfo = conninfo
        con = duckdb.connect(":memory:", config={"memory_limit": "256MB", **SAFE_CONFIG})
        try:
            path = extension_file("postgres_scanner")
            if path is None:
                raise WarehouseError("the DuckDB extension postgres_scanner is not installed: make venv")
            con.execute(f"LOAD {_sql_string(str(path))}")
            con.execute(f"ATTACH {_sql_string(conninfo)} AS {PG} (TYPE postgres)")
            con.execute("BEGIN TRANSACTION")
        except duckdb.Error as exc:
            con.close()
            raise WarehouseError(f"cannot reach the lake's catalog {conninfo}: {_first_line(exc)}") from exc
        self.con = con
        self.held = 0  # locks taken and not released: what `check` expects PostgreSQL to list

    def _ask(self, sql: str) -> object:
        query = f"SELECT * FROM postgres_query('{PG}', {_sql_string(sql)}, use_transaction => false)"
        try:
            return self.con.execute(query).fetchall()[0][0]
        except duckdb.Error as exc:
            raise WarehouseError(f"lost the lake's catalog {self.conninfo}: {_first_line(exc)}") from exc

    def try_lock(self, space: int, key: int | str, *, shared: bool = False) -> bool:
        """Take the lock now or say it is held elsewhere (a string key is hashed by PostgreSQL)."""
        kind = "_shared" if shared else ""
        taken = bool(self._ask(f"SELECT pg_try_advisory_lock{kind}({int(space)}, {_lock_key(key)})"))
        self.held += taken
        return taken

    def lock(self, space: int, key: int | str, *, shared: bool = False) -> None:
        """Wait for the lock (another worker's dedup pass, say) and take it."""
        kind = "_shared" if shared else ""
        self._ask(f"SELECT pg_advisory_lock{kind}({int(space)}, {_lock_key(key)})::text")
        self.held += 1

    def unlock(self, space: int, key: int | str, *, shared: bool = False) -> None:
        kind = "_shared" if shared else ""
        self.held -= bool(self._ask(f"SELECT pg_advisory_unlock{kind}({int(space)}, {_lock_key(key)})"))

    def check(self) -> None:
        """Raise WarehouseError when PostgreSQL no longer lists the locks this session took."""
        if not self.held:
            return
        listed = self._ask(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND pid = pg_backend_pid()"
        )
        if int(listed) < self.held:  # type: ignore[call-overload]
            raise WarehouseError(
                f"this worker's leases on {self.conninfo} are gone (its PostgreSQL session was lost): "
                "stopping before it writes a source another worker may hold; run it again"
            )

    def close(self) -> None:
        with contextlib.suppress(duckdb.Error):
            self.con.close()  # the session ends: PostgreSQL releases every lock it held


def _lock_key(key: int | str) -> str:
    return str(int(key)) if isinstance(key, int) else f"hashtext({_sql_string(key)})"


#: one session per catalog for the whole process: its locks are this process's leases
_LEASES: dict[str, Leases] = {}


def leases(con: duckdb.DuckDBPyConnection) -> Leases:
    """This process's lease session for the lake `con` is attached to (opened on first use)."""
    rows = con.execute("SELECT path FROM duckdb_databases() WHERE database_name = ?", [PG]).fetchall()
    if not rows:
        raise WarehouseError("this lake connection is read-only: it holds no leases")
    conninfo = str(rows[0][0])
    if conninfo not in _LEASES:
        _LEASES[conninfo] = Leases(conninfo)
    return _LEASES[conninfo]


def check_leases() -> None:
    """Every lease session of this process still holds its locks (see Leases.check)."""
    for held in _LEASES.values():
        held.check()


def release_leases() -> None:
    """End every lease session of this process (at the end of a run; a dead process ends them anyway)."""
    while _LEASES:
        _LEASES.popitem()[1].close()


def start_run_id(con: duckdb.DuckDBPyConnection) -> tuple[int, list[int]]:
    """A new run's id, leased for as long as this process lives, and the runs whose worker died.

    A run left `running` is crashed only if no live process holds its lease: on a lake, other
    workers' runs are `running` too, and marking them crashed would be a lie.
    """
    held = leases(con)
    run_id = next_ids(con, "run_seq")[0]
    if not held.try_lock(RUN_LOCKS, run_id):  # a fresh id cannot be held: the sequence is broken
        raise WarehouseError(f"run id {run_id} is already leased: is run_seq shared with another warehouse?")
    dead = []
    for (other,) in con.execute("SELECT run_id FROM runs WHERE status = 'running'").fetchall():
        if held.try_lock(RUN_LOCKS, int(other)):
            held.unlock(RUN_LOCKS, int(other))
            dead.append(int(other))
    return run_id, dead


#: the key a run loading every source holds exclusively, and a run loading some sources holds shared
ALL_SOURCES = "*"


def hold_sources(con: duckdb.DuckDBPyConnection, names: list[str] | None) -> None:
    """Lease the sources this worker loads (None: all of them); one another live worker loads is an error.

    The lake has no primary keys, so two workers loading one source at once would each insert
    its new pages. This is the lake's form of the file's one-writer lock, per source: a worker
    with `--source` holds its sources and a shared lease on "all", a worker without holds "all".
    """
    held = leases(con)
    wanted = [(ALL_SOURCES, names is not None)] + [(name, False) for name in sorted(set(names or []))]
    taken: list[tuple[str, bool]] = []
    for name, shared in wanted:
        if not held.try_lock(SOURCE_LOCKS, name, shared=shared):
            for done, was_shared in taken:
                held.unlock(SOURCE_LOCKS, done, shared=was_shared)
            what = "every source" if name == ALL_SOURCES else f"source {name}"
            raise WarehouseLockedError(
                f"another worker is loading {what} into this lake: split the sources between workers with --source"
            )
        taken.append((name, shared))


@contextlib.contextmanager
def exclusive_dedup(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """One dedup pass at a time across every worker: the others wait, then find it done or redo it."""
    held = leases(con)
    held.lock(*DEDUP_LOCK)
    try:
        yield
    finally:
        held.unlock(*DEDUP_LOCK)


# ---------------------------------------------------------------------------------------------
# the lake as the commands see it


class LakeWriter:
    """The lake's counterpart of warehouse.WorkingCopy, with the same methods.

    The file needs a private copy published whole because readers would otherwise see a
    half-loaded file or lock the writer out. A lake needs neither: every commit is a snapshot
    readers see whole, and writers do not block readers. So `publish` only ends the run's leases.
    """

    def __init__(self, spec: LakeSpec) -> None:
        self.spec = spec
        self.con: duckdb.DuckDBPyConnection | None = None

    def open(self) -> duckdb.DuckDBPyConnection:
        self.con = connect_lake(self.spec)
        return self.con

    def detach(self) -> None:
        """Nothing to release during the crawl: the lake takes no lock while nobody commits."""

    def reopen(self) -> duckdb.DuckDBPyConnection:
        if self.con is None:
            return self.open()
        return self.con

    def publish(self) -> None:
        self.close()

    def may_publish_interrupted(self, partly_loaded: bool) -> bool:
        """Always: what the run committed is in the lake already, and publishing only ends its leases."""
        return True

    def after_io_failure(self, failed_path: str | None, run_id: int | None, message: str, exit_code: int) -> None:
        """Nothing to drop: a commit that failed wrote no snapshot, and the lake is never copied."""

    def close(self) -> None:
        release_leases()
        if self.con is not None:
            self.con.close()
            self.con = None


class LakeReaders:
    """Read-only connections for a server's requests: one lake attachment, a cursor per request.

    A file server opens the file per request (a new run replaces it); attaching a lake costs
    about a second, and a lake needs no re-opening: each query reads the latest snapshot.
    """

    def __init__(self, spec: LakeSpec) -> None:
        self.spec = spec
        self._base: duckdb.DuckDBPyConnection | None = None
        self._lock = threading.Lock()  # two first requests at once attach it once

    def open(self) -> duckdb.DuckDBPyConnection:
        with self._lock:
            if self._base is None:
                self._base = connect_lake(self.spec, read_only=True)
            cursor = self._base.cursor()
        cursor.execute(f"USE {LAKE}")
        return cursor


# ---------------------------------------------------------------------------------------------
# maintenance


@dataclass
class CompactReport:
    files_before: int
    files_after: int
    snapshots_before: int
    snapshots_after: int
    #: Parquet files in the data path that no snapshot names (a killed worker's uncommitted writes)
    orphans_deleted: int = 0


#: files younger than this are never taken for orphans: a batch is written and committed in seconds
ORPHAN_MIN_AGE = "1 hour"


def compact(con: duckdb.DuckDBPyConnection, older_than: str = "1 hour") -> CompactReport:
    """Merge the small Parquet files each commit leaves, then drop what no snapshot needs.

    Every worker commit writes at least one file (or inlines up to 10 rows in the catalog), so a
    lake loaded in 200-page batches grows thousands of small files. In order: flush inlined rows
    to Parquet, rewrite the files that have deleted rows, merge adjacent files, expire snapshots
    older than `older_than` (time travel and
    `ducklake_table_changes` reach back only that far afterwards), delete the files they alone
    used, and delete the orphans: files no snapshot ever named, which a worker killed before its
    commit leaves behind. Safe beside running workers: DuckLake commits the merge like any other
    writer, and an orphan must be older than `older_than` too, so a transaction still writing
    keeps its files.
    """

    def counts() -> tuple[int, int]:
        ((n_files,),) = con.execute(
            f"SELECT count(*) FROM __ducklake_metadata_{LAKE}.ducklake_data_file WHERE end_snapshot IS NULL"
        ).fetchall()
        ((n_snaps,),) = con.execute(f"SELECT count(*) FROM ducklake_snapshots('{LAKE}')").fetchall()
        return int(n_files), int(n_snaps)

    try:
        con.execute(f"SELECT INTERVAL {_sql_string(older_than)}")
    except duckdb.Error as exc:
        raise WarehouseError(f"--older-than {older_than!r} is not an interval (e.g. '1 hour', '7 days')") from exc
    files_before, snaps_before = counts()
    with_retries(lambda: con.execute(f"CALL ducklake_flush_inlined_data('{LAKE}')"))
    # a file with deleted rows is never merged; every batch's UPDATE of parse statuses leaves one
    with_retries(lambda: con.execute(f"CALL ducklake_rewrite_data_files('{LAKE}', delete_threshold => 0)"))
    with_retries(lambda: con.execute(f"CALL ducklake_merge_adjacent_files('{LAKE}')"))
    cutoff = f"now() - INTERVAL {_sql_string(older_than)}"
    con.execute(f"CALL ducklake_expire_snapshots('{LAKE}', older_than => {cutoff})")
    con.execute(f"CALL ducklake_cleanup_old_files('{LAKE}', cleanup_all => true)")
    # an orphan is a file no commit names yet: a killed worker's, or a running worker's before its
    # commit, so never younger than ORPHAN_MIN_AGE whatever `older_than` says
    orphan_cutoff = f"least({cutoff}, now() - INTERVAL '{ORPHAN_MIN_AGE}')"
    orphans = con.execute(f"CALL ducklake_delete_orphaned_files('{LAKE}', older_than => {orphan_cutoff})").fetchall()
    files_after, snaps_after = counts()
    return CompactReport(files_before, files_after, snaps_before, snaps_after, len(orphans))


def current_snapshot(con: duckdb.DuckDBPyConnection) -> int:
    """The id of the lake snapshot this connection's transaction reads."""
    return int(con.execute(f"SELECT id FROM {LAKE}.current_snapshot()").fetchone()[0])  # type: ignore[index]


#: `record_status` as the OAI-PMH server reads it from a lake: a change's datestamp is the time of
#: the snapshot that committed it, not the `now()` of its transaction, which is earlier. A harvest
#: between the two would otherwise miss the change for ever: its next `from` would be later than
#: the stamp. Once `compact` has expired that snapshot, `changed_at` (milliseconds earlier) stands in.
RECORD_STATUS = f"""(
    SELECT c.level, c.id,
           arg_max(c.op, c.change_id) = 'withdrawn' AS withdrawn,
           max(coalesce(s.snapshot_time, c.changed_at)) AS last_changed_at
    FROM record_changes AS c LEFT JOIN ducklake_snapshots('{LAKE}') AS s ON s.snapshot_id = c.snapshot_id
    GROUP BY c.level, c.id
)"""


# ---------------------------------------------------------------------------------------------
# the lake's side of the seam (pipeline/backend.py)


def _spec(where: Location) -> LakeSpec:
    return where if isinstance(where, LakeSpec) else parse_spec(str(where))


class LakeBackend:
    """The warehouse as a DuckLake: several writers, leases in PostgreSQL, snapshots readers can name."""

    concurrent_writers = True

    def connect(
        self, where: Location, *, read_only: bool = False, memory_limit: str = MEMORY_LIMIT
    ) -> duckdb.DuckDBPyConnection:
        return connect_lake(_spec(where), read_only=read_only, memory_limit=memory_limit)

    def open_writer(self, where: Location) -> LakeWriter:
        return LakeWriter(_spec(where))

    def open_readers(self, where: Location) -> LakeReaders:
        return LakeReaders(_spec(where))

    def rebuild_hint(self, where: Location) -> str:
        return (
            "a lake keeps every snapshot until `iom-pipeline lake compact` expires it (docs/lake.md)"
            "; if it cannot be repaired, rebuild it from raw/ into a new catalog database:"
            f" iom-pipeline ingest --offline --warehouse '{where}'"
        )

    def migrate(self, con: duckdb.DuckDBPyConnection) -> None:
        migrate_lake(con)

    def committed(self, con: duckdb.DuckDBPyConnection, work: Callable[[], T]) -> T:
        """Redone after a commit conflict, alone after it has lost a few (`commit`, counted in RETRIES)."""
        check_leases()  # one round trip to PostgreSQL: a worker that lost its leases must not write
        return commit(con, work, stats=RETRIES)

    def next_ids(self, con: duckdb.DuckDBPyConnection, sequence: str, n: int) -> list[int]:
        return next_ids(con, sequence, n)

    def new_run_id(self, con: duckdb.DuckDBPyConnection) -> tuple[int, list[int]]:
        return start_run_id(con)

    def hold_sources(self, con: duckdb.DuckDBPyConnection, names: list[str] | None) -> None:
        hold_sources(con, names)

    def exclusive_dedup(self, con: duckdb.DuckDBPyConnection) -> contextlib.AbstractContextManager[None]:
        return exclusive_dedup(con)

    def read_snapshot(self, con: duckdb.DuckDBPyConnection) -> int | None:
        con.execute("BEGIN TRANSACTION")  # the snapshot named and the rows read are the same one
        return current_snapshot(con)

    def search_index(self, con: duckdb.DuckDBPyConnection, where: Location) -> Path:
        """In the data folder the catalog names: the one local folder every user of the lake shares."""
        row = con.execute(f"SELECT data_path FROM ducklake_settings('{LAKE}')").fetchone()
        if row is None or not row[0]:
            raise WarehouseError(f"{where}: the lake's catalog names no data folder")
        return Path(row[0]) / "search.duckdb"

    def record_status(self) -> str:
        return RECORD_STATUS


BACKEND: Backend = LakeBackend()
