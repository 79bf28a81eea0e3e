"""The text parsers as pure functions: page bytes in, plain records out.

Small pages written here show one rule each; the seed pages show the parsers hold on real input.
"""

from __future__ import annotations

import pytest

from parsers import PARSERS, ParseError
from parsers.base import clean_markup, decode_text, split_truncation
from parsers.text_catalogue import parse as parse_catalogue
from parsers.text_listing import parse as parse_listing
from pipeline.archive import Archive
from tests.conftest import REPO_RAW


def seed_bytes(seed: str) -> bytes:
    archive = Archive(REPO_RAW)
    (entry,) = [e for e in archive.entries() if (e.label or "").startswith(f"{seed}_")]
    return archive.read(entry.sha256)


def test_every_text_format_has_a_parser():
    assert PARSERS["text-listing"] is parse_listing
    assert PARSERS["text-catalogue"] is parse_catalogue


# -- shared helpers -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("cut here...", ("cut here", True)),
        ("cut here …", ("cut here", True)),
        ("cut here, ...", ("cut here", True)),
        ("cut here... Read more", ("cut here", True)),
        ("a whole sentence.", ("a whole sentence.", False)),
        ("an ellipsis... in the middle", ("an ellipsis... in the middle", False)),
    ],
)
def test_split_truncation(text, expected):
    assert split_truncation(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("**English**", ("English", True)),
        ("the **ECOWAS** Region", ("the ECOWAS Region", True)),
        ("\\bullet Module 5", ("Module 5", True)),
        ("\\textbf{bold} words", ("bold words", True)),
        ("plain text with no residue", ("plain text with no residue", False)),
    ],
)
def test_clean_markup(text, expected):
    assert clean_markup(text) == expected


def test_decode_text_normalises_to_nfc_and_drops_a_bom():
    assert decode_text("\ufeffMigracio\u0301n".encode()) == "Migración"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "empty page"),
        (b"  \n\n \t\n", "empty page"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary content"),
        (bytes(range(1, 32)) * 4, "binary content"),
        # a Latin-1 body is no longer unusable: its charset is detected (tests/test_hostile_pages.py)
    ],
)
@pytest.mark.parametrize("parse", [parse_listing, parse_catalogue])
def test_unusable_bodies_raise_a_one_line_parse_error(parse, body, reason):
    with pytest.raises(ParseError, match=reason) as info:
        parse(body, None)
    assert "\n" not in str(info.value)


# -- text listing -------------------------------------------------------------------------------


def test_listing_skips_chrome_and_keeps_one_sighting_a_line():
    body = (
        b"Skip to main content\n\n\nGuideline\n\n"
        b"First card teaser, cut by the site at about two hundred and fifty characters and then...\n"
        b"Second card, short and whole.\n"
    )
    page = parse_listing(body, "https://example.org/en/resources/guideline")
    assert [(r["position"], r["kind"], r["abstract"], r["abstract_truncated"]) for r in page.records] == [
        (
            1,
            "publication",
            "First card teaser, cut by the site at about two hundred and fifty characters and then",
            True,
        ),
        (2, "publication", "Second card, short and whole.", False),
    ]
    assert page.page_info["headings"] == ["Guideline"]
    assert page.problems == []


@pytest.mark.parametrize("skip", ["Skip to main content", "Pasar al contenido principal", "Aller au contenu principal"])
def test_listing_skip_link_in_each_interface_language_is_chrome(skip):
    page = parse_listing(f"{skip}\nOne card teaser...\n".encode(), None)
    assert [r["abstract"] for r in page.records] == ["One card teaser"]


def test_listing_caption_and_the_line_after_it_are_caption_and_news():
    body = (
        "Skip to main content\n"
        "A publication teaser...\n"
        "Migrants wait at a transit centre | © A. Photographer 2022\n"
        "The article's lead sentence, never trimmed.\n"
        "Another publication teaser...\n"
    ).encode()
    page = parse_listing(body, None)
    assert [r["kind"] for r in page.records] == ["publication", "caption", "news", "publication"]
    assert [r["position"] for r in page.records] == [1, 2, 3, 4]


def test_listing_handles_windows_line_endings_and_stray_spaces():
    page = parse_listing(b"Skip to main content\r\n\r\n  A   teaser   with   gaps...  \r\n", None)
    assert [r["abstract"] for r in page.records] == ["A teaser with gaps"]


def test_listing_of_chrome_only_is_a_parse_error():
    with pytest.raises(ParseError, match="only chrome"):
        parse_listing(b"Skip to main content\n\nGuideline\n", None)


def test_listing_parser_on_seed_002():
    page = parse_listing(seed_bytes("002"), None)
    kinds = [r["kind"] for r in page.records]
    assert len(kinds) == 21
    assert kinds.index("caption") == 4 and kinds.index("news") == 5
    assert kinds.count("publication") == 19


def test_listing_parser_keeps_repeated_lines_apart():
    page = parse_listing(seed_bytes("001"), None)
    compilation = [r["position"] for r in page.records if r["abstract"].startswith("This compilation summarises")]
    assert compilation == [9, 10]


# -- text catalogue -----------------------------------------------------------------------------

ENTRY = """\
A Title That Wraps
Over Two Lines

{meta}

First paragraph of the abstract,
which wraps.

Second paragraph.
"""


def one_entry(meta: str) -> dict:
    page = parse_catalogue(ENTRY.format(meta=meta).encode(), None)
    assert page.problems == []
    (record,) = page.records
    return record


def test_catalogue_entry_fields():
    record = one_entry(
        "2019/304 pages ISBN 978-92-9068-811-2 E-ISBN 978-92-9068-796-2 English, French Available for PDF download"
    )
    assert record["position"] == 1
    assert record["kind"] == "publication"
    assert record["title"] == "A Title That Wraps Over Two Lines"
    assert (record["year"], record["page_count"]) == (2019, 304)
    # as printed: checked and turned into 13 digits by the model, not by the parser
    assert record["isbn"] == ["978-92-9068-811-2"]
    assert record["eisbn"] == ["978-92-9068-796-2"]
    assert record["languages"] == ["English", "French"]
    assert record["pdf_available"] is True
    assert record["abstract"] == "First paragraph of the abstract, which wraps.\n\nSecond paragraph."
    assert record["abstract_truncated"] is False
    assert record["quality_flags"] == []


def test_catalogue_entry_without_pdf_line_is_not_available_as_pdf():
    record = one_entry("2018/40 pages Spanish")
    assert record["pdf_available"] is False
    assert record["languages"] == ["Spanish"]


def test_catalogue_metadata_may_wrap_over_several_lines():
    record = one_entry("2018/98 pages\nISBN 978-92-9068-784-9\nEnglish\nAvailable for PDF download")
    assert (record["year"], record["page_count"], record["isbn"]) == (2018, 98, ["978-92-9068-784-9"])
    assert record["languages"] == ["English"]
    assert record["pdf_available"] is True


def test_catalogue_markdown_in_the_languages_is_removed_and_flagged():
    record = one_entry("2019/40 pages **English** Available for PDF download")
    assert record["languages"] == ["English"]
    assert record["quality_flags"] == ["markup_residue_removed"]


def test_catalogue_bullets_stay_one_a_line_and_latex_bullets_are_cleaned():
    body = (
        "Title\n\n2019/10 pages English\n\nThe modules:\n\n"
        "- Module 1 First\n- \\bullet Module 2 Second\n\\bullet Module 3 Third\n• Module 4 Fourth\n"
    ).encode()
    (record,) = parse_catalogue(body, None).records
    assert record["abstract"] == (
        "The modules:\n\n- Module 1 First\n- Module 2 Second\n- Module 3 Third\n- Module 4 Fourth"
    )
    assert record["quality_flags"] == ["markup_residue_removed"]


def test_catalogue_section_in_capitals_ends_the_last_abstract():
    body = (
        b"Title\n\n2018/40 pages English\n\nThe abstract.\n\n"
        b"HOW TO PURCHASE AN IOM PUBLICATION\n\nSold online.\n\nORDER FORM\n\nName:\t\n"
    )
    page = parse_catalogue(body, None)
    assert [r["abstract"] for r in page.records] == ["The abstract."]


def test_catalogue_truncated_last_entry_is_a_problem_not_a_record():
    body = ENTRY.format(meta="2019/10 pages English").encode() + b"\n\nCut Off Title\n\n2018/20 pages English Avail"
    page = parse_catalogue(body, None)
    assert [r["title"] for r in page.records] == ["A Title That Wraps Over Two Lines"]
    (problem,) = page.problems
    assert problem.position == 2
    assert "no abstract" in problem.reason
    assert problem.excerpt.startswith("Cut Off Title")


def test_catalogue_metadata_cut_mid_line_is_a_problem():
    body = ENTRY.format(meta="2019/10 pages English").encode() + b"\n\nCut Off Title\n\n2018/2"
    page = parse_catalogue(body, None)
    assert len(page.records) == 1
    (problem,) = page.problems
    assert (problem.position, "unreadable metadata line" in problem.reason) == (2, True)


def test_catalogue_without_any_metadata_line_is_a_parse_error():
    with pytest.raises(ParseError, match="no catalogue entries"):
        parse_catalogue(b"Handbooks and Manuals\n\nSome text but no entry at all.\n", None)


def test_catalogue_shared_isbn_is_flagged_only_across_different_titles():
    body = (
        b"First Title\n\n2018/156 pages ISBN 978-9968-542-71-5 English\n\nOne.\n\n"
        b"Second Title\n\n2018/194 pages ISBN 978-9968-542-71-5 Spanish\n\nTwo.\n\n"
        b"Reprinted Title\n\n2019/12 pages ISBN 978-92-9068-784-9 English\n\nThree.\n\n"
        b"Reprinted Title\n\n2020/12 pages ISBN 978-92-9068-784-9 English\n\nThree again.\n"
    )
    flags = [r["quality_flags"] for r in parse_catalogue(body, None).records]
    assert flags == [["isbn_on_several_titles:9789968542715"]] * 2 + [[], []]


def test_catalogue_parser_on_seed_004():
    page = parse_catalogue(seed_bytes("004"), None)
    assert len(page.records) == 22
    assert page.problems == []
    assert [r["position"] for r in page.records] == list(range(1, 23))
    assert page.page_info["heading"] == "Handbooks and Manuals"
    titles = [r["title"] for r in page.records]
    assert titles[17].startswith("Investigating Human Trafficking Cases Using a Victim-centred Approach: A Trainer's")
    assert titles[17].endswith("Belize, Jamaica, and Trinidad and Tobago")
    assert titles[16] == "Guidelines for the Harmonization of Migration Data Management in the ECOWAS Region"
    # the country stays as printed here; the model turns it into a quality flag
    assert page.records[14]["languages"] == ["Armenia"]


def test_parsers_are_pure_functions_of_the_bytes():
    body = seed_bytes("004")
    assert parse_catalogue(body, None) == parse_catalogue(body, None)
    listing = seed_bytes("000")
    assert parse_listing(listing, None) == parse_listing(listing, "https://elsewhere.example.org/")
