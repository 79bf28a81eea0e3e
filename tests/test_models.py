"""SightingRecord: the one place records are normalised and validated before the warehouse."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from pipeline.models import SightingRecord, isbn13, language_code, normalise_text


def record(**fields) -> SightingRecord:
    data = {"sighting_id": "p:1", "page_id": "p", "position": 1, "kind": "publication", "abstract": "An abstract."}
    return SightingRecord.model_validate({**data, **fields})


def error_fields(exc: ValidationError) -> set[str]:
    return {".".join(str(p) for p in err["loc"]) for err in exc.errors()}


# -- ISBNs ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("printed", "stored"),
    [
        ("978-92-9068-811-2", "9789290688112"),
        ("978 9968 542 71 5", "9789968542715"),
        ("9789290687849", "9789290687849"),
        ("0-306-40615-2", "9780306406157"),  # ISBN-10 converted to 13 digits
    ],
)
def test_isbn_is_checked_and_stored_as_13_digits(printed, stored):
    assert isbn13(printed) == stored
    assert record(isbn=[printed]).isbn == [stored]


def test_isbn_with_a_bad_checksum_is_refused_by_name():
    with pytest.raises(ValueError, match="978-92-9068-811-3"):
        isbn13("978-92-9068-811-3")


def test_bad_isbn_becomes_a_quality_flag_and_the_record_is_kept():
    got = record(isbn=["978-92-9068-811-3", "978-92-9068-811-2"], eisbn=["12345"])
    assert got.isbn == ["9789290688112"]
    assert got.eisbn == []
    assert got.quality_flags == ["invalid_isbn:978-92-9068-811-3", "invalid_eisbn:12345"]


def test_the_same_isbn_printed_twice_is_stored_once():
    assert record(isbn=["978-92-9068-811-2", "9789290688112"]).isbn == ["9789290688112"]


# -- languages --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("English", "en"),
        ("Spanish", "es"),
        ("French", "fr"),
        ("Arabic", "ar"),
        ("Italian", "it"),
        ("Armenian", "hy"),
        ("Español", "es"),
        ("Français", "fr"),
        ("**English**", "en"),
        ("en", "en"),
        ("Armenia", None),
        ("Nigeria", None),
        ("Klingonese", None),
        ("", None),
    ],
)
def test_language_code(name, code):
    assert language_code(name) == code


def test_languages_become_iso_codes_and_a_country_becomes_a_flag():
    got = record(languages=["English", "Français", "**English**", "Armenia", "Spanish"])
    assert got.languages == ["en", "fr", "es"]
    assert got.quality_flags == ["not_a_language:Armenia"]


def test_quality_flags_from_the_parser_are_kept_once():
    got = record(quality_flags=["markup_residue_removed", "markup_residue_removed"], languages=["Armenia"])
    assert got.quality_flags == ["markup_residue_removed", "not_a_language:Armenia"]


# -- ranges -----------------------------------------------------------------------------------


@pytest.mark.parametrize("year", [1800, 1944, 0, datetime.now(UTC).year + 2])
def test_year_out_of_range_is_refused_naming_the_field(year):
    with pytest.raises(ValidationError) as info:
        record(year=year)
    assert error_fields(info.value) == {"year"}
    assert str(year) in str(info.value)


@pytest.mark.parametrize("year", [1945, 2018, datetime.now(UTC).year + 1])
def test_year_in_range_is_kept(year):
    assert record(year=year).year == year


@pytest.mark.parametrize("pages", [0, -5, 10_001])
def test_page_count_out_of_range_is_refused_naming_the_field(pages):
    with pytest.raises(ValidationError) as info:
        record(page_count=pages)
    assert error_fields(info.value) == {"page_count"}


def test_position_starts_at_one():
    with pytest.raises(ValidationError) as info:
        record(position=0)
    assert error_fields(info.value) == {"position"}


def test_kind_is_one_of_three():
    for kind in ("publication", "news", "caption"):
        assert record(kind=kind).kind == kind
    with pytest.raises(ValidationError) as info:
        record(kind="video")
    assert error_fields(info.value) == {"kind"}


def test_unknown_field_is_refused():
    with pytest.raises(ValidationError) as info:
        record(colour="blue")
    assert error_fields(info.value) == {"colour"}


def test_record_without_title_or_abstract_is_refused():
    with pytest.raises(ValidationError, match="neither title nor abstract"):
        record(abstract="   ")


# -- text normalisation -----------------------------------------------------------------------


def test_title_is_nfc_with_single_spaces():
    got = record(title="  Gui\u0301a  para la\u00a0Atencio\u0301n\n Psicosocial ")
    assert got.title == "Guía para la Atención Psicosocial"


def test_abstract_keeps_paragraphs_and_lines_but_not_extra_spaces():
    got = record(abstract="First  paragraph\u00a0here.\n\n\n\nThe list:\n-  one\n-  two\n  \n")
    assert got.abstract == "First paragraph here.\n\nThe list:\n- one\n- two"


def test_normalise_text_of_nothing_is_none():
    assert normalise_text(None) is None
    assert normalise_text(" \n\t ") is None


def test_url_gets_its_canonical_form():
    got = record(url="https://Migrantprotection.iom.int/en/resources/guideline/x/?utm_source=mail")
    assert got.canonical_url == "https://migrantprotection.iom.int/resources/guideline/x"
