"""Parse a text rendering of a publications.iom.int catalogue (a list of full entries).

An entry is anchored on its metadata line, `YEAR/NN pages [ISBN ...] [E-ISBN ...] languages
[Available for PDF download]`, which may wrap over several lines. The block of lines just before
it is the title (joined when it wraps); the blocks after it, up to the next entry's title, are
the full abstract. A block written in capitals (`HOW TO PURCHASE ...`, `ORDER FORM`) starts a
section that is not an entry, so the order form at the end is never read as an abstract.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

from parsers.base import ParsedPage, Problem, ShapeError, clean_markup, decode_text

_META_START = re.compile(r"^\s*\d{4}\s*/")
_META = re.compile(r"^\s*(?P<year>\d{4})\s*/\s*(?P<pages>\d+)\s*pages?\b(?P<rest>.*)$", re.I | re.S)
_ISBN = re.compile(r"\b(?P<label>E-?ISBN|ISBN)(?:-1[03])?\s*:?\s*(?P<value>[0-9][0-9\- ]{8,17}[0-9Xx])\b", re.I)
_PDF = re.compile(r"\bAvailable\s+for\s+PDF\s+download\b", re.I)
_BULLET = re.compile(r"^\s*(?:[-–•*]|\\bullet)\s+")
_LANG_SPLIT = re.compile(r"\s*(?:,|;|/|\band\b)\s*")


def parse(body: bytes, url: str | None = None) -> ParsedPage:
    text = decode_text(body)
    blocks = _blocks(text)
    meta_idx = [i for i, block in enumerate(blocks) if _META_START.match(block[0])]
    if not meta_idx:
        raise ShapeError("no catalogue entries found: no 'YEAR/NN pages' line on the page")
    page = ParsedPage()
    page.page_info["heading"] = " / ".join(blocks[0]) if meta_idx[0] > 1 else None
    for n, i in enumerate(meta_idx):
        position = n + 1
        next_title = meta_idx[n + 1] - 1 if n + 1 < len(meta_idx) else len(blocks)
        title_block = blocks[i - 1] if i > 0 and (i - 1) not in meta_idx else None
        abstract_blocks = _until_section_heading(blocks[i + 1 : max(next_title, i + 1)])
        excerpt = " ".join(title_block or blocks[i])[:120]
        if title_block is None:
            page.problems.append(Problem(position, "catalogue entry has no title before its metadata line", excerpt))
            continue
        meta = _parse_meta(" ".join(blocks[i]))
        if meta is None:
            page.problems.append(
                Problem(position, f"unreadable metadata line {' '.join(blocks[i])[:80]!r}", excerpt)
            )
            continue
        if not abstract_blocks:
            page.problems.append(Problem(position, "catalogue entry has no abstract (truncated entry?)", excerpt))
            continue
        title, title_marked = clean_markup(" ".join(line.strip() for line in title_block))
        abstract, abstract_marked = _abstract(abstract_blocks)
        flags = meta.pop("flags")
        meta_marked = meta.pop("markup")
        if title_marked or abstract_marked or meta_marked:
            flags.append("markup_residue_removed")
        page.records.append(
            {
                "position": position,
                "kind": "publication",
                "title": title,
                "abstract": abstract,
                "abstract_truncated": False,
                "url": None,
                "quality_flags": flags,
                **meta,
            }
        )
    _flag_shared_isbns(page.records)
    return page


def _blocks(text: str) -> list[list[str]]:
    blocks: list[list[str]] = []
    current: list[str] = []
    for line in text.splitlines():
        if line.strip():
            current.append(line.rstrip())
        elif current:
            blocks.append(current)
            current = []
    if current:
        blocks.append(current)
    return blocks


def _is_section_heading(block: list[str]) -> bool:
    letters = [ch for ch in block[0] if ch.isalpha()]
    return len(letters) >= 4 and all(ch.isupper() for ch in letters)


def _until_section_heading(blocks: list[list[str]]) -> list[list[str]]:
    for k, block in enumerate(blocks):
        if _is_section_heading(block):
            return blocks[:k]
    return blocks


def _parse_meta(line: str) -> dict[str, Any] | None:
    match = _META.match(line)
    if not match:
        return None
    rest = match.group("rest")
    isbn: list[str] = []
    eisbn: list[str] = []
    for found in _ISBN.finditer(rest):
        value = found.group("value").replace(" ", "")
        (eisbn if found.group("label").upper().startswith("E") else isbn).append(value)
    rest = _ISBN.sub(" ", rest)
    pdf = bool(_PDF.search(rest))
    rest, marked = clean_markup(_PDF.sub(" ", rest))
    languages = [part.strip() for part in _LANG_SPLIT.split(rest) if part.strip()]
    return {
        "year": int(match.group("year")),
        "page_count": int(match.group("pages")),
        "isbn": isbn,
        "eisbn": eisbn,
        "languages": languages,
        "pdf_available": pdf,
        "flags": [],
        "markup": marked,  # residue such as `**English**` in the languages
    }


def _abstract(blocks: list[list[str]]) -> tuple[str, bool]:
    """Paragraphs separated by a blank line; bullet items kept one per line as `- item`."""
    paragraphs: list[str] = []
    marked = False
    for block in blocks:
        lines: list[str] = []
        for raw in block:
            line, was_marked = clean_markup(raw.strip())
            marked = marked or was_marked
            if _BULLET.match(raw):
                lines.append("- " + _BULLET.sub("", raw.strip()).strip())
                lines[-1] = "- " + clean_markup(lines[-1][2:])[0].strip()
            elif lines and not lines[-1].startswith("- "):
                lines[-1] = f"{lines[-1]} {line}"
            else:
                lines.append(line)
        paragraphs.append("\n".join(part for part in lines if part.strip("- ")))
    return "\n\n".join(p for p in paragraphs if p), marked


def _flag_shared_isbns(records: list[dict[str, Any]]) -> None:
    """One ISBN printed on two different titles is a data error worth an analyst's eye."""
    titles_by_isbn: dict[str, set[str]] = defaultdict(set)
    for record in records:
        for value in record["isbn"] + record["eisbn"]:
            titles_by_isbn[re.sub(r"[^0-9Xx]", "", value)].add(record["title"])
    for record in records:
        for value in record["isbn"] + record["eisbn"]:
            key = re.sub(r"[^0-9Xx]", "", value)
            if len(titles_by_isbn[key]) > 1:
                record["quality_flags"].append(f"isbn_on_several_titles:{key}")
