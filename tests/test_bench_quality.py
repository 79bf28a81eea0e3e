"""The noisy synthetic corpus (bench/synthetic.py `Noise`) and the quality benchmark built on it.

What a user of `python -m bench dedup_quality` relies on: the default corpus is unchanged by
noise that is switched off, the truth covers every sighting the pass groups, each knob does to
the corpus what it says, and site chrome never ends up in an edition with a publication after
a real pass over a real DuckDB file. Nothing here names a matcher rule.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

import duckdb
import pytest

from bench.synthetic import Noise, generate, write
from pipeline.dedup import run_dedup
from pipeline.dedup.normalise import ALL_STOPWORDS
from pipeline.warehouse import migrate

SIZE = 1_500


def _token(word: str, text: str | None) -> bool:
    return bool(text) and re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", text) is not None  # type: ignore[arg-type]


def _build(path: Path, noise: Noise, size: int = SIZE, seed: int = 3) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(path))
    migrate(con)
    write(con, generate(size, seed, noise=noise))
    run_dedup(con, None)
    return con


@pytest.fixture(scope="module")
def noisy(tmp_path_factory: pytest.TempPathFactory) -> duckdb.DuckDBPyConnection:
    """A deduplicated warehouse with every kind of noise, chrome on a third of the pages."""
    path = tmp_path_factory.mktemp("quality") / "noisy.duckdb"
    con = _build(path, Noise(signal_drop=0.25, reword=0.15, chrome=0.33, country_editions=0.15))
    yield con
    con.close()


def test_noise_switched_off_leaves_the_default_corpus_unchanged() -> None:
    plain = generate(SIZE, 5)
    quiet = generate(SIZE, 5, noise=Noise())
    for name in ("raw_pages", "sightings", "bench_truth"):
        assert plain[name].equals(quiet[name]), name
    assert "bench_noise" not in plain
    assert quiet["bench_noise"].num_rows == 0


def test_truth_covers_every_publication_sighting(noisy: duckdb.DuckDBPyConnection) -> None:
    missing, doubled, extra = noisy.execute(
        """
        SELECT
            (SELECT count(*) FROM sightings WHERE kind = 'publication'
             AND sighting_id NOT IN (SELECT sighting_id FROM bench_truth)),
            (SELECT count(*) FROM (SELECT sighting_id FROM bench_truth GROUP BY 1 HAVING count(*) > 1)),
            (SELECT count(*) FROM bench_truth WHERE sighting_id NOT IN (SELECT sighting_id FROM sightings))
        """
    ).fetchone()  # type: ignore[misc]
    assert (missing, doubled, extra) == (0, 0, 0)
    # and the pass grouped every one of them
    ungrouped = noisy.execute("SELECT count(*) FROM sighting_editions WHERE edition_id IS NULL").fetchone()[0]  # type: ignore[index]
    assert ungrouped == 0


def test_chrome_never_shares_an_edition_with_a_publication(noisy: duckdb.DuckDBPyConnection) -> None:
    chrome = noisy.execute("SELECT count(*) FROM bench_noise WHERE noise = 'chrome'").fetchone()[0]  # type: ignore[index]
    assert chrome >= 50, "the corpus should carry chrome sightings"
    wrong = noisy.execute(
        """
        WITH m AS (
            SELECT e.sighting_id, e.edition_id, e.work_id,
                   e.sighting_id IN (SELECT sighting_id FROM bench_noise WHERE noise = 'chrome') AS chrome
            FROM edition_members AS e
        )
        SELECT c.sighting_id, p.sighting_id
        FROM m AS c JOIN m AS p ON p.edition_id = c.edition_id AND NOT p.chrome
        WHERE c.chrome
        """
    ).fetchall()
    assert wrong == []


def test_a_chrome_paragraph_does_not_join_unrelated_abstracts(noisy: duckdb.DuckDBPyConnection) -> None:
    opened = noisy.execute("SELECT count(*) FROM bench_noise WHERE noise = 'chrome_prefix'").fetchone()[0]  # type: ignore[index]
    assert opened >= 50
    wrong = noisy.execute(
        """
        WITH q AS (SELECT t.*, m.edition_id FROM bench_truth AS t JOIN edition_members AS m USING (sighting_id))
        SELECT a.sighting_id, b.sighting_id
        FROM q AS a JOIN q AS b ON a.edition_id = b.edition_id AND a.edition_key <> b.edition_key
        WHERE a.sighting_id IN (SELECT sighting_id FROM bench_noise WHERE noise = 'chrome_prefix')
        """
    ).fetchall()
    assert wrong == []


@pytest.mark.xfail(
    strict=False,
    reason="chrome long enough to count as text (a line of navigation words) found on fewer than "
    "BOILERPLATE_PAGES pages is still joined to the same chrome elsewhere; never to a publication (test above)",
)
def test_chrome_sightings_stay_apart_from_each_other(noisy: duckdb.DuckDBPyConnection) -> None:
    merged = noisy.execute(
        """
        SELECT count(*) FROM edition_members
        WHERE sighting_id IN (SELECT sighting_id FROM bench_noise WHERE noise = 'chrome')
        GROUP BY edition_id HAVING count(*) > 1
        """
    ).fetchall()
    assert merged == []


def _work_signals(tables: dict) -> tuple[dict[int, list[tuple[str, str]]], dict[int, int]]:  # type: ignore[type-arg]
    """Text signals (kind, value: names, acronym, number) of each edition, and each edition's work."""
    words: dict[int, list[tuple[str, str]]] = defaultdict(list)
    work: dict[int, int] = {}
    for row in tables["bench_signals"].to_pylist():
        work[row["edition_key"]] = row["work_key"]
        if row["kind"] in ("name", "acronym", "number"):
            words[row["edition_key"]].append((row["kind"], row["value"]))
    return words, work


def test_signal_drop_removes_a_works_signals_from_its_editions() -> None:
    kept = generate(SIZE, 7, noise=Noise(signal_drop=0.0))
    gone = generate(SIZE, 7, noise=Noise(signal_drop=1.0))
    assert all(kept["bench_signals"].column("kept").to_pylist())
    assert not any(gone["bench_signals"].column("kept").to_pylist())

    for tables, expect in ((kept, True), (gone, False)):
        words, work = _work_signals(tables)
        editions_of = defaultdict(set)
        for ed, wk in work.items():
            editions_of[wk].add(ed)
        truth = {r["sighting_id"]: r["edition_key"] for r in tables["bench_truth"].to_pylist()}
        translated = carrying = 0
        for row in tables["sightings"].to_pylist():
            ed = truth[row["sighting_id"]]
            if ed < 0:
                continue
            names = [value for kind, value in words[ed] if kind == "name"]
            has_all = all(_token(w, row["abstract"]) for w in names)
            has_any = any(_token(w, row["abstract"]) or _token(w, row["title"]) for _, w in words[ed])
            if not expect:
                # no sighting of any edition carries its work's names, acronym or number, year, pages, ISBN
                assert not has_any, (row["sighting_id"], words[ed], row["abstract"])
                assert row["year"] is None and row["page_count"] is None and row["isbn"] == []
            elif len(editions_of[work[ed]]) > 1 and not row["abstract_truncated"]:
                translated += 1
                carrying += has_all
                assert row["year"] is not None
        if expect:
            assert translated > 50
            # a few full texts open with ten words copied from another work (a planted trap), which can
            # cut a signal; every other full text of a translated work names both its names
            assert carrying >= 0.95 * translated


def test_country_editions_are_editions_of_one_work_in_one_language() -> None:
    tables = generate(SIZE, 11, noise=Noise(country_editions=0.3))
    marked = {r["sighting_id"] for r in tables["bench_noise"].to_pylist() if r["noise"] == "country_edition"}
    truth = {r["sighting_id"]: (r["edition_key"], r["work_key"]) for r in tables["bench_truth"].to_pylist()}
    details: dict[int, list[dict]] = defaultdict(list)  # type: ignore[type-arg]
    for row in tables["sightings"].to_pylist():
        if row["sighting_id"] in marked and not row["abstract_truncated"] and row["url"]:
            details[truth[row["sighting_id"]][1]].append({**row, "edition": truth[row["sighting_id"]][0]})
    groups = [rows for rows in details.values() if len({r["edition"] for r in rows}) > 1]
    assert len(groups) >= 10
    for rows in groups:
        by_edition = {r["edition"]: r for r in rows}
        assert len({r["abstract"] for r in by_edition.values()}) == 1  # one abstract
        assert len({r["title"] for r in by_edition.values()}) == len(by_edition)  # '... – Colombia', '... – Peru'
        assert len({r["url"] for r in by_edition.values()}) == len(by_edition)  # distinct nodes
        assert len({r["title"].rsplit(" – ", 1)[0] for r in by_edition.values()}) == 1


def test_reword_replaces_about_that_share_of_content_words() -> None:
    share = 0.3
    plain = generate(SIZE, 13)
    noisy = generate(SIZE, 13, noise=Noise(reword=share))
    reworded = {r["sighting_id"] for r in noisy["bench_noise"].to_pylist() if r["noise"] == "reworded"}
    assert len(reworded) > 100
    before = {r["sighting_id"]: r["abstract"] for r in plain["sightings"].to_pylist()}
    changed = total = 0
    for row in noisy["sightings"].to_pylist():
        old = before[row["sighting_id"]]
        if row["sighting_id"] not in reworded:
            assert row["abstract"] == old  # nothing else is touched
            continue
        a, b = old.split(" "), row["abstract"].split(" ")
        assert len(a) == len(b)
        content = [
            (x, y)
            for x, y in zip(a, b, strict=True)
            if x.rstrip(".,;:").isalpha() and x.islower() and x.rstrip(".,;:") not in ALL_STOPWORDS
        ]
        total += len(content)
        changed += sum(x != y for x, y in content)
        # names, acronyms, numbers and capitalised words are never replaced
        assert all(x.rstrip(".,;:").isalpha() and x.islower() for x, y in zip(a, b, strict=True) if x != y)
    assert share - 0.06 < changed / total < share + 0.03


def test_quality_benchmark_prints_rules_from_the_warehouse(capsys: pytest.CaptureFixture[str]) -> None:
    from bench import dedup_quality

    dedup_quality.main(["--quick", "--size", "600"])
    out = capsys.readouterr().out
    assert "ed P" in out and "wk R" in out
    header = next(line for line in out.splitlines() if line.startswith("noise") and ":" in line)
    assert re.search(r"\bed:\w+", header) and re.search(r"\bwo:\w+", header)
    assert "chrome sightings" in out
