"""Generate a synthetic warehouse of sightings with known editions and works, at any size.

The corpus imitates the three sites at scale, with every difficulty planted at a known rate:

| what | rate |
|---|---|
| an edition's detail page (title, URL, full abstract, year, pages, ISBN 30%) | every edition |
| listing cards of it (title, URL, teaser cut at 260 characters) | 1.0 per edition (Poisson) |
| the same node on the other site (another URL, same title and text) | 15% of editions |
| a bare teaser on a text listing (no title, no URL) | 30% of editions |
| ... of which reworded (15% of content words replaced) before trimming | 30% of those |
| a catalogue entry (title, full abstract, metadata, no URL) | 10% of editions |
| translations: a work with 2 or 3 language editions (en, fr, es) | 20% of works |
| ... whose detail pages link the other editions ("Also available in") | 50% of those |
| volumes: one work, three editions sharing one abstract, titles "... Volume k" | 3% of works |
| two works whose abstracts open with the same ten words | 2% of works |
| one ISBN printed on an unrelated edition | 0.5% of editions |
| an organisation named in unrelated abstracts (IOM/OIM, UNHCR) | 50% of abstracts |

Text is made of pseudo-words (a Zipf-distributed vocabulary per language, plus the real function
words, so language detection works), and each work carries its own language-independent
signals (two names, an acronym, a number) in every language edition. Ground truth goes to the
table `bench_truth(sighting_id, edition_key, work_key)`.

Those rates plant what the matcher looks for. `Noise` (off by default; `generate(..., noise=)`)
varies the same corpus the way real pages vary, whatever the matcher's rules: signals missing
from some editions, reworded copies, site chrome, country editions in one language. A noisy
corpus also has `bench_noise(sighting_id, noise)` (what was done to which sighting; chrome
sightings have negative edition and work keys, each its own) and `bench_signals(edition_key,
work_key, kind, value, kept)`. `python -m bench dedup_quality` measures the pass under it.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

import duckdb
import numpy as np
import pyarrow as pa

from pipeline.dedup.normalise import STOPWORDS

LANGS = ("en", "fr", "es")
ORGS = {
    "en": "the International Organization for Migration (IOM) and UNHCR",
    "fr": "l’Organisation internationale pour les migrations (OIM) et le UNHCR",
    "es": "la Organización Internacional para las Migraciones (OIM) y el UNHCR",
}
SITES = ("migrantprotection.iom.int", "returnandreintegration.iom.int", "publications.iom.int")
VOLUME_WORD = {"en": "Volume", "fr": "Volume", "es": "Volumen"}
SYLLABLES = [c + v for c in "bcdfgklmnprstvz" for v in "aeiou"] + ["tion", "ment", "ar", "er", "os", "ia"]


@dataclass(frozen=True)
class Rates:
    cards: float = 1.0
    other_site: float = 0.15
    bare_teaser: float = 0.30
    reworded: float = 0.30
    catalogue: float = 0.10
    translated: float = 0.20
    linked: float = 0.50
    volumes: float = 0.03
    same_opening: float = 0.02
    isbn: float = 0.30
    wrong_isbn: float = 0.005
    organisation: float = 0.50


@dataclass(frozen=True)
class Noise:
    """How real pages vary, independently of what the matcher looks for (all off by default).

    - `signal_drop`: each language-independent signal of a work (its two names, its acronym, its
      number, its year, its page count, its ISBN) is left out of an edition with this
      probability, independently per edition and per signal: one language edition names the
      project, the other does not; one page gives the page count, its translation does not.
    - `reword`: share of the content words (lowercase, not function words) replaced by other
      words in every copy of an edition made away from its own node: the copy on the other
      site, the bare teaser of a text listing, the catalogue entry. Listing cards of the node
      stay verbatim (a CMS prints them from the node).
    - `chrome`: share of pages carrying site chrome (the organisation's name in en/fr/es,
      'Introduction', 'Executive Summary', 'Download 1.55 MB', the disclaimer paragraph,
      navigation words): half of them gain a sighting whose abstract is chrome (no URL: a
      block the parser mistook for a publication), the other half get a chrome paragraph at
      the start of one of their abstracts (a teaser is trimmed again after it).
    - `country_editions`: share of single-language works published as 2-5 editions in that one
      language (country editions, '... – Colombia', '... – Peru'): the same abstract, distinct
      nodes and URLs, their own year, pages and ISBN, and a listing of them with identical
      teasers. Truth: distinct editions of one work.
    """

    signal_drop: float = 0.0
    reword: float = 0.0
    chrome: float = 0.0
    country_editions: float = 0.0

    def label(self) -> str:
        parts = [f"{k}={v:g}" for k, v in vars(self).items() if v]
        return ", ".join(parts) or "none"


#: signal kinds of a work, in the order of an edition's `signals` list, then its metadata
SIGNAL_KINDS = ("name", "name", "acronym", "number", "year", "page_count", "isbn")
COUNTRIES = (
    {"en": "Colombia", "fr": "Colombie", "es": "Colombia"},
    {"en": "Peru", "fr": "Pérou", "es": "Perú"},
    {"en": "Ecuador", "fr": "Équateur", "es": "Ecuador"},
    {"en": "Mexico", "fr": "Mexique", "es": "México"},
    {"en": "Morocco", "fr": "Maroc", "es": "Marruecos"},
    {"en": "Senegal", "fr": "Sénégal", "es": "Senegal"},
    {"en": "Ghana", "fr": "Ghana", "es": "Ghana"},
    {"en": "Guatemala", "fr": "Guatemala", "es": "Guatemala"},
    {"en": "Honduras", "fr": "Honduras", "es": "Honduras"},
    {"en": "Niger", "fr": "Niger", "es": "Níger"},
)
CHROME = {
    "organisation": {
        "en": "International Organization for Migration",
        "fr": "Organisation internationale pour les migrations",
        "es": "Organización Internacional para las Migraciones",
    },
    "introduction": {"en": "Introduction", "fr": "Introduction", "es": "Introducción"},
    "summary": {"en": "Executive Summary", "fr": "Résumé analytique", "es": "Resumen ejecutivo"},
    "download": {"en": "Download {size} MB", "fr": "Télécharger {size} Mo", "es": "Descargar {size} MB"},
    "disclaimer": {
        "en": "The opinions expressed in the report are those of the authors and do not necessarily reflect the "
        "views of the International Organization for Migration (IOM). The designations employed and the "
        "presentation of material throughout the report do not imply expression of any opinion whatsoever on "
        "the part of IOM concerning the legal status of any country, territory, city or area, or of its "
        "authorities, or concerning its frontiers or boundaries.",
        "fr": "Les opinions exprimées dans le rapport sont celles des auteurs et ne reflètent pas nécessairement "
        "celles de l’Organisation internationale pour les migrations (OIM). Les appellations employées dans le "
        "rapport et la présentation des données qui y figurent n’impliquent, de la part de l’OIM, aucune prise "
        "de position quant au statut juridique des pays, territoires, villes ou zones, ou de leurs autorités, "
        "ni quant au tracé de leurs frontières ou limites.",
        "es": "Las opiniones expresadas en el informe corresponden a los autores y no reflejan necesariamente las "
        "de la Organización Internacional para las Migraciones (OIM). Las denominaciones empleadas en el "
        "informe y la forma en que aparecen presentados los datos que contiene no implican juicio alguno por "
        "parte de la OIM sobre la condición jurídica de ninguno de los países, territorios, ciudades o zonas "
        "citados, o de sus autoridades, ni respecto del trazado de sus fronteras o límites.",
    },
    "navigation": {
        "en": "Home Publications Search Share Print Menu Contact us Follow us",
        "fr": "Accueil Publications Rechercher Partager Imprimer Menu Contactez-nous Suivez-nous",
        "es": "Inicio Publicaciones Buscar Compartir Imprimir Menú Contáctenos Síganos",
    },
}
#: file sizes printed by download buttons: one common to many pages, the others scattered
DOWNLOAD_SIZES = ("1.55", "1.55", "1.55", "0.87", "2.3", "4.12", "12.6")


def _vocabulary(rng: np.random.Generator, size: int, capital: bool = False) -> np.ndarray:
    lengths = rng.integers(2, 5, size=size)
    picks = rng.integers(0, len(SYLLABLES), size=(size, 4))
    words = ["".join(SYLLABLES[p] for p in row[:n]) for row, n in zip(picks, lengths, strict=True)]
    words = list(dict.fromkeys(words))
    if capital:
        words = [w.capitalize() for w in words]
    return np.array(words, dtype=object)


class Corpus:
    """Builds texts and rows; all randomness from one seeded generator."""

    def __init__(self, seed: int, vocab_size: int = 30_000) -> None:
        self.rng = np.random.default_rng(seed)
        self.vocab = {lang: _vocabulary(self.rng, vocab_size) for lang in LANGS}
        self.names = _vocabulary(self.rng, 60_000, capital=True)
        self.stop = {lang: np.array(sorted(STOPWORDS[lang]), dtype=object) for lang in LANGS}
        ranks = np.arange(1, vocab_size + 1, dtype=np.float64)
        weights = 1.0 / ranks**1.05
        self.cdf = np.cumsum(weights / weights.sum())

    def words(self, lang: str, n: int) -> list[str]:
        vocab = self.vocab[lang]
        content = vocab[np.minimum(np.searchsorted(self.cdf, self.rng.random(n)), len(vocab) - 1)]
        function = self.stop[lang][self.rng.integers(0, len(self.stop[lang]), n)]
        return np.where(self.rng.random(n) < 0.4, function, content).tolist()

    def abstract(self, lang: str, signals: list[str], organisation: bool) -> str:
        words = self.words(lang, int(self.rng.integers(60, 160)))
        for signal in signals:
            words.insert(int(self.rng.integers(3, len(words))), signal)
        if organisation:
            words.insert(int(self.rng.integers(3, len(words))), ORGS[lang])
        sentences, k = [], 0
        while k < len(words):
            step = int(self.rng.integers(10, 20))
            chunk = words[k : k + step]
            chunk[0] = chunk[0][:1].upper() + chunk[0][1:]
            sentences.append(" ".join(chunk) + ".")
            k += step
        return " ".join(sentences)

    def title(self, lang: str) -> str:
        words = [w for w in self.words(lang, 14) if w not in STOPWORDS[lang]][:6] or ["report"]
        return " ".join(w.capitalize() for w in words)

    def reword(self, text: str, lang: str, share: float = 0.15) -> str:
        words = text.split()
        for k in range(len(words)):
            if self.rng.random() < share and words[k].lower() not in STOPWORDS[lang]:
                words[k] = self.words(lang, 1)[0]
        return " ".join(words)


def trim(text: str, limit: int = 260) -> str:
    """Drupal's teaser trim: at a word boundary, trailing punctuation removed."""
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0]
    return cut.rstrip(",;:.")


def isbn13(rng: np.random.Generator) -> str:
    digits = [9, 7, 8, *rng.integers(0, 10, 9).tolist()]
    check = (10 - sum(d * (1 if k % 2 == 0 else 3) for k, d in enumerate(digits)) % 10) % 10
    return "".join(map(str, [*digits, check]))


def generate(
    n_sightings: int, seed: int = 1, rates: Rates | None = None, noise: Noise | None = None
) -> dict[str, pa.Table]:
    """Tables raw_pages, sightings, bench_truth for about n_sightings publication sightings.

    With `noise`, the same corpus (same seed, same draws) is then varied by `apply_noise` from a
    generator of its own, and two more tables describe what was done: `bench_noise` and
    `bench_signals`. Without it the output is exactly that of the generator before noise existed.
    """
    rates = rates or Rates()
    c = Corpus(seed)
    rng = c.rng
    per_edition = 1 + rates.cards + rates.other_site + rates.bare_teaser + rates.catalogue
    n_editions = max(int(n_sightings / per_edition), 10)

    # works and their editions
    editions: list[dict[str, object]] = []
    work = 0
    while len(editions) < n_editions:
        roll = rng.random()
        signals = [
            str(c.names[rng.integers(0, len(c.names))]),
            str(c.names[rng.integers(0, len(c.names))]),
            "".join(rng.choice(list("ABCDEFGHIKLMNPRSTU"), int(rng.integers(3, 6)))),
            str(int(rng.integers(10, 9999))),
        ]
        year = int(rng.integers(2005, 2025))
        pages = int(rng.integers(20, 400))
        organisation = bool(rng.random() < rates.organisation)
        if roll < rates.volumes:
            lang = str(rng.choice(LANGS))
            text, base = c.abstract(lang, signals, organisation), c.title(lang)
            for k in (1, 2, 3):
                editions.append(_edition(work, lang, f"{base} – {VOLUME_WORD[lang]} {k}", text, year, pages, []))
                editions[-1].update(signals=signals, volume=True)
            work += 1
            continue
        langs = [str(rng.choice(LANGS))]
        if roll < rates.volumes + rates.translated:
            langs = list(rng.permutation(LANGS)[: int(rng.integers(2, 4))])
        linked = bool(rng.random() < rates.linked) and len(langs) > 1
        group = []
        for lang in langs:
            text = c.abstract(lang, signals, organisation)
            if editions and rng.random() < rates.same_opening:
                other = str(editions[int(rng.integers(0, len(editions)))]["text"]).split()[:10]
                text = " ".join(other + text.split()[10:])
            ed = _edition(work, lang, c.title(lang), text, year + int(rng.random() < 0.3) * (lang != langs[0]),
                          int(pages * rng.uniform(0.95, 1.2)), [])  # fmt: skip
            ed["signals"] = signals
            group.append(ed)
        if linked:
            for ed in group:
                ed["links"] = [f"https://publications.iom.int/books/{o['slug']}" for o in group if o is not ed]
        editions.extend(group)
        work += 1

    isbns = [isbn13(rng) if rng.random() < rates.isbn else None for _ in editions]
    for k in range(len(editions)):
        if rng.random() < rates.wrong_isbn:
            isbns[k] = isbns[int(rng.integers(0, len(editions)))] or isbn13(rng)

    pages_rows: dict[str, list[object]] = {"page_id": [], "source": [], "url": [], "format": [], "label": []}
    s: dict[str, list[object]] = {
        k: []
        for k in (
            "sighting_id", "page_id", "position", "title", "abstract", "abstract_truncated", "year", "page_count",
            "isbn", "url", "canonical_url", "edition_links", "source", "edition_key", "work_key", "copy",
        )
    }  # fmt: skip

    def add_page(fmt: str, source: str, url: str | None, label: str) -> str:
        page_id = hashlib.sha256(label.encode()).hexdigest()[:16]
        pages_rows["page_id"].append(page_id)
        pages_rows["source"].append(source)
        pages_rows["url"].append(url)
        pages_rows["format"].append(fmt)
        pages_rows["label"].append(label)
        return page_id

    def add(page_id: str, position: int, source: str, ed: dict[str, object], k: int, **fields: object) -> None:
        s["sighting_id"].append(f"{page_id}:{position}")
        s["page_id"].append(page_id)
        s["position"].append(position)
        s["source"].append(source)
        s["edition_key"].append(k)
        s["work_key"].append(ed["work"])
        for name in ("title", "abstract", "abstract_truncated", "year", "page_count", "isbn", "url", "edition_links"):
            s[name].append(fields.get(name))
        s["canonical_url"].append(fields.get("url"))
        s["copy"].append(fields.get("copy"))

    cards: list[tuple[int, dict[str, object]]] = []
    bare: list[tuple[int, str]] = []
    catalogue: list[int] = []
    for k, ed in enumerate(editions):
        site = "publications.iom.int" if ed["links"] else SITES[k % 2]
        url = (
            f"https://publications.iom.int/books/{ed['slug']}"
            if ed["links"]
            else f"https://{site}/resources/manual/{ed['slug']}"
        )
        page_id = add_page("html-detail", site, url, f"detail-{k}")
        meta = {"year": ed["year"], "page_count": ed["pages"], "isbn": [isbns[k]] if isbns[k] else []}
        add(page_id, 1, site, ed, k, title=ed["title"], abstract=ed["text"], abstract_truncated=False, url=url,
            edition_links=ed["links"] or [], copy="detail", **meta)  # fmt: skip
        for _ in range(int(rng.poisson(rates.cards))):
            cards.append((k, {"title": ed["title"], "abstract": trim(str(ed["text"])), "url": url, "site": site}))
        if rng.random() < rates.other_site and not ed["links"]:
            other = SITES[1 - k % 2]
            url2 = f"https://{other}/resources/guideline/{ed['slug']}"
            page2 = add_page("html-detail", other, url2, f"detail2-{k}")
            add(page2, 1, other, ed, k, title=ed["title"], abstract=ed["text"], abstract_truncated=False, url=url2,
                year=ed["year"], copy="other_site")  # fmt: skip
        if rng.random() < rates.bare_teaser:
            text = str(ed["text"])
            if rng.random() < rates.reworded:
                text = c.reword(text, str(ed["lang"]))
            bare.append((k, trim(text)))
        if rng.random() < rates.catalogue:
            catalogue.append(k)

    order = rng.permutation(len(cards))
    for start in range(0, len(order), 20):
        chunk = [cards[int(i)] for i in order[start : start + 20]]
        site = str(chunk[0][1]["site"])
        page_id = add_page("html-listing", site, f"https://{site}/resources/list-{start // 20}", f"list-{start}")
        for position, (k, card) in enumerate(chunk, start=1):
            add(page_id, position, site, editions[k], k, title=card["title"], abstract=card["abstract"],
                abstract_truncated=True, url=card["url"], copy="card")  # fmt: skip
    order = rng.permutation(len(bare))
    for start in range(0, len(order), 20):
        page_id = add_page("text-listing", SITES[1], f"https://{SITES[1]}/dump-{start // 20}", f"dump-{start}")
        for position, i in enumerate(order[start : start + 20], start=1):
            k, text = bare[int(i)]
            add(page_id, position, SITES[1], editions[k], k, abstract=text, abstract_truncated=True, copy="bare")
    for start in range(0, len(catalogue), 20):
        page_id = add_page("text-catalogue", SITES[2], None, f"catalogue-{start}")
        for position, k in enumerate(catalogue[start : start + 20], start=1):
            ed = editions[k]
            add(page_id, position, SITES[2], ed, k, title=ed["title"], abstract=ed["text"], abstract_truncated=False,
                year=ed["year"], page_count=ed["pages"], isbn=[isbns[k]] if isbns[k] else [],
                copy="catalogue")  # fmt: skip

    extra: dict[str, pa.Table] = {}
    if noise is not None:
        extra = apply_noise(noise, c, seed, rates, editions, isbns, s, add_page, add)

    n = len(s["sighting_id"])
    sightings = pa.table(
        {
            "sighting_id": s["sighting_id"],
            "page_id": s["page_id"],
            "run_id": [1] * n,
            "source": s["source"],
            "position": s["position"],
            "kind": ["publication"] * n,
            "title": s["title"],
            "abstract": s["abstract"],
            "abstract_truncated": s["abstract_truncated"],
            "year": s["year"],
            "page_count": s["page_count"],
            "isbn": pa.array([v or [] for v in s["isbn"]], pa.list_(pa.string())),
            "url": s["url"],
            "canonical_url": s["canonical_url"],
            "edition_links": pa.array([v or [] for v in s["edition_links"]], pa.list_(pa.string())),
        }
    )
    truth = pa.table(
        {
            "sighting_id": s["sighting_id"],
            "edition_key": pa.array(s["edition_key"], pa.int64()),
            "work_key": pa.array(s["work_key"], pa.int64()),
        }
    )
    return {"raw_pages": pa.table(pages_rows), "sightings": sightings, "bench_truth": truth, **extra}


def apply_noise(
    noise: Noise,
    c: Corpus,
    seed: int,
    rates: Rates,
    editions: list[dict[str, object]],
    isbns: list[str | None],
    s: dict[str, list[object]],
    add_page,  # type: ignore[no-untyped-def]
    add,  # type: ignore[no-untyped-def]
) -> dict[str, pa.Table]:
    """Vary the generated sightings (in place) as `noise` says; return bench_noise and bench_signals.

    Draws come from a generator of their own (seeded from `seed`), so every noise setting varies
    the same underlying corpus, and a setting of zero changes nothing.
    """
    rng = np.random.default_rng([seed, 0x6E6F697365])
    marks: list[tuple[str, str]] = []

    def rows_of(key: int) -> list[int]:
        return by_edition.get(key, [])

    # country editions: several editions of one work in one language
    by_edition: dict[int, list[int]] = {}
    for i, key in enumerate(s["edition_key"]):
        by_edition.setdefault(int(key), []).append(i)  # type: ignore[arg-type]
    editions_of_work: dict[int, int] = {}
    for ed in editions:
        editions_of_work[int(ed["work"])] = editions_of_work.get(int(ed["work"]), 0) + 1  # type: ignore[arg-type]
    n_base = len(editions)
    for k in range(n_base):
        ed = editions[k]
        if ed.get("volume") or editions_of_work[int(ed["work"])] != 1:  # type: ignore[arg-type]
            continue
        if not rng.random() < noise.country_editions:
            continue
        lang, base = str(ed["lang"]), str(ed["title"])
        countries = rng.permutation(len(COUNTRIES))[: int(rng.integers(2, 6))]
        group: list[int] = []
        for j, country in enumerate(countries):
            name = COUNTRIES[int(country)][lang]
            title = f"{base} – {name}"
            if j == 0:  # the existing edition becomes the first country
                ed["title"] = title
                for i in rows_of(k):
                    if s["title"][i] is not None:
                        s["title"][i] = title
                group.append(k)
                continue
            key = len(editions)
            slug = f"{ed['slug']}-{COUNTRIES[int(country)]['en'].lower()}"
            new = {**ed, "title": title, "slug": slug, "links": [],
                   "year": int(ed["year"]) + int(rng.random() < 0.3),  # type: ignore[call-overload]
                   "pages": max(8, int(int(ed["pages"]) * rng.uniform(0.6, 1.5)))}  # type: ignore[call-overload]  # fmt: skip
            editions.append(new)
            isbns.append(isbn13(rng) if rng.random() < rates.isbn else None)
            url = f"https://publications.iom.int/books/{slug}"
            page_id = add_page("html-detail", "publications.iom.int", url, f"detail-country-{key}")
            add(page_id, 1, "publications.iom.int", new, key, title=title, abstract=new["text"],
                abstract_truncated=False, url=url, year=new["year"], page_count=new["pages"],
                isbn=[isbns[key]] if isbns[key] else [], copy="country_detail")  # fmt: skip
            by_edition[key] = [len(s["sighting_id"]) - 1]
            group.append(key)
        site = "publications.iom.int"
        page_id = add_page("html-listing", site, f"https://{site}/series/{ed['slug']}", f"country-list-{k}")
        for position, key in enumerate(group, start=1):
            e = editions[key]
            url = f"https://{site}/books/{e['slug']}" if key != k else str(s["url"][rows_of(k)[0]])
            add(page_id, position, site, e, key, title=e["title"], abstract=trim(str(e["text"])),
                abstract_truncated=True, url=url, copy="country_card")  # fmt: skip
            by_edition[key].append(len(s["sighting_id"]) - 1)
        for key in group:
            marks.extend((str(s["sighting_id"][i]), "country_edition") for i in by_edition[key])

    # signal drop: each signal of each edition independently
    sig_rows: dict[str, list[object]] = {k: [] for k in ("edition_key", "work_key", "kind", "value", "kept")}
    for k, ed in enumerate(editions):
        values = [*map(str, ed["signals"]), str(ed["year"]), str(ed["pages"]), isbns[k]]  # type: ignore[call-overload]
        dropped = rng.random(len(SIGNAL_KINDS)) < noise.signal_drop
        for kind, value, drop in zip(SIGNAL_KINDS, values, dropped, strict=True):
            if value is None:
                continue
            sig_rows["edition_key"].append(k)
            sig_rows["work_key"].append(ed["work"])
            sig_rows["kind"].append(kind)
            sig_rows["value"].append(value)
            sig_rows["kept"].append(not drop)
        if not dropped.any():
            continue
        words = [v for v, d in zip(values[:4], dropped[:4], strict=True) if d]
        for i in rows_of(k):
            if words:
                s["abstract"][i] = _remove_words(str(s["abstract"][i]), words)
                if s["title"][i] is not None:
                    s["title"][i] = _remove_words(str(s["title"][i]), words)
            if dropped[4]:
                s["year"][i] = None
            if dropped[5]:
                s["page_count"][i] = None
            if dropped[6]:
                s["isbn"][i] = []
        marks.extend((str(s["sighting_id"][i]), "signals_dropped") for i in rows_of(k))

    # rewording of the copies made away from the edition's node
    if noise.reword > 0:
        for i, copy in enumerate(s["copy"]):
            if copy in ("other_site", "bare", "catalogue"):
                lang = str(editions[int(s["edition_key"][i])]["lang"])  # type: ignore[call-overload]
                s["abstract"][i] = _reword(c, rng, str(s["abstract"][i]), lang, noise.reword)
                marks.append((str(s["sighting_id"][i]), "reworded"))

    # site chrome: as sightings of their own, or as a paragraph opening an unrelated abstract
    if noise.chrome > 0:
        page_rows: dict[str, list[int]] = {}
        for i, page in enumerate(s["page_id"]):
            page_rows.setdefault(str(page), []).append(i)
        n_chrome = 0
        for page, rows in page_rows.items():
            if not rng.random() < noise.chrome:
                continue
            kind = str(rng.choice(list(CHROME)))
            if rng.random() < 0.5:
                i = rows[int(rng.integers(0, len(rows)))]
                lang = str(editions[int(s["edition_key"][i])]["lang"])  # type: ignore[call-overload]
                text = f"{_chrome_text(rng, kind, lang)} {s['abstract'][i]}"
                s["abstract"][i] = trim(text) if s["abstract_truncated"][i] else text
                marks.append((str(s["sighting_id"][i]), "chrome_prefix"))
                continue
            n_chrome += 1
            lang = str(rng.choice(LANGS))
            title = _chrome_text(rng, str(rng.choice(["introduction", "summary", "organisation"])), lang)
            position = max(int(s["position"][r]) for r in rows) + 1  # type: ignore[call-overload]
            add(page, position, str(s["source"][rows[0]]), {"work": -n_chrome}, -n_chrome,
                title=title if rng.random() < 0.5 else None, abstract=_chrome_text(rng, kind, lang),
                abstract_truncated=False, copy="chrome")  # fmt: skip
            marks.append((str(s["sighting_id"][-1]), "chrome"))

    return {
        "bench_noise": pa.table(
            {"sighting_id": [m[0] for m in marks], "noise": [m[1] for m in marks]},
            schema=pa.schema([("sighting_id", pa.string()), ("noise", pa.string())]),
        ),
        "bench_signals": pa.table(
            {
                "edition_key": pa.array(sig_rows["edition_key"], pa.int64()),
                "work_key": pa.array(sig_rows["work_key"], pa.int64()),
                "kind": pa.array(sig_rows["kind"], pa.string()),
                "value": pa.array(sig_rows["value"], pa.string()),
                "kept": pa.array(sig_rows["kept"], pa.bool_()),
            }
        ),
    }


def _remove_words(text: str, words: list[str]) -> str:
    """The text without these whole tokens (a signal left out of this edition)."""
    for word in words:
        text = re.sub(rf"(?<![\w-]){re.escape(word)}(?![\w-])", "", text)
    text = re.sub(r"\s+([.,;:])", r"\1", text)
    return re.sub(r"\s{2,}", " ", text).strip()


def _reword(c: Corpus, rng: np.random.Generator, text: str, lang: str, share: float) -> str:
    """Replace this share of the content words (lowercase, not function words) with other words."""
    tokens = text.split(" ")
    hits = np.flatnonzero(rng.random(len(tokens)) < share)
    if not len(hits):
        return text
    vocab = c.vocab[lang]
    picks = vocab[np.minimum(np.searchsorted(c.cdf, rng.random(len(hits))), len(vocab) - 1)]
    for k, word in zip(hits.tolist(), picks.tolist(), strict=True):
        core = tokens[k].rstrip(".,;:")
        if core.isalpha() and core.islower() and core not in STOPWORDS[lang]:
            tokens[k] = word + tokens[k][len(core) :]
    return " ".join(tokens)


def _chrome_text(rng: np.random.Generator, kind: str, lang: str) -> str:
    return CHROME[kind][lang].format(size=DOWNLOAD_SIZES[int(rng.integers(0, len(DOWNLOAD_SIZES)))])


def _edition(work: int, lang: str, title: str, text: str, year: int, pages: int, links: list[str]) -> dict[str, object]:
    slug = "-".join(title.lower().replace("–", " ").split())[:90] + f"-{work}-{lang}"
    return {"work": work, "lang": lang, "title": title, "text": text, "year": year, "pages": pages,
            "links": links, "slug": slug}  # fmt: skip


def write(con: duckdb.DuckDBPyConnection, tables: dict[str, pa.Table]) -> None:
    """Insert the generated tables into a migrated warehouse (bulk, through Arrow)."""
    con.execute("INSERT INTO runs (run_id, started_at, status) VALUES (1, now(), 'ok')")
    con.register("gen_pages", tables["raw_pages"])
    con.register("gen_sightings", tables["sightings"])
    con.register("gen_truth", tables["bench_truth"])
    extra = [name for name in ("bench_noise", "bench_signals") if name in tables]
    for name in extra:
        con.register(f"gen_{name}", tables[name])
    try:
        for name in extra:
            con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM gen_{name}")
        con.execute(
            "INSERT INTO raw_pages BY NAME SELECT *, sha256(page_id) AS sha256, now() AS retrieved_at, "
            "0 AS size_bytes, 1 AS first_run_id, 'parsed' AS parse_status FROM gen_pages"
        )
        con.execute("INSERT INTO sightings BY NAME SELECT * FROM gen_sightings")
        con.execute("CREATE OR REPLACE TABLE bench_truth AS SELECT * FROM gen_truth")
    finally:
        for name in ("gen_pages", "gen_sightings", "gen_truth", *(f"gen_{e}" for e in extra)):
            con.unregister(name)
