"""The warehouse has one seam (issue 20): `pipeline/backend.py` names what a caller needs, and the
DuckDB file (`pipeline/warehouse.py`) and the DuckLake (`pipeline/lake.py`) each implement it.

The rule these tests hold: only those three modules may ask which backend holds the warehouse.
No other module of the product calls `is_lake`, tests a location or a writer with `isinstance`
against `Path`, `LakeSpec` or a backend's own class, or imports `pipeline.lake` (except the lake's
own commands, `lake_cli.py`); what differs between the backends, a caller asks the backend.
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import grimp
import pytest

from pipeline import backend, lake, warehouse
from pipeline.backend import location
from pipeline.errors import WarehouseError
from pipeline.warehouse import backend_for, committed, exclusive_dedup, hold_sources, new_run_id, next_ids

ROOT = Path(__file__).resolve().parent.parent
#: the seam and its two sides: the only modules that know there are two backends
BACKENDS = {"pipeline/backend.py", "pipeline/warehouse.py", "pipeline/lake.py"}
#: names that tell the file from the lake: a test against one of them is a branch on the backend
BACKEND_TYPES = {
    "Path",
    "LakeSpec",
    "WorkingCopy",
    "LakeWriter",
    "FileReaders",
    "LakeReaders",
    "FileBackend",
    "LakeBackend",
}
#: the predicates that ask which backend a connection or a `--warehouse` value is
BACKEND_QUESTIONS = {"is_lake", "is_lake_spec"}


def _name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def backend_branches(source: str) -> list[tuple[int, str]]:
    """(line, what) of every place in `source` that asks which backend it has."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        called = _name(node.func)
        if called in BACKEND_QUESTIONS:
            found.append((node.lineno, f"{called}()"))
        elif called == "isinstance" and len(node.args) == 2:
            kinds = node.args[1].elts if isinstance(node.args[1], ast.Tuple) else [node.args[1]]
            named = sorted({n for n in map(_name, kinds) if n in BACKEND_TYPES})
            if named:
                found.append((node.lineno, f"isinstance(..., {', '.join(named)})"))
    return found


def test_the_finder_sees_each_kind_of_question_and_leaves_other_code_alone() -> None:
    source = (
        "if is_lake(con): pass\n"
        "if warehouse.is_lake_spec(text): pass\n"
        "if isinstance(db_path, Path): pass\n"
        "if not isinstance(where, (str, LakeSpec)): pass\n"
        "if isinstance(work, WorkingCopy): pass\n"
        "if isinstance(value, str): pass\n"
        "if backend_of(con).concurrent_writers: pass\n"
    )
    assert sorted(line for line, _ in backend_branches(source)) == [1, 2, 3, 4, 5]


def test_no_module_outside_the_backends_asks_which_backend_it_has() -> None:
    offenders = []
    for path in sorted([*(ROOT / "pipeline").rglob("*.py"), *(ROOT / "parsers").rglob("*.py")]):
        name = path.relative_to(ROOT).as_posix()
        if name in BACKENDS:
            continue
        offenders += [f"{name}:{line}: {what}" for line, what in backend_branches(path.read_text(encoding="utf-8"))]
    assert offenders == []


def test_only_the_backends_and_the_lake_commands_import_the_lake() -> None:
    graph = grimp.build_graph("pipeline", cache_dir=None)  # no cache: a stale one hides a new import
    importers = graph.find_modules_that_directly_import("pipeline.lake")
    assert importers <= {"pipeline.warehouse", "pipeline.lake_cli"}
    assert "pipeline.warehouse" not in graph.find_modules_directly_imported_by("pipeline.lake")
    seam = graph.find_modules_directly_imported_by("pipeline.backend")
    assert seam.isdisjoint({"pipeline.lake", "pipeline.warehouse"})


# ------------------------------------------------------------------ both sides have every member


def _members(protocol: type) -> dict[str, inspect.Signature | None]:
    """The protocol's methods (with their signatures) and attributes (None)."""
    out: dict[str, inspect.Signature | None] = {}
    for name, value in vars(protocol).items():
        if name.startswith("_"):
            continue
        out[name] = inspect.signature(value) if callable(value) else None
    for name in getattr(protocol, "__annotations__", {}):
        out.setdefault(name, None)
    return out


@pytest.mark.parametrize(
    ("protocol", "implementations"),
    [
        (backend.Backend, [warehouse.FileBackend, lake.LakeBackend]),
        (backend.Writer, [warehouse.WorkingCopy, lake.LakeWriter]),
        (backend.Readers, [warehouse.FileReaders, lake.LakeReaders]),
    ],
)
def test_each_side_has_every_member_of_the_protocol_with_its_parameters(
    protocol: type, implementations: list[type]
) -> None:
    for impl in implementations:
        for name, signature in _members(protocol).items():
            if signature is None:  # an attribute: on the class, or set by __init__
                assert hasattr(impl, name) or name in inspect.getsource(impl.__init__), (impl, name)
                continue
            assert callable(getattr(impl, name, None)), (impl, name)
            assert list(inspect.signature(getattr(impl, name)).parameters) == list(signature.parameters), (impl, name)


# ------------------------------------------------------------------ both sides do what a caller needs


@pytest.fixture(params=["file", "lake"])
def where(request: pytest.FixtureRequest, tmp_path: Path) -> backend.Location:
    """A new warehouse of each kind, as `--warehouse` names it."""
    if request.param == "file":
        return location(tmp_path / "iom.duckdb")
    conninfo, data = request.getfixturevalue("lake_catalog")
    return location(f"ducklake:postgres:{conninfo}", data_path=data)


def test_a_run_writes_through_the_seam_and_readers_see_it_after_publish(where: backend.Location) -> None:
    """The same calls, in a run's order, on a DuckDB file and on a lake (docs/architecture.md, the two backends)."""
    chosen = backend_for(where)
    writer = chosen.open_writer(where)
    con = writer.open()
    try:
        chosen.migrate(con)
        run_id, dead = new_run_id(con)
        assert run_id >= 1 and dead == []  # a new warehouse: the first run, nobody left running
        first, second = next_ids(con, "dedup_run_seq", 2), next_ids(con, "dedup_run_seq", 1)
        assert len(set(first + second)) == 3 and first == sorted(first)  # never the same id twice
        hold_sources(con, ["publications.iom.int"])
        with exclusive_dedup(con):
            con.execute("CREATE TABLE seam_probe (n INTEGER)")

            def write() -> int:
                with backend.transaction(con):
                    con.execute("INSERT INTO seam_probe VALUES (1), (2)")
                return 2

            assert committed(con, write) == 2
        writer.publish()
    finally:
        writer.close()
    reader = chosen.open_readers(where).open()
    try:
        assert reader.execute("SELECT sum(n) FROM seam_probe").fetchone() == (3,)
        status = reader.execute(f"SELECT count(*) FROM {chosen.record_status()} AS r").fetchone()
        assert status == (0,)  # no change logged yet, on either side
        snapshot = chosen.read_snapshot(reader)
    finally:
        reader.close()
    # a file holds one build and one writer; a lake keeps snapshots and takes several writers
    if chosen is warehouse.FILE:
        assert snapshot is None and chosen.concurrent_writers is False
    else:
        assert isinstance(snapshot, int) and snapshot >= 1 and chosen.concurrent_writers is True
    assert "ingest --offline" in chosen.rebuild_hint(where)


def test_a_location_names_its_backend() -> None:
    assert backend_for(location("warehouse/iom.duckdb")) is warehouse.FILE
    assert backend_for(location("ducklake:postgres:host=127.0.0.1 dbname=iom")) is lake.BACKEND
    assert backend.file_of(location("warehouse/iom.duckdb")) == Path("warehouse/iom.duckdb")
    assert backend.file_of(location("ducklake:postgres:dbname=iom")) is None
    with pytest.raises(WarehouseError, match="--data-path is for a lake"):
        backend.with_data_path(location("warehouse/iom.duckdb"), Path("lake-data"))
