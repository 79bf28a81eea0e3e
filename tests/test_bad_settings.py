"""Bad settings are refused alike online and offline: one `error:` line, the README's exit code, nothing made.

Issue 19 found an unknown `--source` and a broken sources file accepted offline (`run 1 ok`, exit 0),
a file that is no DuckDB database answered with advice to move it aside and rebuild over it, and
`--db newdir/` silently making a file called `newdir`. Each case runs the real command in a
subprocess; the expected exit codes are the README's "Exit status" table (2 a usage error, 5 a
configuration or warehouse file error).
"""

from __future__ import annotations

from pathlib import Path

import pytest


def _only_error_line(stderr: str) -> str:
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: "), stderr
    return lines[0]


@pytest.mark.parametrize("offline", [True, False], ids=["offline", "online"])
def test_an_unknown_source_is_a_usage_error_online_and_offline(tmp_path: Path, seed_archive, run_cli, offline) -> None:
    args = ["ingest", "--source", "nosuch.example.org", *(["--offline"] if offline else [])]
    done = run_cli(*args)
    assert done.returncode == 2, done.stdout + done.stderr
    line = _only_error_line(done.stderr)
    assert "nosuch.example.org is not declared in" in line and "publications.iom.int" in line
    assert not (tmp_path / "warehouse.duckdb").exists()


#: a sources file declaring none of the archive's sites: on a closed port, so nothing is ever crawled
ONE_OTHER_SITE = """[crawler]
connect_timeout = 0.5
probe_timeout = 0.5
max_retries = 0

[[sources]]
name = "elsewhere.test"
base_url = "http://127.0.0.1:9"
start_urls = ["/listing"]
"""


@pytest.mark.parametrize("offline", [True, False], ids=["offline", "online"])
def test_a_source_only_the_archive_holds_is_loaded_and_said_not_crawled_online_and_offline(
    tmp_path: Path, seed_archive, run_cli, offline: bool
) -> None:
    """A name is known when the sources file declares it or the archive holds pages of it, in both modes.

    The archive outlives the sources file (a site dropped from it, an archive copied from another
    machine, `lake workers` splitting the archive's names): its pages load with or without the
    network, and the one difference the network makes, that an undeclared site is not crawled, is
    said in a warning instead of being a silent difference between the modes.
    """
    sources = tmp_path / "one-other-site.toml"
    sources.write_text(ONE_OTHER_SITE, encoding="utf-8")
    name = "migrantprotection.iom.int"  # in the seed archive, not in this sources file
    args = ["ingest", "--sources", str(sources), "--source", name, *(["--offline"] if offline else [])]
    done = run_cli(*args, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    warnings = [line for line in done.stderr.splitlines() if line.startswith("warning: --source")]
    assert len(warnings) == 1, done.stderr
    assert name in warnings[0] and str(sources) in warnings[0] and "not crawled" in warnings[0], warnings
    assert "elsewhere.test" not in done.stderr  # the declared site was not asked for: never tried
    loaded = run_cli("query", "SELECT DISTINCT source FROM raw_pages", "--format", "csv")
    assert loaded.stdout.split() == ["source", name], loaded.stderr


def test_an_unknown_source_is_refused_offline_with_no_sources_file(tmp_path: Path, seed_archive, run_cli) -> None:
    """With no sources file the archive's names are all there is to know: any other is a usage error."""
    done = run_cli("ingest", "--offline", "--source", "nosuch.example.org",
                   env={"IOM_SOURCES": str(tmp_path / "absent.toml")})  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    line = _only_error_line(done.stderr)
    assert "nosuch.example.org" in line and "publications.iom.int" in line, line
    assert not (tmp_path / "warehouse.duckdb").exists()


BROKEN_SOURCES = {
    "not TOML": ("[[sources]\nname = 'x'\n", "not valid TOML", "line 1"),
    "unknown key": ('[[sources]]\nname = "x"\nbase_url = "http://127.0.0.1:9"\nstart_urls = ["/"]\nspeed = 3\n',
                    "speed", None),
    "unknown transport": ('[crawler]\nhttp_transport = "curl"\n[[sources]]\nname = "x"\nbase_url = "http://127.0.0.1:9"\n'
                          'start_urls = ["/"]\n', "http_transport", None),
}  # fmt: skip


@pytest.mark.parametrize("offline", [True, False], ids=["offline", "online"])
@pytest.mark.parametrize("case", sorted(BROKEN_SOURCES))
def test_a_broken_sources_file_is_refused_online_and_offline(tmp_path, seed_archive, run_cli, case, offline) -> None:
    text, says, where = BROKEN_SOURCES[case]
    sources = tmp_path / "broken.toml"
    sources.write_text(text, encoding="utf-8")
    done = run_cli("ingest", "--sources", str(sources), *(["--offline"] if offline else []))
    assert done.returncode == 5, done.stdout + done.stderr
    line = _only_error_line(done.stderr)
    assert str(sources) in line and says in line, line
    if where:
        assert where in line, line
    assert not (tmp_path / "warehouse.duckdb").exists()


@pytest.mark.parametrize(
    "command",
    [["ingest", "--offline"], ["stats"], ["query", "SELECT 1"], ["export", "--format", "csv", "--out", "out.csv"]],
)
def test_a_file_that_is_no_duckdb_database_is_left_alone(tmp_path, seed_archive, run_cli, command) -> None:
    notes = tmp_path / "notes.duckdb"
    notes.write_text("my notes, not a warehouse\n" * 10, encoding="utf-8")
    before = notes.read_bytes()
    done = run_cli(*command, env={"IOM_DB": str(notes)})
    assert done.returncode == 5, done.stdout + done.stderr
    line = _only_error_line(done.stderr)
    assert "is not a DuckDB database" in line, line
    assert "mv " not in line and "rebuild" not in line  # never advice to overwrite someone's file
    assert notes.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("notes")) == ["notes.duckdb"]


@pytest.mark.parametrize("how", ["option", "environment"])
def test_a_warehouse_path_ending_in_a_slash_is_refused_not_made_a_file(tmp_path, seed_archive, run_cli, how) -> None:
    target = str(tmp_path / "newdir") + "/"
    args = ["ingest", "--offline", *(["--db", target] if how == "option" else [])]
    done = run_cli(*args, env={"IOM_DB": target} if how == "environment" else None)
    assert done.returncode == 5, done.stdout + done.stderr
    line = _only_error_line(done.stderr)
    assert "ends in '/'" in line and "newdir/iom.duckdb" in line, line
    assert not (tmp_path / "newdir").exists()


def _sources(path: Path, contact: str) -> Path:
    # `.invalid` (RFC 2606) never resolves: whatever the code does, no real site is ever asked
    path.write_text(
        f'[crawler]\ncontact = "{contact}"\nuser_agent = "iom-pubwarehouse/0.1 (+mailto:{contact})"\n'
        "probe_timeout = 1.0\n\n"
        '[[sources]]\nname = "publications.iom.int"\nbase_url = "https://publications.iom.invalid"\n'
        'start_urls = ["/books"]\n',
        encoding="utf-8",
    )
    return path


@pytest.mark.parametrize("strict", [False, True], ids=["plain", "strict"])
def test_a_placeholder_contact_is_not_used_to_crawl_a_real_site(tmp_path, seed_archive, run_cli, strict) -> None:
    sources = _sources(tmp_path / "s.toml", "data-team@example.org")
    done = run_cli("ingest", "--sources", str(sources), *(["--strict"] if strict else []))
    assert done.returncode == (3 if strict else 0), done.stderr
    warning = next(line for line in done.stderr.splitlines() if line.startswith("warning: publications.iom.int"))
    assert "placeholder 'data-team@example.org'" in warning and "[crawler]" in warning, warning
    assert "using the archive" in warning
    assert "unreachable" not in done.stderr  # refused before any request, not tried and failed


def test_a_real_contact_crawls(tmp_path, seed_archive, run_cli) -> None:
    sources = _sources(tmp_path / "s.toml", "ops@iom-data.net")
    done = run_cli("ingest", "--sources", str(sources))
    assert done.returncode == 0, done.stderr
    assert "placeholder" not in done.stderr
    assert "unreachable" in done.stderr  # it tried: the .invalid host cannot be found


def test_serve_oai_beyond_this_machine_with_a_placeholder_admin_email_is_refused(tmp_path, seed_archive, run_cli):
    assert run_cli("ingest", "--offline").returncode == 0
    done = run_cli("serve-oai", "--host", "0.0.0.0", "--port", "0", timeout=30)
    assert done.returncode == 5, done.stderr
    line = _only_error_line(done.stderr)
    assert "adminEmail" in line and "example.org" in line and "IOM_CONTACT" in line, line
