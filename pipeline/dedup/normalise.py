"""Normalise text for comparison: one spelling of a text, a title, a number, a language.

Everything that decides whether two sightings say the same thing goes through here, so the
rules in `match` compare like with like. The bulk work runs inside DuckDB (`NORMALISE_SQL`,
features.py's language query), which is vectorised and multi-threaded; the Python twins
(`normalise`, `detect_language`) exist for single pairs and tests, which check they agree.

Why these choices:
- accents, case and punctuation are dropped because the same teaser is printed with curly or
  straight quotes, with or without a trailing comma before `...`, and cut in the middle of a word;
- language is detected from function words, not from the page: SOURCES.md section 3.2 shows
  Spanish abstracts on `/en/` listings, so the interface language says nothing about the text;
- numbers in titles are identity: "Volume I" and "Volume II", "Key Highlights 2022" and "2023"
  are different publications however alike their abstracts are.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import urlsplit

#: DuckDB expression: accents stripped, lower case, anything but letters and digits a space.
#: `{x}` is replaced by the column. Keep in step with `normalise()` (tests compare them).
NORMALISE_SQL = r"trim(regexp_replace(lower(strip_accents(coalesce({x}, ''))), '[^\p{{L}}\p{{N}}]+', ' ', 'g'))"

_NON_ALNUM = re.compile(r"[\W_]+")


def normalise(text: str | None) -> str:
    """Python twin of NORMALISE_SQL."""
    if not text:
        return ""
    decomposed = unicodedata.normalize("NFD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(_NON_ALNUM.sub(" ", stripped.lower()).split())


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Function words (normalised: no accents), used both to detect a text's language and to leave
# them out of content-word comparisons. Only words frequent in abstracts and rare as content.
STOPWORDS: dict[str, frozenset[str]] = {
    "en": _words(
        """
        the of and to in for on with by is are this that from as an be its which it at their
        or has have was were these such into also can will been how who what they
        """
    ),
    "fr": _words(
        """
        le la les des du de et en un une pour dans sur par est sont ce cette ces qui que au
        aux avec ou ont plus leur leurs son sa ses elle il ainsi afin entre
        """
    ),
    "es": _words(
        """
        el la los las del de y en un una para por con es son este esta estos estas que se al
        como su sus o sobre entre ha han tambien fue desde
        """
    ),
    "pt": _words(
        """
        o a os as do da dos das de e em um uma para por com e sao este esta que se ao como
        seu sua nao no na nos nas pelo pela
        """
    ),
    "it": _words(
        """
        il lo la gli le dei degli delle del della di e in un una per con che si al alla come
        sono questo questa nel nella anche
        """
    ),
    "de": _words(
        """
        der die das den dem des und in zu fur mit von auf ist sind ein eine einer eines im
        nicht sich auch als bei oder wie werden wird
        """
    ),
}
ALL_STOPWORDS: frozenset[str] = frozenset().union(*STOPWORDS.values())
LANGUAGES: tuple[str, ...] = tuple(STOPWORDS)

#: a language is called only with this many distinct function words and a clear lead
MIN_LANGUAGE_HITS = 3
LANGUAGE_LEAD = 1.5
#: words of a text read for detection
LANGUAGE_WINDOW = 80


def detect_language(normalised_text: str) -> str | None:
    """ISO 639-1 code of a normalised text by its function words; None when unsure."""
    words = set(normalised_text.split()[:LANGUAGE_WINDOW])
    scores = sorted(((len(words & STOPWORDS[lang]), lang) for lang in LANGUAGES), reverse=True)
    (best, lang), (second, _) = scores[0], scores[1]
    if best >= MIN_LANGUAGE_HITS and best >= LANGUAGE_LEAD * second:
        return lang
    return None


def _sql_list(words: list[str]) -> str:
    return "[" + ", ".join("'" + w.replace("'", "''") + "'" for w in words) + "]"


def sql_string_list(words: list[str] | frozenset[str]) -> str:
    """A DuckDB list literal of strings (for stopword filters inside SQL)."""
    return _sql_list(sorted(words))


# ---------------------------------------------------------------------------------------------
# Titles

#: words after which a number names a volume, part or issue (en, fr, es; normalised)
_VOLUME_WORDS = _words(
    """
    vol volume volumen tome tomo part partie parte module modulo chapter chapitre capitulo book livre
    libro issue numero number no n nr annex annexe annexes anexo anexos series serie edition
    """
)
_ROMAN = re.compile(r"^(?=[ivxlc]+$)(c{0,3})(xc|xl|l?x{0,3})(ix|iv|v?i{0,3})$")
_ROMAN_VALUES = {"i": 1, "v": 5, "x": 10, "l": 50, "c": 100}
_ORDINALS = {
    "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6,
    "premier": 1, "premiere": 1, "deuxieme": 2, "troisieme": 3, "primera": 1, "primero": 1,
    "segunda": 2, "segundo": 2, "tercera": 3, "tercero": 3,
}  # fmt: skip


def _roman(word: str) -> int | None:
    if not word or not _ROMAN.match(word):
        return None
    total = 0
    for ch, nxt in zip(word, [*word[1:], ""], strict=True):
        value = _ROMAN_VALUES[ch]
        total += -value if nxt and _ROMAN_VALUES[nxt] > value else value
    return total


def title_numbers(title: str | None) -> frozenset[int]:
    """Numbers that identify a publication among its siblings: volume, part, issue, year.

    Digits anywhere count; a Roman numeral or an ordinal counts only after a volume word or as
    an edition ordinal ("third edition"), because a bare "I" or "V" is usually a word.
    """
    words = normalise(title).split()
    found: set[int] = set()
    for k, word in enumerate(words):
        if word.isdigit():
            found.add(int(word))
            continue
        previous = words[k - 1] if k else ""
        following = words[k + 1] if k + 1 < len(words) else ""
        if previous in _VOLUME_WORDS:
            value = _roman(word)
            if value is not None:
                found.add(value)
                continue
        if word in _ORDINALS and following in ("edition", "edicion", "set", "volume", "part"):
            found.add(_ORDINALS[word])
    return frozenset(found)


def title_words(title: str | None) -> list[str]:
    return normalise(title).split()


#: two titles agree when their word sets overlap this much (Jaccard), numbers aside
TITLE_JACCARD = 0.6


def titles_conflict(a: str | None, b: str | None) -> str | None:
    """Why two titles of the same language cannot name one edition, or None if they can.

    Titles are printed differently across sites (a subtitle dropped, a dash for a colon,
    "Post-Arrival" added), so agreement is loose: equal, one a word-prefix of the other, or
    mostly the same words. Numbers are strict: when both titles carry numbers they must be the
    same numbers.
    """
    if not a or not b:
        return None
    na, nb = normalise(a), normalise(b)
    if na == nb:
        return None
    nums_a, nums_b = title_numbers(a), title_numbers(b)
    if nums_a and nums_b and nums_a != nums_b:
        return f"title numbers differ ({_fmt(nums_a)} vs {_fmt(nums_b)})"
    wa, wb = na.split(), nb.split()
    short, long_ = (wa, wb) if len(wa) <= len(wb) else (wb, wa)
    if len(short) >= 2 and long_[: len(short)] == short:
        if _has_volume_marker(long_[len(short) :]):
            return "one title names a volume, part or year the other lacks"
        return None
    sa, sb = set(wa), set(wb)
    jaccard = len(sa & sb) / len(sa | sb)
    if jaccard >= TITLE_JACCARD:
        return None
    return f"titles differ (word overlap {jaccard:.2f})"


#: word overlap above which two titles are the same title printed differently
TITLE_SAME_JACCARD = 0.8


def titles_same(a: str | None, b: str | None) -> bool:
    """Two titles name the same publication: no conflict, and equal, extending, or 80% alike.

    Stricter than "not conflicting": this is positive evidence, used when the texts alone are
    not conclusive.
    """
    if not a or not b or titles_conflict(a, b):
        return False
    wa, wb = normalise(a).split(), normalise(b).split()
    if wa == wb:
        return True
    short, long_ = (wa, wb) if len(wa) <= len(wb) else (wb, wa)
    if len(short) >= 2 and long_[: len(short)] == short:
        return True
    sa, sb = set(wa), set(wb)
    return len(sa & sb) / len(sa | sb) >= TITLE_SAME_JACCARD


def title_numbers_conflict(a: frozenset[int], b: frozenset[int]) -> str | None:
    """Language-independent part of the title test, for editions in different languages."""
    if a and b and a != b:
        return f"title numbers differ ({_fmt(a)} vs {_fmt(b)})"
    return None


def _has_volume_marker(words: list[str]) -> bool:
    return any(w in _VOLUME_WORDS or w.isdigit() for w in words)


def _fmt(nums: frozenset[int]) -> str:
    return ",".join(str(n) for n in sorted(nums))


# ---------------------------------------------------------------------------------------------
# URLs

_NODE_PATH = re.compile(r"/node/\d+$")
_DIGITS = re.compile(r"\d+")


def url_numbers(canonical: str | None) -> frozenset[int] | None:
    """Numbers in the last path segment of an alias URL; None for /node/<nid> paths.

    `/knowledge-bite-1-introduction-series` and `/knowledge-bite-2-...` are siblings; a node
    path's number is a database id and says nothing about volumes.
    """
    if not canonical:
        return None
    path = urlsplit(canonical).path.rstrip("/")
    if _NODE_PATH.search(path):
        return None
    slug = path.rsplit("/", 1)[-1]
    return frozenset(int(n) for n in _DIGITS.findall(slug))


def urls_conflict(a: str | None, b: str | None) -> str | None:
    """Two different alias URLs whose slugs carry different numbers name different items."""
    if not a or not b or a == b:
        return None
    na, nb = url_numbers(a), url_numbers(b)
    if na is None or nb is None or na == nb:
        return None
    if not na or not nb:
        return None
    return f"URL numbers differ ({_fmt(na)} vs {_fmt(nb)})"


# ---------------------------------------------------------------------------------------------
# Language-independent signals

#: DuckDB regex: acronyms (2+ capitals/digits), numbers of 2+ digits, and capitalised words that
#: do not open a sentence (proper names). Group 1 holds the signal; a sentence opener matches the
#: first branch and yields NULL, so it is skipped.
SIGNAL_REGEX = r"(?:^|[.!?:;•\n]\s*)\p{Lu}\p{L}*|(\p{Lu}[\p{Lu}\p{N}]+\b|\b\p{N}{2,}\b|\p{Lu}\p{Ll}{2,})"
