"""Chrome is not evidence: the same boilerplate on unrelated pages merges nothing.

Twelve unrelated publications, each on its own detail page and listing page, all carrying the
same chrome the real sites print around content (an organisation's name in Spanish, section
headings, a download label, a disclaimer paragraph, a translation notice). A real ingest and
dedup pass into a real DuckDB file must keep every publication its own edition and work.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from pipeline.archive import Archive

ABSTRACTS = [
    "Fishermen on the northern coast describe how shrinking catches pushed their sons towards seasonal work abroad.",
    "A costed plan for rebuilding three border clinics damaged by floods, with staffing tables and supply lists.",
    "Interviews with nurses recruited from Kerala trace the debts they carried before their first salary arrived.",
    "The toolkit teaches municipal clerks to register newborns whose parents lack identity papers of their own.",
    "Volcanic ash displaced villagers twice within a decade; this study maps where each household settled after.",
    "Railway workers who crossed the steppe in winter recount wages withheld by subcontractors and brokers alike.",
    "Guidance for school principals welcoming pupils who arrive mid-year without transcripts or vaccination cards.",
    "An audit of remittance fees along the Gulf corridor shows how mobile wallets undercut traditional agents.",
    "Orchard owners in the valley explain why they hire pickers through cooperatives rather than labour agents.",
    "Sketches, diaries and songs collected from asylum seekers held on an island camp during the monsoon season.",
    "A statistical atlas of internal movement between highland districts and the coastal capital since independence.",
    "Coastal erosion maps, drone surveys and tide gauges predict which lagoon hamlets must relocate before 2040.",
]
TITLES = [
    "Nets and Departures", "Clinics after the Flood", "Debts before Salary", "Registering Every Child",
    "Twice Displaced by Ash", "Wages on the Steppe", "Welcoming Mid-Year Pupils", "The Price of Sending Money Home",
    "Pickers and Cooperatives", "Voices from the Island Camp", "Highland to Capital", "Lagoon Hamlets at Risk",
]  # fmt: skip
DISCLAIMER = (
    "The opinions expressed in this publication are those of the authors and do not necessarily reflect the views "
    "of the organization or its member states, nor of the donors that funded it."
)
CHROME_LINES = ["Organización Internacional para las Migraciones", "Introduction", "Executive Summary"]


def _detail(n: int) -> bytes:
    lines = ["Skip to main content", "", TITLES[n], "", "Organización Internacional para las Migraciones", ""]
    lines += [DISCLAIMER, "", ABSTRACTS[n], "", "Introduction", "Executive Summary", ""]
    lines += ["Attachment Size", "Download 1.55 Mo"]
    return "\n".join(lines).encode()


def _listing(n: int) -> bytes:
    teaser = ABSTRACTS[(n + 5) % len(ABSTRACTS)].rstrip(".") + "..."  # a card's teaser, cut
    lines = ["Skip to main content", "", "This page is under going translation.", "Executive Summary", ""]
    return "\n".join([*lines, teaser, DISCLAIMER]).encode()


def test_the_same_chrome_on_unrelated_pages_merges_nothing(ingest, empty_archive: Path, tmp_path: Path) -> None:
    archive = Archive(empty_archive)
    for n in range(len(ABSTRACTS)):
        archive.put(_detail(n), source="publications.iom.int", url=f"https://publications.iom.int/books/item-{n}",
                    format="text-detail", label=f"detail-{n}")  # fmt: skip
        archive.put(_listing(n), source="migrantprotection.iom.int",
                    url=f"https://migrantprotection.iom.int/en/resources/manual?page={n}", format="text-listing",
                    label=f"listing-{n}")  # fmt: skip
    db = tmp_path / "w.duckdb"
    summary = ingest(empty_archive, db)
    assert summary.status == "ok", summary.message
    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = con.execute(
            "SELECT s.sighting_id, s.title, s.abstract, e.edition_id, e.work_id "
            "FROM sightings AS s JOIN sighting_editions AS e USING (sighting_id)"
        ).fetchall()
    finally:
        con.close()
    # chrome never became a record or a title, and the disclaimer stays out of the abstracts
    assert all(title in (None, *TITLES) for _, title, *_ in rows)
    details = [r for r in rows if r[1] is not None]
    assert len(details) == len(ABSTRACTS)
    assert all(not any(c in r[2] for c in CHROME_LINES) for r in details)
    # each unrelated publication is its own edition and work; only a detail page and the listing
    # card with its own teaser may share one
    edition_texts: dict[str, set[str]] = {}
    for _, _, abstract, edition, _ in rows:
        key = next((a for a in ABSTRACTS if abstract and (abstract.endswith(a) or a.startswith(abstract))), abstract)
        edition_texts.setdefault(edition, set()).add(key)
    assert all(len(texts) == 1 for texts in edition_texts.values()), edition_texts
    assert all(DISCLAIMER not in (abstract or "") for _, _, abstract, _, _ in rows)  # a disclaimer is no card
    works = {}
    for _, _, abstract, _, work in rows:
        works.setdefault(work, set()).add(abstract)
    assert all(len(texts) <= 2 for texts in works.values())
