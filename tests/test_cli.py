"""`python -m pipeline` as a user runs it: a subprocess, a temporary archive and warehouse file."""

from __future__ import annotations

import re

import duckdb
import pytest

SEED_COUNTS = {
    ("migrantprotection.iom.int", "caption"): 1,
    ("migrantprotection.iom.int", "news"): 1,
    ("migrantprotection.iom.int", "publication"): 39,
    ("publications.iom.int", "publication"): 22,
    ("returnandreintegration.iom.int", "publication"): 40,
}


def option_help(help_text: str) -> dict[str, str]:
    """Each option of a click --help page and its explanation (continuation lines joined)."""
    options: dict[str, str] = {}
    current = None
    for line in help_text.split("Options:", 1)[1].splitlines():
        match = re.match(r"^  (-\S.*?)(?:\s{2,}(.*))?$", line)
        if match:
            names = re.findall(r"--[\w-]+", match.group(1)) or re.findall(r"-\w", match.group(1))
            current = names[0]
            options[current] = (match.group(2) or "").strip()
        elif current and line.startswith("    "):
            options[current] = f"{options[current]} {line.strip()}".strip()
    return options


def stats_table(stdout: str, title: str) -> list[dict[str, str]]:
    """Rows of one table printed by `stats`, as dicts keyed by the header."""
    lines = stdout.split(f"\n{title}\n", 1)[1].split("\n\n", 1)[0].splitlines()
    starts = [m.start() for m in re.finditer(r"\S+", lines[0])]
    bounds = list(zip(starts, [*starts[1:], None], strict=True))
    header = [lines[0][a:b].strip() for a, b in bounds]
    return [
        dict(zip(header, (line[a:b].strip() for a, b in bounds), strict=True)) for line in lines[1:] if line.strip()
    ]


def test_ingest_help_explains_each_option(run_cli):
    result = run_cli("ingest", "--help")
    assert result.returncode == 0, result.stderr
    options = option_help(result.stdout)
    assert {"--warehouse", "--data-path", "--raw", "--reparse", "--offline", "--help"} <= set(options)
    assert all(len(text) > 10 for text in options.values()), options
    assert "IOM_DB" in options["--warehouse"] and "warehouse/iom.duckdb" in options["--warehouse"]
    assert "ducklake:postgres:" in options["--warehouse"]
    assert "--warehouse, --db" in result.stdout  # the old name still works
    assert "IOM_RAW" in options["--raw"]
    assert "again" in options["--reparse"]
    assert "exits 1 only if nothing could be processed" in " ".join(result.stdout.split())


def test_stats_help_explains_each_option(run_cli):
    result = run_cli("stats", "--help")
    assert result.returncode == 0, result.stderr
    options = option_help(result.stdout)
    assert set(options) == {"--warehouse", "--data-path", "--json", "--help"}
    assert "IOM_DB" in options["--warehouse"] and "read-only" in options["--warehouse"]
    assert "per source and kind" in result.stdout


def test_help_lists_every_command_with_its_own_summary(run_cli):
    """The listing is written from LAZY_COMMANDS without importing the commands: it must say what
    each command's own docstring says, and running a lazily registered command must work."""
    import click

    from pipeline.cli import LAZY_COMMANDS, load_lazy_command

    for name, (_module, _attribute, summary) in LAZY_COMMANDS.items():
        command = load_lazy_command(name)
        assert isinstance(command, click.Command)
        assert command.name == name
        assert " ".join(summary.split()) == " ".join((command.help or "").split("\n\n")[0].split()), name
    result = run_cli("--help")
    assert result.returncode == 0, result.stderr
    listed = re.findall(r"^  ([a-z][\w-]*)\s{2,}", result.stdout.split("Commands:", 1)[1], flags=re.M)
    assert listed == sorted({"ingest", "stats", *LAZY_COMMANDS})
    archive = run_cli("archive", "--help")
    assert archive.returncode == 0 and "verify" in archive.stdout, archive.stderr


def test_help_imports_no_subsystem():
    """`--help` stays quick to start: listing the commands imports none of their modules, nor the
    heavy libraries (DuckDB, pyarrow, numpy, pydantic, the parsers) that only running them needs."""
    import subprocess
    import sys

    from pipeline.cli import LAZY_COMMANDS

    probe = (
        "import sys\n"
        "from pipeline.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print(' '.join(sorted(sys.modules)))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    loaded = set(result.stdout.split())
    assert "pipeline.cli" in loaded
    heavy = {module for module, _attribute, _summary in LAZY_COMMANDS.values()}
    heavy |= {"duckdb", "pyarrow", "numpy", "pydantic", "parsers", "pipeline.archive", "pipeline.ingest"}
    assert not heavy & loaded, sorted(heavy & loaded)


def test_unknown_option_is_a_usage_error(run_cli):
    result = run_cli("ingest", "--no-such-option")
    assert result.returncode == 2
    assert "--no-such-option" in result.stderr


def test_ingest_twice_then_stats_per_source_and_kind(tmp_path, seed_archive, run_cli):
    first = run_cli("ingest", "--offline")
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("run 1 ok: 5 pages parsed, 0 failed")
    assert "103 sightings, 0 rejects" in first.stdout
    assert not [line for line in first.stderr.splitlines() if line.startswith(("error", "warning"))]

    second = run_cli("ingest", "--offline")
    assert second.returncode == 0, second.stderr
    assert second.stdout.startswith("run 2 ok: 0 pages parsed, 0 failed, 5 already done; 0 sightings, 0 rejects")

    stats = run_cli("stats")
    assert stats.returncode == 0, stats.stderr
    rows = stats_table(stats.stdout, "Sightings per source and kind")
    assert {(r["source"], r["kind"]): int(r["sightings"]) for r in rows} == SEED_COUNTS
    truncated = {(r["source"], r["kind"]): int(r["truncated_abstracts"]) for r in rows}
    assert truncated[("returnandreintegration.iom.int", "publication")] == 19 + 17
    assert truncated[("migrantprotection.iom.int", "publication")] == 20 + 19
    pages = stats_table(stats.stdout, "Pages per source and parse status")
    assert sum(int(r["pages"]) for r in pages) == 5 and {r["parse_status"] for r in pages} == {"parsed"}
    runs = stats_table(stats.stdout, "Last runs")
    assert [(r["run_id"], r["status"], r["exit_code"], r["sightings_written"]) for r in runs] == [
        ("2", "ok", "0", "0"),
        ("1", "ok", "0", "103"),
    ]


def test_db_option_and_environment_variable_pick_the_warehouse_file(tmp_path, seed_archive, run_cli):
    by_env = tmp_path / "by-env.duckdb"
    by_option = tmp_path / "by-option.duckdb"
    result = run_cli("ingest", "--offline", env={"IOM_DB": str(by_env)})
    assert result.returncode == 0, result.stderr
    assert by_env.exists() and not (tmp_path / "warehouse.duckdb").exists()

    # --db wins over IOM_DB; --raw over IOM_RAW
    result = run_cli(
        "ingest",
        "--offline",
        "--db",
        str(by_option),
        "--raw",
        str(seed_archive),
        env={"IOM_DB": str(by_env), "IOM_RAW": str(tmp_path / "nowhere")},
    )
    assert result.returncode == 0, result.stderr
    assert "run 1 ok: 5 pages parsed" in result.stdout
    for path, runs in ((by_env, 1), (by_option, 1)):
        con = duckdb.connect(str(path), read_only=True)
        assert con.execute("SELECT count(*) FROM runs").fetchone()[0] == runs
        assert con.execute("SELECT count(*) FROM sightings").fetchone()[0] == 103
        con.close()

    stats = run_cli("stats", env={"IOM_DB": str(by_option)})
    assert stats.returncode == 0, stats.stderr
    assert stats_table(stats.stdout, "Editions and works")[0]["editions"].isdigit()


def test_stats_without_a_warehouse_says_so(tmp_path, run_cli):
    result = run_cli("stats", "--db", str(tmp_path / "missing.duckdb"))
    assert result.returncode == 5
    assert "no warehouse at" in result.stderr and "missing.duckdb" in result.stderr
    assert not (tmp_path / "missing.duckdb").exists()


@pytest.mark.parametrize(
    ("command", "held"),
    [
        # a second run: the first one holds the private working copy the runs write
        (("ingest", "--offline"), ".build/warehouse.duckdb"),
        (("dedup",), ".build/warehouse.duckdb"),
        # stats reads the published file, which a writer (someone's read-write session) locks
        (("stats",), "warehouse.duckdb"),
    ],
)
def test_second_writer_gets_a_clear_error_and_exit_4(tmp_path, seed_archive, run_cli, command, held):
    db = tmp_path / held
    db.parent.mkdir(parents=True, exist_ok=True)
    holder = duckdb.connect(str(db))  # another process (this one) holds the write lock
    try:
        result = run_cli(*command)
    finally:
        holder.close()
    assert result.returncode == 4, (result.stdout, result.stderr)
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: ") and "in use by another process" in line and str(db) in line
    assert "Traceback" not in result.stderr
