"""The fault table (docs/operations.md) is the fault tests' own cases (tests/fault_table.py), never hand-kept."""

from __future__ import annotations

from tests.fault_table import README, block, collect, readme_block


def test_every_fault_test_states_its_outcome_and_the_readme_shows_them_all():
    cases = collect()
    assert len(cases) >= 15
    assert all(c["fault"] and c["does"] and c["recorded"] and "exit" in c for c in cases)
    assert readme_block(README.read_text(encoding="utf-8")) == block(), (
        "docs/operations.md's fault table is stale: run `python -m tests.fault_table --write`"
    )
