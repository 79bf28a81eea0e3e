"""A page's next version re-uses the editions of the last: the nights of issue 17, on the seed archive.

New versions of the seed listing pages are archived at the same URLs the way a Drupal listing
changes from one night to the next, and a real offline ingest runs after each night. The
expected counts are the site's own: a card that is the same item is no new edition, whatever
moved around it; an item that was not there before is one.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from pipeline.archive import Archive
from tests.conftest import ingest_archive

RR = "returnandreintegration.iom.int"
MP = "migrantprotection.iom.int"
GUIDELINE = f"https://{RR}/en/resources/guideline"
MANUAL = f"https://{MP}/en/resources/manual?page=2"

#: written for these tests: new cards that no seed holds
NEW_ON_TOP = (
    "This operational handbook for frontline caseworkers explains how to identify, refer and assist survivors "
    "of trafficking found in mixed movements at sea, with interview checklists, a referral form for each "
    "partner agency and a closing chapter on how cases are handed over once a survivor has been resettled or..."
)
FROM_PAGE_3 = (
    "This methodological note sets out how reintegration outcomes are scored across their economic, social and "
    "psychosocial dimensions, which survey instruments field teams use to collect the answers, and how much "
    "weight each indicator carries in the composite index that programme managers report against every..."
)


def cards(body: bytes) -> tuple[list[str], list[int]]:
    """The dump's lines and the indexes of its card lines (a teaser a line, after the chrome)."""
    lines = body.decode("utf-8").split("\n")
    return lines, [k for k, line in enumerate(lines) if len(line) > 60]


def night(when: str) -> datetime:
    return datetime.fromisoformat(when).replace(tzinfo=UTC)


def seed_body(archive: Archive, url: str) -> bytes:
    (entry,) = [e for e in archive.entries() if e.url == url]
    return archive.read(entry.sha256)


def edition_ids(db: Path) -> dict[str, str]:
    with duckdb.connect(str(db), read_only=True) as con:
        return dict(con.execute("SELECT sighting_id, edition_id FROM edition_members").fetchall())


def test_three_nights_of_drift_make_two_new_editions_and_move_no_id(seed_archive: Path, tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    archive = Archive(seed_archive)
    assert ingest_archive(seed_archive, db).status == "ok"
    first = edition_ids(db)
    editions = [len(set(first.values()))]

    # night 1: a new item on top of the section: page 1 gains it and loses its last card to page 2;
    # page 4 gains the card that fell off page 3 and loses its last card
    lines, idx = cards(seed_body(archive, f"{GUIDELINE}?page=1"))
    page1 = lines[: idx[0]] + [NEW_ON_TOP] + [lines[k] for k in idx[:-1]]
    lines, idx = cards(seed_body(archive, f"{GUIDELINE}?page=4"))
    page4 = lines[: idx[0]] + [FROM_PAGE_3] + [lines[k] for k in idx[:-1]]
    for url, body in ((f"{GUIDELINE}?page=1", page1), (f"{GUIDELINE}?page=4", page4)):
        archive.put(
            "\n".join(body).encode(), source=RR, url=url, format="text-listing", retrieved_at=night("2027-01-01")
        )
    assert ingest_archive(seed_archive, db).status == "ok"
    editions.append(len(set(edition_ids(db).values())))

    # night 2: the manual listing shows the same cards in another order
    lines, idx = cards(seed_body(archive, MANUAL))
    shuffled = lines[:]
    for dst, src in zip(idx, idx[1:] + idx[:1], strict=True):
        shuffled[dst] = lines[src]
    archive.put(
        "\n".join(shuffled).encode(), source=MP, url=MANUAL, format="text-listing", retrieved_at=night("2027-01-02")
    )
    assert ingest_archive(seed_archive, db).status == "ok"
    editions.append(len(set(edition_ids(db).values())))

    # night 3: one teaser corrected: one word's capitalisation
    fixed = page1[:]
    k = next(k for k, line in enumerate(fixed) if line.startswith("The lack of reliable"))
    fixed[k] = fixed[k].replace("reliable", "Reliable", 1)
    archive.put("\n".join(fixed).encode(), source=RR, url=f"{GUIDELINE}?page=1", format="text-listing",
                retrieved_at=night("2027-01-03"))  # fmt: skip
    assert ingest_archive(seed_archive, db).status == "ok"
    final = edition_ids(db)
    editions.append(len(set(final.values())))

    assert [b - a for a, b in itertools.pairwise(editions)] == [2, 0, 0]
    assert {s: final[s] for s in first} == first, "a sighting of the first build changed edition"


def test_a_removed_card_and_an_added_one_make_one_edition_and_no_copies(seed_archive: Path, tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    archive = Archive(seed_archive)
    assert ingest_archive(seed_archive, db).status == "ok"
    first = edition_ids(db)
    lines, idx = cards(seed_body(archive, f"{GUIDELINE}?page=1"))
    kept = [lines[k] for k in idx]
    del kept[2]  # one card removed
    kept.insert(5, FROM_PAGE_3)  # another added further down
    archive.put("\n".join(lines[: idx[0]] + kept).encode(), source=RR, url=f"{GUIDELINE}?page=1",
                format="text-listing", retrieved_at=night("2027-01-01"))  # fmt: skip
    assert ingest_archive(seed_archive, db).status == "ok"
    now = edition_ids(db)
    assert len(set(now.values())) == len(set(first.values())) + 1
    with duckdb.connect(str(db), read_only=True) as con:
        (bali,) = con.execute(
            "SELECT count(DISTINCT m.edition_id) FROM edition_members AS m JOIN sightings AS s USING (sighting_id) "
            "WHERE s.abstract LIKE 'Since its inception in 2002, the Bali Process%'"
        ).fetchone()
    assert bali == 2  # the two Bali Process guides the page shows, never copies of them


def test_three_identical_cards_stay_three_editions_when_one_moves_to_the_next_page(
    empty_archive: Path, tmp_path: Path
) -> None:
    """Three volumes with one teaser, split over two pager pages by an insertion above them."""
    twin = (
        "Ce guide pratique accompagne les conseillers municipaux dans la préparation du retour volontaire, avec des "
        "fiches par étape, des modèles de lettres et une liste des partenaires locaux à contacter avant le départ et "
        "pendant les premiers mois qui suivent l'arrivée dans la commune d'origine des personnes qui..."
    )
    others = [
        f"Field note number {n} describes how the {w} district office registers returnees, which documents it asks "
        f"for, how long each step takes and where the queues form during the busiest months of the {w} season..."
        for n, w in enumerate(("northern", "coastal", "eastern", "upland", "river", "border"), start=1)
    ]
    archive = Archive(empty_archive)
    url0, url1 = GUIDELINE, f"{GUIDELINE}?page=1"
    header = "Skip to main content\n\nGuideline\n\n"

    def put(url: str, teasers: list[str], when: str) -> None:
        body = (header + "\n".join(teasers)).encode()
        archive.put(body, source=RR, url=url, format="text-listing", retrieved_at=night(when))

    put(url0, [others[0], others[1], twin, twin, twin], "2027-01-01T02:00:00")
    put(url1, [others[2], others[3]], "2027-01-01T02:00:05")
    db = tmp_path / "w.duckdb"
    assert ingest_archive(empty_archive, db).status == "ok"
    # night 2: a new item on top pushes the last volume onto page 1; then one volume's teaser is cut later
    put(url0, [others[4], others[0], others[1], twin, twin], "2027-01-02T02:00:00")
    put(url1, [twin, others[2], others[3]], "2027-01-02T02:00:05")
    assert ingest_archive(empty_archive, db).status == "ok"
    put(url0, [others[5], others[4], others[0], others[1], twin], "2027-01-03T02:00:00")
    put(url1, [twin[:-60].rsplit(" ", 1)[0] + "...", twin, others[2], others[3]], "2027-01-03T02:00:05")
    assert ingest_archive(empty_archive, db).status == "ok"
    with duckdb.connect(str(db), read_only=True) as con:
        (volumes,) = con.execute(
            "SELECT count(DISTINCT edition_id) FROM edition_members JOIN sightings USING (sighting_id) "
            "WHERE abstract LIKE 'Ce guide pratique%'"
        ).fetchone()
        (total,) = con.execute("SELECT count(*) FROM editions").fetchone()
    assert volumes == 3
    assert total == 3 + len(others)
