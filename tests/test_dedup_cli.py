"""The `dedup` command through the real CLI in a subprocess: a pass, the evaluation, explanations."""

from __future__ import annotations

from pathlib import Path

from conftest import REPO_ROOT

LABELS = REPO_ROOT / "tests" / "labels"


def test_ingest_then_evaluate_explain_and_pass_again(run_cli, seed_archive: Path) -> None:
    ingest = run_cli("ingest", "--offline")
    assert ingest.returncode == 0, ingest.stderr

    result = run_cli("dedup", "--evaluate", str(LABELS / "seeds.csv"))
    assert result.returncode == 0, result.stderr
    figures = {
        " ".join(line.split()[:2]): float(line.split()[2])
        for line in result.stdout.splitlines()
        if line.startswith(("editions", "works"))
    }
    assert figures["editions precision"] >= 0.99 and figures["editions recall"] >= 0.95
    assert figures["works precision"] >= 0.98 and figures["works recall"] >= 0.90

    joined = run_cli("dedup", "--explain", "001_3191b3ee406d3f54.txt#14", "004_a8e9dcc62879c85f.txt#14")
    assert joined.returncode == 0, joined.stderr
    assert "JOINED: same edition" in joined.stdout and "prefix" in joined.stdout

    isbn = run_cli("dedup", "--explain", "004_a8e9dcc62879c85f.txt#19", "004_a8e9dcc62879c85f.txt#20")
    assert isbn.returncode == 0, isbn.stderr
    assert "KEPT APART" in isbn.stdout and "same page" in isbn.stdout
    assert "shared ISBN 9789968542715" in isbn.stdout

    again = run_cli("dedup")
    assert again.returncode == 0, again.stderr
    assert "new 0, merged 0, retired 0" in again.stdout


def test_evaluating_an_empty_warehouse_says_what_to_do(run_cli, empty_archive: Path) -> None:
    result = run_cli("dedup", "--evaluate", str(LABELS / "seeds.csv"))
    assert result.returncode != 0
    assert result.stderr.startswith("error:") and "\n" not in result.stderr.strip()
