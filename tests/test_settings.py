"""Each setting is declared once (pipeline/settings.py): its default, its variable, its file key.

What a user checks: `pipeline settings` says which value won and where it came from; the settings
file, the environment and the command line override in that order; a bad file or value is one
`error:` line and exit 5; and no stage keeps a default or a variable name of its own.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from pipeline.settings import Settings, declared, default, load_settings

ROOT = Path(__file__).resolve().parent.parent


def test_every_setting_has_a_variable_a_reason_and_no_variable_is_shared():
    variables = [v for f in declared() for v in f.metadata["env"]]
    assert all(f.metadata["env"] and f.metadata["doc"].strip() for f in declared())
    assert len(variables) == len(set(variables))
    assert all(v.startswith("IOM_") for v in variables)


def test_no_module_names_a_variable_of_its_own():
    """`IOM_*` names are spelled in settings.py only: elsewhere they come from the declarations
    (help texts, messages, the environment given to workers). Docstrings and comments may cite them."""
    found = []
    for path in sorted((ROOT / "pipeline").rglob("*.py")):
        if path.name == "settings.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {
            id(node.body[0].value)
            for node in ast.walk(tree)
            if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
            and node.body
            and isinstance(node.body[0], ast.Expr)
            and isinstance(node.body[0].value, ast.Constant)
        }
        for node in ast.walk(tree):
            literal = isinstance(node, ast.Constant) and isinstance(node.value, str) and "IOM_" in node.value
            if literal and id(node) not in docstrings:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not found, found


def test_the_stages_defaults_are_the_declared_ones():
    from pipeline.changes import DEFAULT_WITHDRAW_AFTER_WALKS
    from pipeline.crawl.report import CrawlOptions
    from pipeline.dedup.xling import DEFAULT_BUDGET
    from pipeline.ingest import IngestOptions

    ingest, crawl = IngestOptions(), CrawlOptions()
    assert (ingest.embed_budget, DEFAULT_BUDGET) == (default("embed_budget"),) * 2
    assert (ingest.parse_timeout_s, crawl.parse_timeout_s) == (default("parse_timeout_s"),) * 2
    assert ingest.parse_workers == default("parse_workers")
    assert ingest.batch_pages == default("load_batch_pages")
    assert (ingest.withdraw_after_walks, DEFAULT_WITHDRAW_AFTER_WALKS) == (default("withdraw_after_walks"),) * 2


def _settings_json(run_cli, **env: str | None) -> dict[str, dict[str, str]]:
    done = run_cli("settings", "--format", "json", env=env)
    assert done.returncode == 0, done.stderr
    return {row["name"]: row for row in json.loads(done.stdout)}


def test_file_then_environment_then_command_line(run_cli, tmp_path):
    file = tmp_path / "settings.toml"
    file.write_text('embed_budget = 7\nwalk_to_end = false\nraw_dir = "elsewhere/raw"\n', encoding="utf-8")
    shown = _settings_json(run_cli, IOM_SETTINGS=str(file), IOM_EMBED_BUDGET="9", IOM_RAW=None)
    assert (shown["embed_budget"]["value"], shown["embed_budget"]["from"]) == ("9", "$IOM_EMBED_BUDGET")
    assert (shown["walk_to_end"]["value"], shown["walk_to_end"]["from"]) == ("False", "settings file")
    assert shown["raw_dir"]["value"].endswith("elsewhere/raw")
    assert shown["parse_workers"]["from"] == "default"
    # the command line beats both
    settings = load_settings({"IOM_SETTINGS": str(file), "IOM_EMBED_BUDGET": "9"}).with_overrides(embed_budget=3)
    assert settings.embed_budget == 3 and settings.walk_to_end is False


@pytest.mark.parametrize(
    ("content", "named"),
    [
        ("embed_budgett = 7\n", "embed_budgett"),
        ('parse_workers = "two"\n', "parse_workers"),
        ("walk_to_end = 3\n", "walk_to_end"),
        ("raw_dir = \n", "not valid TOML"),
    ],
)
def test_a_bad_settings_file_is_one_error_line_and_exit_5(run_cli, tmp_path, content, named):
    file = tmp_path / "settings.toml"
    file.write_text(content, encoding="utf-8")
    for command in (("settings",), ("ingest", "--offline")):
        done = run_cli(*command, env={"IOM_SETTINGS": str(file)})
        assert done.returncode == 5, (command, done.stdout, done.stderr)
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("error:") and named in lines[0], lines
        assert "Traceback" not in done.stderr


def test_a_bad_value_in_the_environment_names_its_variable():
    from pipeline.errors import ConfigError

    with pytest.raises(ConfigError, match="IOM_PARSE_TIMEOUT"):
        load_settings({"IOM_PARSE_TIMEOUT": "soon"})


def test_a_named_settings_file_that_is_missing_is_refused():
    from pipeline.errors import ConfigError

    with pytest.raises(ConfigError, match="settings file"):
        load_settings({"IOM_SETTINGS": "/nonexistent/settings.toml"})


def test_the_declared_defaults_are_what_a_settings_object_holds_without_overrides(tmp_path):
    settings = load_settings({}, root=tmp_path)
    assert isinstance(settings, Settings)
    assert settings.raw_dir == tmp_path / "raw" and settings.db_path == tmp_path / "warehouse" / "iom.duckdb"
    assert settings.withdraw_after_walks == default("withdraw_after_walks")
