"""Validate and normalise parsed records once, where they enter the warehouse.

A record that fails here goes to `rejects` with pydantic's reason; a record that passes with
something odd about it (a country where a language belongs, an ISBN with a bad checksum) is
kept and carries a quality flag instead, so nothing an analyst might want is silently dropped.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from datetime import UTC, datetime

import langcodes
import pycountry
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from stdnum import isbn as stdnum_isbn
from stdnum.exceptions import ValidationError as IsbnError

from parsers.vocab import PageKind
from pipeline.urls import canonical_url, web_url

MIN_YEAR = 1945
MAX_PAGES = 10_000


#: control characters that split() does not read as spaces or line breaks (a NUL a text dump held)
_CONTROLS = re.compile("[\x00-\x08\x0e-\x1b\x7f]")


def normalise_text(value: str | None, *, keep_lines: bool = False) -> str | None:
    """NFC, no control characters, single spaces; paragraph and bullet breaks kept if asked."""
    if value is None:
        return None
    value = _CONTROLS.sub("", unicodedata.normalize("NFC", value).replace("\u00a0", " "))
    if keep_lines:
        paragraphs = re.split(r"\n\s*\n", value)
        cleaned = ["\n".join(" ".join(line.split()) for line in p.splitlines() if line.strip()) for p in paragraphs]
        value = "\n\n".join(p for p in cleaned if p)
    else:
        value = " ".join(value.split())
    return value or None


@functools.lru_cache(maxsize=4096)
def language_code(name: str) -> str | None:
    """ISO 639-1 code for a language name, code or autonym; None when it is not a language.

    Cached: sites print the same few language names on every page, and pycountry's lookup of a
    name outside its index scans every ISO 639 language (about 1.5 ms each, most of the time a
    page's validation took).

    pycountry's lookup is exact (ISO 639 names and codes). langcodes covers autonyms such as
    'Español', but it also guesses ('Armenia' -> Armenian), so its answer is accepted only when
    the name given *is* that language's English name or autonym.
    """
    cleaned = " ".join(name.replace("*", " ").split()).strip(" .")
    if not cleaned:
        return None
    if len(cleaned) == 2 and cleaned.isalpha():
        # a bare code: look it up as a code only ('En' is also the name of a language)
        by_code = pycountry.languages.get(alpha_2=cleaned.lower())
        return by_code.alpha_2 if by_code else None
    try:
        record = pycountry.languages.lookup(cleaned)
        code = getattr(record, "alpha_2", None)
        if code:
            return code
    except LookupError:
        pass
    try:
        found = langcodes.find(cleaned)
    except LookupError:
        return None
    names = {found.display_name("en").casefold(), found.autonym().casefold()}
    if cleaned.casefold() in names and found.language is not None and len(found.language) == 2:
        return found.language
    return None


def isbn13(value: str) -> str:
    """13 digits, checksum verified; raises ValueError naming the value otherwise."""
    try:
        compact = stdnum_isbn.validate(value)
    except IsbnError as exc:
        raise ValueError(f"invalid ISBN {value!r}: {exc}") from exc
    return stdnum_isbn.to_isbn13(compact)


class SightingRecord(BaseModel):
    """One card or catalogue entry seen on one archived page."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    sighting_id: str
    page_id: str
    position: int = Field(ge=1)
    #: what the sighting is: a publication, a news article, a page that is no publication (an event,
    #: a course, an initiative, an about page: one per page, never deduplicated), or a photo caption
    #: of a news card. Only `publication` sightings become editions and works.
    kind: PageKind  # declared once, in parsers/vocab.py
    title: str | None = None
    abstract: str | None = None
    abstract_truncated: bool = False
    full_abstract: str | None = None
    year: int | None = None
    page_count: int | None = None
    isbn: list[str] = Field(default_factory=list)
    eisbn: list[str] = Field(default_factory=list)
    languages: list[str] = Field(default_factory=list)
    text_language: str | None = None
    pdf_available: bool | None = None
    pdf_urls: list[str] = Field(default_factory=list)
    url: str | None = None
    canonical_url: str | None = None
    detail_url: str | None = None
    edition_links: list[str] = Field(default_factory=list)
    extra: dict[str, str] = Field(default_factory=dict)
    toc: list[str] = Field(default_factory=list)
    attachments: list[str] = Field(default_factory=list)
    quality_flags: list[str] = Field(default_factory=list)

    @field_validator("title")
    @classmethod
    def _title(cls, value: str | None) -> str | None:
        return normalise_text(value)

    @field_validator("abstract", "full_abstract")
    @classmethod
    def _abstract(cls, value: str | None) -> str | None:
        return normalise_text(value, keep_lines=True)

    @field_validator("year")
    @classmethod
    def _year(cls, value: int | None) -> int | None:
        if value is not None and not MIN_YEAR <= value <= datetime.now(UTC).year + 1:
            raise ValueError(f"year {value} outside {MIN_YEAR}..next year")
        return value

    @field_validator("page_count")
    @classmethod
    def _pages(cls, value: int | None) -> int | None:
        if value is not None and not 1 <= value <= MAX_PAGES:
            raise ValueError(f"page count {value} outside 1..{MAX_PAGES}")
        return value

    @model_validator(mode="after")
    def _normalise(self) -> SightingRecord:
        if not (self.title or self.abstract or self.full_abstract):
            raise ValueError("record has neither title nor abstract")
        flags = list(self.quality_flags)
        self.isbn = self._checked_isbns(self.isbn, "isbn", flags)
        self.eisbn = self._checked_isbns(self.eisbn, "eisbn", flags)
        codes: list[str] = []
        for name in self.languages:
            code = language_code(name)
            if code is None:
                flags.append(f"not_a_language:{normalise_text(name)}")
            elif code not in codes:
                codes.append(code)
        self.languages = codes
        if self.text_language is not None:
            code = language_code(self.text_language)
            if code is None:
                flags.append(f"not_a_language:{normalise_text(self.text_language)}")
            self.text_language = code
        self._web_urls_only(flags)
        self.quality_flags = list(dict.fromkeys(flags))
        return self

    def _web_urls_only(self, flags: list[str]) -> None:
        """Keep only web (http/https) URLs, canonical ones included; flag each field that lost one.

        The parsers drop other links and record why (`rejects`); this is the check behind them,
        so no path (a page archived under a `file:` URL, a future parser) stores or exports a
        `javascript:` or `data:` link. The record keeps its text: a link is never its only
        identity (it needs a title or an abstract, and its id is its page and position).
        """
        if self.url and web_url(self.url) is None:
            self.url = None
            flags.append("non_web_url_dropped:url")
        if self.detail_url and web_url(self.detail_url) is None:
            self.detail_url = None
            flags.append("non_web_url_dropped:detail_url")
        for name in ("pdf_urls", "edition_links"):
            values = getattr(self, name)
            if values and not all(web_url(v) for v in values):
                setattr(self, name, [v for v in values if web_url(v)])
                flags.append(f"non_web_url_dropped:{name}")
        if self.canonical_url:  # given: checked like the others
            if web_url(self.canonical_url) is None:
                self.canonical_url = None
                flags.append("non_web_url_dropped:canonical_url")
        elif self.url:  # made here from a web URL: http(s) and its host, percent-encoded
            self.canonical_url = canonical_url(self.url)

    @staticmethod
    def _checked_isbns(values: list[str], field: str, flags: list[str]) -> list[str]:
        checked: list[str] = []
        for value in values:
            try:
                code = isbn13(value)
            except ValueError:
                flags.append(f"invalid_{field}:{value}")
                continue
            if code not in checked:
                checked.append(code)
        return checked
