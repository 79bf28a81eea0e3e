"""Parse the text of one publication's detail page, news article or bookstore page into one record.

The same reader (`extract`) serves the text dumps and the HTML parsers' fallback (their visible
text as lines), so what the rules below find does not depend on markup. What the three sites
print (SOURCES.md 2.3, 3.3, 4.3):

- publications.iom.int: a label block first (`Original Language`, `Number of Pages`, `Reference
  Number`, `Date of upload`...; a label may have no value, `ISSN 2223-5248` sits on one line, the
  upload date follows a blank line and is localised: `29 juil 2021`), then the title, an optional
  subtitle, the abstract in paragraphs, a bulleted table of contents, `Also available in:`.
- MP: the title (sometimes twice), the cover's alt text (`2021, IOM, <title>`: the only place the
  year shows), then unlabelled taxonomy values (type term, countries, regions, organisation),
  `Publication Series`, the abstract, an attachment table (`Attachment Size` / `Pièce jointe
  Taille`, rows `<label> <size> KB|MB|Ko`).
- R&R: the same with labels (`Type`, `Region`, `Organization`, `Year`, `Publication Series`).
- News ("Spotlight"): the title, an image caption, the article's paragraphs.
- Events, courses, initiatives and about pages (`kinds.py` says how a page's kind is known): a
  heading (or none: a seminar page opens with its dates, an about page with its prose), dates,
  field labels (`Venue`, `Duration`, `Status`...) and sections under headings (`Objectives`,
  `Agenda`, `Contexte`...). They give one record of their kind, never a publication.

Rules, each stated for any page of this kind, not for one page:
- a label is a whole line from `vocab.LABELS` (or `Label: value`); its values are the following
  lines that read as that field's values (a year, a page count, a date, language names, short
  names), so an empty label never swallows the title;
- the title is the first line that is none of: chrome, a label or its value, a date or a span of
  dates, an alt text, a caption, a section heading (`vocab.SECTION_HEADINGS`), and it comes before
  the first paragraph of prose: a short line inside the text is a heading of the text, not of the
  page; a page with no such line has no title (None: a page's own heading is never guessed);
  a following identical line is the same title printed twice;
- unlabelled lines between the title and the abstract are classified by vocabulary (organisation
  names, world regions, type terms, comma lists of names); the first unclassified short line right
  after the title is a subtitle (not on news pages, where it is the image's caption);
- the abstract is every paragraph of prose after the title; a prose line that is followed by
  metadata and does not end a sentence is an image's description, not the abstract;
- bullet lines are the table of contents, `<label> <size> <unit>` lines are attachments: fields,
  never records;
- on a page that is no publication, a field label of its kind (`vocab.KIND_LABELS`) followed by
  short lines takes them as its value (`extra`); the abstract is the page's opening prose (the
  paragraphs before its first section heading).

A page that yields neither a title nor an abstract is refused (`ShapeError`): a record is never
invented from page chrome.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from typing import Any

from parsers.base import (
    Line,
    ParsedPage,
    Problem,
    ShapeError,
    checked_link,
    clean_markup,
    decode_text,
    link_or_none,
    split_truncation,
)
from parsers.kinds import NON_PUBLICATION, is_date_range, is_section_heading, page_kind
from parsers.vocab import (
    ATTACHMENT_HEADERS,
    CALL_TO_ACTION,
    CAPTION_OPENERS,
    CHROME_LINES,
    DATE_KEYS,
    KIND_FIELD_KEYS,
    KIND_LABELS,
    LABELS,
    LANGUAGE_NAMES,
    MONTH_WORD,
    NOTICE_LINE,
    ORGANISATION,
    PAGER_LINE,
    REGION_WORDS,
    SINGLE_VALUED,
    SKIP_LINKS,
    SPAN_OPENER,
    SPAN_SEPARATOR,
    TOC_HEADERS,
    TYPE_TERMS,
)

#: a line of prose: this many words, or a sentence of PROSE_MIN_SENTENCE_WORDS words or more
PROSE_MIN_WORDS = 12
PROSE_MIN_SENTENCE_WORDS = 5
#: a title longer than this is a paragraph, not a title
TITLE_MAX_WORDS = 40
#: a short value (type, region, organisation, series) is at most this many words
VALUE_MAX_WORDS = 20
#: lines read per page; a hostile page with millions of lines costs a bounded time
MAX_LINES = 20_000

_SENTENCE_END = re.compile(r"[.!?…][\"'”»)]*\s*$")
_BULLET = re.compile(r"^(?:[•·▪◦‣●○■□➢►\-–—*]|\\bullet|o(?=\s))\s+")
_ALT_YEAR = re.compile(r"^(19[4-9]\d|20\d\d)\s*,\s*\S")
#: an item of a numbered list ("1. Mainstreaming into policy"): part of the text it follows
_NUMBERED = re.compile(r"^\s*\d{1,2}\.\s+\S")
_YEAR_LINE = re.compile(r"^\D{0,4}(19[4-9]\d|20\d\d)\D{0,4}$")
_YEAR = re.compile(r"\b(19[4-9]\d|20\d\d)\b")
_PAGES = re.compile(r"^(\d{1,5})(?:\s*(?:pages?|páginas?|pp?\.?))?$", re.IGNORECASE)
_IDENTIFIER_LINE = re.compile(r"^(e-?isbn|isbn|e-?issn|issn)\b(?:-1[03])?\s*:?\s*([0-9][0-9Xx\- ]{6,20}[0-9Xx])$", re.I)
_IDENTIFIER = re.compile(r"[0-9][0-9Xx\- ]{6,20}[0-9Xx]")
_INLINE_LABEL = re.compile(r"^([^:|]{2,40}?)\s*:\s*(\S.*)$")
_ATTACHMENT = re.compile(
    r"^(?P<label>.*?)[\s(]*(?P<size>\d{1,4}(?:[.,]\d{1,3})?)\s*(?P<unit>[KMG]B|[KMG]o|bytes|octets)\)?$", re.I
)
_DATE_SHAPE = re.compile(r"^(?=.*\b(?:19|20)\d\d\b)(?=.*\d)[\w .,/\-]{6,40}$")
_REFERENCE = re.compile(r"^(?=.*\d)\S+(?:\s\S+){0,2}$")


def parse(body: bytes, url: str | None = None) -> ParsedPage:
    """Parse a text dump of a detail, news or bookstore page (format `text-detail`)."""
    return extract(text_lines(decode_text(body)), url)


def text_lines(text: str) -> list[Line | None]:
    """A text dump as lines, whitespace collapsed; None marks a blank line (a paragraph break)."""
    lines: list[Line | None] = []
    for raw in text.splitlines()[:MAX_LINES]:
        line = " ".join(raw.split())
        lines.append(Line(line) if line else None)
    return lines


def extract(lines: Sequence[Line | None], url: str | None, *, base_url: str | None = None) -> ParsedPage:
    """One record from a detail page's lines (text dump or HTML visible text).

    Raises ShapeError when the lines hold no title and no abstract.
    """
    reader = _Reader(list(lines[:MAX_LINES]), base_url or url)
    reader.read()
    return reader.page(url)


# ---------------------------------------------------------------------------------------------


def label_key(text: str) -> str | None:
    """The record key of a whole-line label, or None."""
    return LABELS.get(text.rstrip(" :\u00a0").casefold())


def is_chrome(text: str) -> bool:
    folded = text.casefold().strip(" :")
    return (
        folded in SKIP_LINKS
        or folded in CHROME_LINES
        or bool(PAGER_LINE.match(text) or NOTICE_LINE.match(text) or CALL_TO_ACTION.match(text))
    )


def ends_sentence(text: str) -> bool:
    return bool(_SENTENCE_END.search(text))


def is_title_like(text: str) -> bool:
    """A title: a short line that is not a sentence (titles do not end with a full stop), not a
    cut teaser, not a caption, a date or a bare year."""
    return (
        0 < len(text.split()) <= TITLE_MAX_WORDS
        and not text.rstrip().endswith((".", "…", ":", ";", ","))
        and not split_truncation(text)[1]
        and not _ALT_YEAR.match(text)
        and not is_caption(text)
        and not _YEAR_LINE.match(text)
        and any(ch.isalpha() for ch in text)
        and not is_date_range(text)
        and not is_section_heading(text)
        and parse_date(text) is None
    )


def looks_like_prose(text: str) -> bool:
    words = len(text.split())
    return words >= PROSE_MIN_WORDS or (words >= PROSE_MIN_SENTENCE_WORDS and bool(_SENTENCE_END.search(text)))


def is_caption(text: str) -> bool:
    folded = text.casefold()
    return "©" in text or " | " in text or (folded.startswith(CAPTION_OPENERS) and len(text.split()) <= 25)


@lru_cache(maxsize=4096)
def parse_date(text: str) -> date | None:
    """A printed date in English, Spanish or French ("16 déc 2022", "1 de junio de 2020").

    A cheap shape test first, so dateparser only sees lines that could be dates.
    """
    if not _DATE_SHAPE.match(text):
        return None
    from dateparser.date import DateDataParser  # lazy: only pages with dates pay its import

    found = _date_parser(DateDataParser).get_date_data(text)
    return found.date_obj.date() if found and found.date_obj else None


@lru_cache(maxsize=1)
def _date_parser(cls: Any) -> Any:
    return cls(
        languages=["en", "es", "fr"],
        settings={"STRICT_PARSING": True, "REQUIRE_PARTS": ["day", "month", "year"], "DATE_ORDER": "DMY"},
    )


_SPAN_SPLIT = re.compile(rf"\s*{SPAN_SEPARATOR}\s*", re.IGNORECASE)
_SPAN_OPENER = re.compile(rf"^{SPAN_OPENER}", re.IGNORECASE)
_DAY_ONLY = re.compile(r"(\d{1,2})(?:st|nd|rd|th|er|º)?")
#: a span's last part without its month ("5, 2024" of "June 3-5, 2024"): day, then the year
_DAY_YEAR = re.compile(r"(\d{1,2})(?:st|nd|rd|th|er|º)?\s*,?\s*((?:19|20)\d\d)")


#: lines of an event or course page tried as its dates, at most (its top, labels and headings)
DATE_CANDIDATES_MAX = 200


def _is_dated_heading(text: str) -> bool:
    """A section heading followed by a date ("Agenda - Thursday 8 December 2022")."""
    head, sep, _ = text.partition(" - ")
    return bool(sep) and is_section_heading(head)


def span_dates(text: str) -> tuple[date, date] | None:
    """(first, last) day of a span of dates ("1 - 2 December 2021", "del 3 al 5 de mayo de 2022");
    the first part borrows the month and year the last part names, the last part the month the
    first names when it has none ("June 3-5, 2024"). None when the last part has no year."""
    parts = _SPAN_SPLIT.split(_SPAN_OPENER.sub("", " ".join(text.split())), maxsplit=1)
    if len(parts) != 2:
        return None
    month = MONTH_WORD.search(parts[0])
    bare = _DAY_YEAR.fullmatch(parts[1])
    if bare and month and not MONTH_WORD.search(parts[1]):
        parts[1] = f"{bare.group(1)} {month.group(0)} {bare.group(2)}"
    end = parse_date(parts[1])
    if end is None:
        return None
    day = _DAY_ONLY.fullmatch(parts[0])
    try:
        start = date(end.year, end.month, int(day.group(1))) if day else None
    except ValueError:
        return None
    start = start or parse_date(parts[0]) or parse_date(f"{parts[0]} {end.year}")
    return (start, end) if start and start <= end else None


def _language_names(text: str) -> list[str] | None:
    """Language names of a line ("English, Français"), or None when a part is not one."""
    parts = [p.strip(" .*") for p in re.split(r"\s*(?:,|;|/|\||\band\b|\by\b|\bet\b)\s*", text) if p.strip(" .*")]
    if parts and all(p.casefold() in LANGUAGE_NAMES for p in parts):
        return parts
    return None


def _valid_value(key: str, text: str) -> bool:
    if key == "year":
        return bool(_YEAR_LINE.match(text))
    if key == "page_count":
        return bool(_PAGES.match(text))
    if key in DATE_KEYS:
        return parse_date(text) is not None
    if key in ("isbn", "eisbn", "issn"):
        return bool(_IDENTIFIER.fullmatch(text.strip()))
    if key == "reference_number":
        return bool(_REFERENCE.match(text)) and len(text) <= 40
    if key in ("editions", "languages"):
        return _language_names(text) is not None
    if key == "text_language":
        return _language_names(text) is not None or (
            len(text.split()) <= 3 and not any(ch.isdigit() for ch in text) and text[:1].isupper()
        )
    words = len(text.split())
    return (
        0 < words <= VALUE_MAX_WORDS
        and not (words >= PROSE_MIN_WORDS and _SENTENCE_END.search(text))
        and not split_truncation(text)[1]
    )


def _is_kind_value(text: str) -> bool:
    """A field's value, not the next label, heading or paragraph."""
    folded = text.rstrip(" :\u00a0").casefold()
    return (
        0 < len(text.split()) <= VALUE_MAX_WORDS
        and not looks_like_prose(text)
        and label_key(text) is None
        and folded not in KIND_LABELS
        and not is_section_heading(text)
        and not is_chrome(text)
    )


def _classify_unlabelled(text: str) -> str | None:
    """Which field an unlabelled taxonomy line is (MP prints values without their labels)."""
    folded = text.casefold()
    if folded in TYPE_TERMS or all(p.strip() in TYPE_TERMS for p in folded.split(",")):
        return "type"
    parts = [p.strip() for p in folded.split(",") if p.strip()]
    if parts and all(any(word in part for word in REGION_WORDS) for part in parts):
        return "region"
    if ORGANISATION.search(text) and len(text.split()) <= 15 and not _SENTENCE_END.search(text.rstrip(")")):
        return "organisation"
    originals = [p.strip() for p in text.split(",") if p.strip()]
    if len(originals) >= 2 and all(
        len(p.split()) <= 4 and p[:1].isupper() and not any(ch.isdigit() for ch in p) for p in originals
    ):
        return "countries"
    return None


@dataclass
class _Parts:
    """The content lines after the title, sorted by what they are."""

    dates: list[str] = field(default_factory=list)
    #: unlabelled taxonomy values and the cover's alt text, before the text
    header: list[tuple[int, Line]] = field(default_factory=list)
    body: list[tuple[int, Line]] = field(default_factory=list)
    captions: list[str] = field(default_factory=list)
    subtitle: str | None = None
    unlabelled: list[str] = field(default_factory=list)


class _Reader:
    """One pass over the lines, then the assembly of one record."""

    def __init__(self, lines: list[Line | None], base: str | None) -> None:
        self.lines = lines
        self.base = base
        self.fields: dict[str, list[str]] = {}
        self.paths: dict[str, str] = {}
        self.content: list[tuple[int, Line]] = []
        self.toc: list[str] = []
        self.toc_at: list[int] = []
        self.attachments: list[str] = []
        self.attachment_languages: list[str] = []
        self.edition_hrefs: list[str] = []
        self.file_hrefs: list[str] = []
        self.markup = False
        #: field labels and section headings of events, courses, initiatives (kind evidence)
        self.kind_labels: list[str] = []
        self.kind_fields: dict[str, list[str]] = {}
        self.kind_values: list[str] = []
        self.date_candidates = 0
        #: line numbers of section headings: the opening prose of a page ends at the first
        self.headings: list[int] = []

    def add(self, key: str, values: list[str], path: str) -> None:
        if not values:
            return
        self.fields.setdefault(key, []).extend(values)
        self.paths.setdefault(key, path)

    # -- pass 1: labels, sections, bullets, attachments, chrome ---------------------------------

    def read(self) -> None:
        lines = self.lines
        section: str | None = None
        k = 0
        while k < len(lines):
            line = lines[k]
            if line is None:
                k += 1
                continue
            text, marked = clean_markup(line.text)
            self.markup = self.markup or marked
            folded = text.rstrip(" :\u00a0").casefold()
            key = label_key(text)
            if key is not None:
                self.headings.append(k)  # a field block ends the opening prose of an item page
                k = self._values(k + 1, key)
                section = None
                continue
            if self._inline(text):
                k += 1
                continue
            if folded in ATTACHMENT_HEADERS:
                section = "attachments"
                k += 1
                continue
            if folded in TOC_HEADERS:
                section = "toc"
                k += 1
                continue
            if folded in KIND_LABELS or is_section_heading(text):
                self.kind_labels.append(text)
                section = None
                after = self._next_text(k + 1)
                if folded in KIND_LABELS and after is not None and _is_kind_value(after[1]):
                    k = self._kind_values(after[0], folded)
                else:
                    self.headings.append(k)
                    k += 1
                continue
            row = _ATTACHMENT.match(text)
            if row and len(text) <= 160 and not looks_like_prose(row.group("label") or ""):
                self._attachment(row, line)
                k += 1
                continue
            if _BULLET.match(text):
                item = _BULLET.sub("", text).strip()
                if item:
                    self.toc.append(item)
                    self.toc_at.append(k)
                k += 1
                continue
            if section == "toc" and not looks_like_prose(text):
                self.toc.append(text)
                self.toc_at.append(k)
                k += 1
                continue
            if is_chrome(text):
                k += 1
                continue
            section = None
            self.content.append((k, Line(text, line.href, line.heading)))
            k += 1

    def _values(self, k: int, key: str) -> int:
        values: list[str] = []
        lines = self.lines
        while k < len(lines):
            line = lines[k]
            if line is None:
                if key in DATE_KEYS and not values:
                    k += 1
                    continue
                if key == "editions" and not values:
                    k += 1
                    continue
                break
            text = clean_markup(line.text)[0]
            folded = text.rstrip(" :").casefold()
            if label_key(text) is not None or folded in ATTACHMENT_HEADERS or folded in KIND_LABELS:
                break
            if is_section_heading(text):
                break
            if key == "editions" and line.href:
                self.edition_hrefs.append(line.href)
                values.extend(_language_names(text) or [text])
                k += 1
                continue
            if not _valid_value(key, text):
                break
            values.append(text)
            k += 1
            if key in SINGLE_VALUED:
                break
        self.add(key, values, "label")
        return k

    def _next_text(self, k: int) -> tuple[int, str] | None:
        """The next line (after at most one blank line) and its number."""
        for n in range(k, min(k + 2, len(self.lines))):
            line = self.lines[n]
            if line is not None:
                return n, clean_markup(line.text)[0]
        return None

    def _kind_values(self, k: int, label: str) -> int:
        """The short lines after a label of an event, course or initiative: its value."""
        values: list[str] = []
        while k < len(self.lines) and self.lines[k] is not None:
            text = clean_markup(self.lines[k].text)[0]  # type: ignore[union-attr]
            if not _is_kind_value(text):
                break
            values.append(text)
            k += 1
        self.kind_values.extend(values)
        key = KIND_FIELD_KEYS.get(label)
        if key:
            self.kind_fields.setdefault(key, []).extend(values)
        else:
            self.kind_fields.setdefault("details", []).append(f"{label.capitalize()}: {', '.join(values)}")
        return k

    def _inline(self, text: str) -> bool:
        """`ISSN 2223-5248`, `Year: 2018`, `Number of Pages: 42 | ISSN: 2223-5248 | Year: 2018`.

        Every part of the line must be a known label with a valid value, or nothing is taken:
        a sentence with a colon in it stays prose.
        """
        found: list[tuple[str, list[str]]] = []
        for part in (p.strip() for p in text.split(" | ")):
            ident = _IDENTIFIER_LINE.match(part)
            if ident:
                name = ident.group(1).casefold().replace("-", "")
                found.append(({"isbn": "isbn", "eisbn": "eisbn", "issn": "issn", "eissn": "issn"}[name],
                              [ident.group(2).strip()]))  # fmt: skip
                continue
            inline = _INLINE_LABEL.match(part)
            key = label_key(inline.group(1)) if inline else None
            if inline is None or key is None:
                return False
            value = inline.group(2).strip()
            if key in ("editions", "languages"):
                names = _language_names(value)
                if names is None:
                    return False
                found.append((key, names))
            elif _valid_value(key, value):
                found.append((key, [value]))
            else:
                return False
        for key, values in found:
            self.add(key, values, "inline-label")
        return bool(found)

    def _attachment(self, row: re.Match[str], line: Line) -> None:
        label = row.group("label").strip(" -–:(")
        self.attachments.append(f"{label} {row.group('size')} {row.group('unit')}".strip())
        name = label.rsplit(" - ", 1)[-1].strip().casefold()
        if name in LANGUAGE_NAMES:
            self.attachment_languages.append(label.rsplit(" - ", 1)[-1].strip().title())
        if line.href:  # attachments are files, not editions: their URLs go to pdf_urls
            self.file_hrefs.append(line.href)

    # -- pass 2: title, header values, body ----------------------------------------------------

    def page(self, url: str | None) -> ParsedPage:
        """The record: the title, the kind of page, then every other line sorted by what it is."""
        content = self.content
        opening = self._opening()
        title_at = self._title_index(opening)
        title = content[title_at][1].text if title_at is not None else None
        top = [line.text for _, line in content[:opening]] + self.kind_fields.get("dates", [])
        item_kind, kind_why = page_kind(
            url, self.kind_labels, self.fields.get("type", []), top=top, status=self.kind_fields.get("status", [])
        )
        parts = self._sort_lines(title_at, title, news=item_kind == "news")
        if title is None and not parts.body:
            raise ShapeError("no title and no abstract found: not a detail, news or bookstore page")
        if item_kind in NON_PUBLICATION:
            if self.toc:  # such a page has no table of contents: its bullets are a list in its text
                parts.body = self._toc_into_text(parts.body)
            parts.body = self._opening_prose(parts.body)
        if parts.dates:
            self.kind_fields.setdefault("dates", []).extend(parts.dates)
        page = self._record(url, item_kind == "news", title, parts)
        self._add_kind(page, item_kind, kind_why, url)
        return page

    def _sort_lines(self, title_at: int | None, title: str | None, *, news: bool) -> _Parts:
        """The content lines after the title, each put where it belongs: first by what the line is
        by itself, then by where it stands (before or inside the text, right after the title)."""
        content = self.content
        parts = _Parts()
        start = (title_at + 1) if title_at is not None else 0
        image_lines = _image_text(content, start)
        for position, (k, line) in enumerate(content[start:], start=start):
            if position in image_lines:
                parts.captions.append(line.text)
            elif not self._sort_by_shape(parts, k, line, title):
                right_after_title = position == start + _dup(content, start, title)
                self._sort_by_place(parts, k, line, right_after_title=right_after_title, news=news)
        return parts

    def _sort_by_shape(self, parts: _Parts, k: int, line: Line, title: str | None) -> bool:
        """Place a line that says what it is by itself (the title again, a span of dates, the
        cover's alt text, a caption, a paragraph of prose); False when its shape does not say."""
        text = line.text
        if title and text.casefold() == title.casefold() and not parts.body:
            return True  # the title printed twice (once in sentence case, on some pages)
        if is_date_range(text):
            parts.dates.append(text)  # an event's or course's dates: never a title, subtitle or value
            return True
        alt = _ALT_YEAR.match(text)
        if alt and not parts.body:
            self.add("year", [alt.group(1)], "alt-text")
            parts.captions.append(text)
            parts.header.append((k, line))
            return True
        if (is_caption(text) and not looks_like_prose(text)) or "©" in text:
            parts.captions.append(text)
            return True
        if looks_like_prose(text) and not split_truncation(text)[1]:
            parts.body.append((k, line))
            return True
        return False

    def _sort_by_place(self, parts: _Parts, k: int, line: Line, *, right_after_title: bool, news: bool) -> None:
        """Place a short line by where it stands: before the text it is an unlabelled taxonomy value,
        the subtitle (a news page's image caption) or an unclassified line; inside the text a list
        item, a list's lead-in or a heading of the text."""
        text = line.text
        body = parts.body
        image_text = bool(body) and len(body) <= 2 and not any(ends_sentence(b.text) for _, b in body)
        kind = _classify_unlabelled(text) if not body or image_text else None
        if kind:
            # prose read so far that does not end a sentence, followed by metadata: image text
            if image_text:
                parts.captions.extend(b.text for _, b in body)
                parts.body = []
            self.add(kind, [p.strip() for p in text.split(",")] if kind != "organisation" else [text],
                     "unlabelled-vocabulary")  # fmt: skip
            parts.header.append((k, line))
            return
        if not body and parts.subtitle is None and not parts.header and not parts.captions and right_after_title:
            if news:
                parts.captions.append(text)
            else:
                parts.subtitle = text
            return
        if body and (_NUMBERED.match(text) or (text.endswith(":") and self._list_follows(k))):
            body.append((k, line))  # a numbered item, or the lead-in of a list: the text, never a heading
            return
        if not body:
            parts.unlabelled.append(text)
        elif is_title_like(text):
            self.headings.append(k)  # a heading inside the text ("GBVIC Framework")

    def _toc_into_text(self, body: list[tuple[int, Line]]) -> list[tuple[int, Line]]:
        """Bullets on a page that has no table of contents (an article, an event) are a list inside
        its text: back into the body, in page order."""
        body = sorted(body + [(k, Line(f"- {item}")) for k, item in zip(self.toc_at, self.toc, strict=True)])
        self.toc, self.toc_at = [], []
        return body

    def _add_kind(self, page: ParsedPage, item_kind: str, kind_why: str, url: str | None) -> None:
        """The page's kind and why; for a page that is no publication, its dates and labelled values."""
        record = page.records[0]
        if url is not None or item_kind != "publication":
            record["kind"] = item_kind
        if item_kind in NON_PUBLICATION:
            page.page_info["shape"] = item_kind
        page.page_info["kind"] = f"{record['kind']}: {kind_why}"
        extra = record.setdefault("extra", {})
        if item_kind in ("event", "course"):
            when = self._event_dates()
            page.page_info["date_candidates"] = self.date_candidates
            if when:
                extra["start_date"], extra["end_date"] = when[0].isoformat(), when[1].isoformat()
        for key, values in self.kind_fields.items():
            if values:
                extra[key] = (" / " if key == "details" else ", ").join(dict.fromkeys(values))
        if not extra:
            del record["extra"]

    def _event_dates(self) -> tuple[date, date] | None:
        """First and last day of an event or course: from its spans of dates and its lines that are a
        date, looked for where an event prints them: above its opening prose, in its labelled values
        and in headings that end with one ("Agenda - Thursday 8 December 2022"); never in its prose
        or the tables below it, where any date may be cited. At most DATE_CANDIDATES_MAX lines are
        tried, so a long page costs no more date parsing than a short one."""
        opening = self._opening()
        candidates = [
            text
            for n, (_, line) in enumerate(self.content)
            if (text := line.text) and (n < opening or line.heading or _is_dated_heading(text))
        ]
        candidates = (self.kind_values + candidates)[:DATE_CANDIDATES_MAX]
        self.date_candidates = len(candidates)
        days: list[date] = []
        for text in candidates:
            if is_date_range(text):
                days.extend(span_dates(text) or ())
                continue
            if looks_like_prose(text):
                continue
            day = parse_date(text) or (parse_date(text.rsplit(" - ", 1)[1]) if " - " in text else None)
            if day is not None:
                days.append(day)
        return (min(days), max(days)) if days else None

    def _opening(self) -> int:
        """Index in content of the first paragraph of prose (len(content) when there is none).

        Why: the page's own heading comes before its text; a short line after the first paragraph
        is a heading inside the text (an about page's "GBVIC Framework"), not the page's title.
        """
        for n, (_, line) in enumerate(self.content):
            text = line.text
            if (
                looks_like_prose(text)
                and not is_title_like(text)
                and not is_caption(text)
                and not split_truncation(text)[1]
                and not _ALT_YEAR.match(text)
            ):
                return n
        return len(self.content)

    def _title_index(self, opening: int) -> int | None:
        content = self.content[:opening]
        headed = [n for n, (_, line) in enumerate(content) if line.heading and is_title_like(line.text)]
        if headed:
            return headed[0]
        for n, (_, line) in enumerate(content):
            if is_title_like(line.text):
                return n
        return None

    def _list_follows(self, k: int) -> bool:
        """The next line of text after line k is an item of a list."""
        after = self._next_text(k + 1)
        return after is not None and _is_list_item(after[1])

    def _opening_prose(self, body: list[tuple[int, Line]]) -> list[tuple[int, Line]]:
        """The paragraphs before the first section heading that follows some of them (all when the
        text starts under a heading): a page that is no publication is summed up by its opening."""
        if not body:
            return body
        first = body[0][0]
        cut = min((k for k in self.headings if k > first), default=None)
        return [item for item in body if cut is None or item[0] < cut]

    def _record(self, url: str | None, news: bool, title: str | None, parts: _Parts) -> ParsedPage:
        """One record of the fields read; without a URL, a page with captions and no publication
        metadata is taken for a news article."""
        page = ParsedPage()
        body = parts.body
        if news and self.toc:  # an article has no table of contents: its bullets are a list inside the text
            body = self._toc_into_text(body)
        while body and body[-1][1].text.rstrip().endswith(":"):
            body = body[:-1]  # a lead-in to something the text lost (a video, a form)
        if url is None:
            has_metadata = any(k in self.fields for k in LABEL_FIELDS) or bool(self.attachments or self.toc)
            news = bool(parts.captions) and not has_metadata
        own, why = checked_link(None, url)
        if why:
            page.problems.append(Problem(1, f"page link dropped, record kept: {why}", ""))
        record: dict[str, Any] = {"position": 1, "kind": "news" if news else "publication", "url": own}
        self._add_text(record, title, _paragraphs(self.lines, body))
        self._add_numbers(record)
        self._add_languages_and_links(record)
        extra = self._extra(parts)
        if extra:
            record["extra"] = extra
        if self.markup:
            record["quality_flags"] = ["markup_residue_removed"]
        page.records.append(record)
        page.page_info["shape"] = "news" if news else "detail"
        page.page_info["fields"] = dict(self.paths)
        return page

    def _add_text(self, record: dict[str, Any], title: str | None, paragraphs: str) -> None:
        if title:
            record["title"] = title
            self.paths["title"] = "first title-like line"
        if paragraphs:
            abstract, truncated = split_truncation(paragraphs)
            record["abstract"] = abstract
            record["abstract_truncated"] = truncated
            self.paths["abstract"] = "prose paragraphs after the title"

    def _add_numbers(self, record: dict[str, Any]) -> None:
        """Year (a publication date gives it too), page count, ISBNs, the text's language."""
        fields = self.fields
        year = _first_year(fields.get("year", []) + fields.get("published", []))
        if year:
            record["year"] = year
        pages = next((int(m.group(1)) for v in fields.get("page_count", []) if (m := _PAGES.match(v))), None)
        if pages:
            record["page_count"] = pages
        for key in ("isbn", "eisbn"):
            if fields.get(key):
                record[key] = list(dict.fromkeys(fields[key]))
        if fields.get("text_language"):
            record["text_language"] = fields["text_language"][0]

    def _add_languages_and_links(self, record: dict[str, Any]) -> None:
        """The languages the work is in (its own, a languages field, other editions, attachment
        rows), edition and file links, the table of contents and the attachment rows."""
        fields = self.fields
        languages = [
            *(fields.get("text_language", [])[:1]),
            *(name for v in fields.get("languages", []) for name in (_language_names(v) or [v])),
            *fields.get("editions", []),
            *self.attachment_languages,
        ]
        if languages:
            record["languages"] = list(dict.fromkeys(languages))
        if self.edition_hrefs:
            links = dict.fromkeys(link_or_none(self.base, h) for h in self.edition_hrefs)
            record["edition_links"] = [u for u in links if u]
        if self.file_hrefs:
            record["pdf_urls"] = [u for u in dict.fromkeys(link_or_none(self.base, h) for h in self.file_hrefs) if u]
            record["pdf_available"] = True
        if self.toc:
            record["toc"] = self.toc
            self.paths["toc"] = "bullet lines"
        if self.attachments:
            record["attachments"] = self.attachments
            self.paths["attachments"] = "attachment rows"

    def _extra(self, parts: _Parts) -> dict[str, str]:
        """Fields without a column of their own, as text; dates as ISO dates."""
        fields = self.fields
        extra: dict[str, str] = {}
        for key in EXTRA_FIELDS:
            if fields.get(key):
                extra[key] = ", ".join(dict.fromkeys(fields[key]))
        for key in DATE_KEYS:
            when = next((d for v in fields.get(key, []) if (d := parse_date(v))), None)
            if when:
                extra[key] = when.isoformat()
        if fields.get("editions"):
            extra["also_available_in"] = ", ".join(dict.fromkeys(fields["editions"]))
        if parts.subtitle:
            extra["subtitle"] = parts.subtitle
            self.paths["subtitle"] = "short line after the title"
        if parts.captions:
            extra["caption"] = " / ".join(dict.fromkeys(parts.captions))
        if parts.unlabelled:
            extra["unlabelled"] = " / ".join(dict.fromkeys(parts.unlabelled))
        return extra


#: label keys that say a page describes a publication (not a news article)
LABEL_FIELDS = frozenset({"page_count", "year", "reference_number", "isbn", "eisbn", "issn", "series", "type"})
#: keys copied into `extra` as text
EXTRA_FIELDS = ("type", "region", "countries", "organisation", "series", "reference_number", "issn", "topics",
                "authors", "publisher", "last_updated")  # fmt: skip


#: opening words two lines share when the second is the first one's caption extended
IMAGE_TEXT_WORDS = 6


def _image_text(content: list[tuple[int, Line]], start: int) -> set[int]:
    """Positions of an image's alt text and caption between the title and the text.

    Why: a figure prints its alt text and its caption one after the other, the same words twice
    (or the caption extending the alt text with a place or a period), while a paragraph of the
    text is never printed twice in a row. Only before the first paragraph that differs.
    """
    found: set[int] = set()
    n = start
    while n + 1 < len(content):
        first, second = content[n][1].text, content[n + 1][1].text
        a, b = first.casefold().rstrip(" ."), second.casefold().rstrip(" .")
        same = a == b or (
            len(a.split()) >= IMAGE_TEXT_WORDS and a.split()[:IMAGE_TEXT_WORDS] == b.split()[:IMAGE_TEXT_WORDS]
        )
        if same and content[n + 1][0] == content[n][0] + 1:  # adjacent lines: one figure
            found.update((n, n + 1))
            n += 2
            continue
        if looks_like_prose(first) and not is_caption(first):
            break
        n += 1
    return found


def _dup(content: list[tuple[int, Line]], start: int, title: str | None) -> int:
    """How many copies of the title follow it (the title printed twice)."""
    n = 0
    while start + n < len(content) and title is not None and content[start + n][1].text == title:
        n += 1
    return n


def _paragraphs(lines: list[Line | None], body: list[tuple[int, Line]]) -> str:
    """Body lines as paragraphs: consecutive lines of one block are one paragraph in text dumps
    only when no blank line separates them and the first does not end a sentence (a wrapped line);
    an item of a list ("1. Policies and reforms", "• Name, role") is a line of its own, not a wrapped one."""
    paragraphs: list[str] = []
    previous: int | None = None
    for k, line in body:
        joined = (
            previous is not None
            and k == previous + 1
            and lines[previous] is not None
            and not _SENTENCE_END.search(paragraphs[-1])
            and not _is_list_item(lines[previous].text)  # type: ignore[union-attr]
            and not _is_list_item(line.text)
        )
        if joined:
            paragraphs[-1] = f"{paragraphs[-1]} {line.text}"
        else:
            paragraphs.append(line.text)
        previous = k
    return "\n\n".join(paragraphs)


def _is_list_item(text: str) -> bool:
    return bool(_NUMBERED.match(text) or _BULLET.match(text))


def _first_year(values: list[str]) -> int | None:
    for value in values:
        found = _YEAR.search(value)
        if found:
            return int(found.group(1))
    return None
