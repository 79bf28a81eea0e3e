"""HTML parsers: pages rendered by the replica (ground truth from its dataset) and hand-written
snippets of realistic Drupal markup, metadata blocks, redesigned markup and broken bodies."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from parsers import PARSERS, html_detail, html_listing
from parsers.base import ParseError
from pipeline.models import SightingRecord
from tests.replica import Fault, Replica
from tests.replica.render import teaser

MP = "migrantprotection.iom.int"
RR = "returnandreintegration.iom.int"
PUB = "publications.iom.int"


@pytest.fixture(scope="module")
def replica() -> Iterator[Replica]:
    with Replica(page_size=10) as rep:
        yield rep


@pytest.fixture(scope="module")
def fetch(replica: Replica) -> Iterator[Any]:
    with httpx.Client(timeout=5.0) as client:

        def get(url: str) -> bytes:
            response = client.get(url)
            assert response.status_code == 200, url
            return response.content

        yield get


def flat(text: str | None) -> str:
    return " ".join((text or "").split())


def prose(text: str) -> str:
    """The words of a text, paragraph breaks and bullet marks aside."""
    return flat(re.sub(r"(?m)^- ", "", text))


def validated(record: dict[str, Any]) -> SightingRecord:
    return SightingRecord.model_validate({"sighting_id": "p:1", "page_id": "p", **record})


# --- listings rendered by the replica ------------------------------------------------------------


def test_both_formats_are_registered() -> None:
    assert PARSERS["html-listing"] is html_listing.parse
    assert PARSERS["html-detail"] is html_detail.parse


def test_every_replica_listing_page_yields_its_cards(replica: Replica, fetch: Any) -> None:
    items = {i["id"]: i for i in replica.items}
    cards_by_page: dict[str, list[dict[str, Any]]] = {}
    for card in replica.expected_cards():
        cards_by_page.setdefault(card["listing_url"], []).append(card)
    assert set(cards_by_page) == replica.expected_listing_urls()
    for listing_url, expected in cards_by_page.items():
        page = html_listing.parse(fetch(listing_url), listing_url)
        assert page.page_info["layout"] == "structured"
        assert page.page_info["cards"] == len(expected) == len(page.records)
        assert not page.problems
        for record, card in zip(page.records, expected, strict=True):
            item = items[card["item_id"]]
            assert (record["position"], record["url"], record["title"]) == (
                card["position"],
                card["url"],
                item["title"],
            )
            shown = teaser(item, 400 if card["site"] == PUB else 260)
            assert record["abstract_truncated"] == shown.endswith("...")
            assert record["abstract"] == shown.removesuffix("...")
            assert record.get("year") == item["year"]
            assert record["kind"] == item["kind"]
            if item["types"]:
                assert record["extra"]["type"] == ", ".join(item["types"])
            validated(record)


def test_pager_next_and_last_on_replica_listings(replica: Replica, fetch: Any) -> None:
    for site, section in ((RR, "/en/resources/guideline"), (PUB, "/search-books"), (MP, "/en/resources/manual")):
        urls = sorted(u for u in replica.expected_listing_urls(site) if u.split("?")[0].endswith(section))
        last = len(urls) - 1
        assert last >= 2
        for n in range(last + 1):
            url = replica.sites[site] + section + (f"?page={n}" if n else "")
            pager = html_listing.parse(fetch(url), url).page_info["pager"]
            assert pager["next"] == (replica.sites[site] + section + f"?page={n + 1}" if n < last else None)
            assert pager["last_page"] == last


def test_news_card_is_kind_news_with_its_caption(replica: Replica, fetch: Any) -> None:
    url = replica.sites[MP] + "/en/regional-designations/global"
    news = [r for r in html_listing.parse(fetch(url), url).records if r["kind"] == "news"]
    assert [r["title"] for r in news] == ["IOM Launches Return Counselling Toolkit"]
    assert news[0]["extra"]["caption"].endswith("| © Alissa Everett 2022")
    assert news[0]["abstract_truncated"] is False


def test_empty_listing_page_returns_no_cards_without_raising(replica: Replica, fetch: Any) -> None:
    url = replica.sites[RR] + "/en/resources/guideline?page=99"
    page = html_listing.parse(fetch(url), url)
    assert page.records == [] and page.page_info["cards"] == 0
    assert page.page_info["pager"]["next"] is None


def test_changed_listing_markup_falls_back_to_visible_text(replica: Replica, fetch: Any) -> None:
    urls = [replica.sites[MP] + "/en/regional-designations/global", replica.sites[MP] + "/en/resources/manual?page=1"]
    structured = {u: html_listing.parse(fetch(u), u) for u in urls}
    replica.add_fault(Fault.markup_changed("/en/(regional|resources/manual)"))
    try:
        changed = {u: html_listing.parse(fetch(u), u) for u in urls}
    finally:
        replica.clear_faults()
    for url in urls:
        before, after = structured[url], changed[url]
        assert before.page_info["layout"] == "structured"
        assert after.page_info["layout"] == "fallback-text"
        assert after.page_info["cards"] == before.page_info["cards"]
        assert after.page_info["pager"] == before.page_info["pager"]
        cards = [r for r in after.records if r["kind"] != "caption"]
        keys = ("title", "url", "abstract", "abstract_truncated", "kind", "year")
        assert [{k: r.get(k) for k in keys} for r in cards] == [{k: r.get(k) for k in keys} for r in before.records]
        assert all("layout:fallback-text" in r["quality_flags"] for r in after.records)
    captions = [r for r in changed[urls[0]].records if r["kind"] == "caption"]
    assert len(captions) == 1 and "©" in captions[0]["abstract"]


# --- detail pages rendered by the replica --------------------------------------------------------


def test_every_replica_detail_page_yields_its_item(replica: Replica, fetch: Any) -> None:
    checked = 0
    for item in replica.items:
        for site in item["sites"]:
            url = replica.item_url(item["id"], site)
            page = html_detail.parse(fetch(url), url)
            assert page.page_info["layout"] == "structured", url
            [record] = page.records
            assert record["position"] == 1 and record["url"] == url
            assert record["kind"] == item["kind"]
            assert record["title"] == item["title"]
            assert prose(record["abstract"]) == prose(item["abstract"])
            assert record["abstract_truncated"] is False
            sighting = validated(record)
            assert sighting.text_language == (item["text_language"] if _declares_language(site, item) else None), url
            assert not [f for f in sighting.quality_flags if f.startswith("not_a_language")], url
            if item["kind"] == "publication":
                assert record.get("year") == item["year"], url
                files = {replica.sites[site] + f for f in _pdf_paths(site, item)}
                assert set(record["pdf_urls"]) == files
            if site == PUB:
                assert record.get("page_count") == item["page_count"]
                assert [re.sub(r"\D", "", i) for i in record.get("isbn", [])] == [
                    re.sub(r"\D", "", i) for i in item["isbn"]
                ]
                editions = {replica.item_url(e["id"], PUB) for e in _editions(replica, item)}
                assert set(record.get("edition_links", [])) == editions, url
            else:
                assert record.get("edition_links", []) == []  # /en /es /fr alternates are the same node
            checked += 1
    assert checked >= 140


def _declares_language(site: str, item: dict[str, Any]) -> bool:
    """The bookstore prints "Original Language" (sometimes empty); metadata says `inLanguage`."""
    printed = site == PUB and "Original Language" not in item.get("empty_labels", [])
    return printed or bool({"jsonld", "dc", "citation"} & set(item["metadata"]))


def _pdf_paths(site: str, item: dict[str, Any]) -> list[str]:
    directory = {
        MP: "/sites/g/files/tmzbdl341/files/documents/",
        RR: "/sites/g/files/tmzbdl2031/files/documents/",
        PUB: "/system/files/pdf/",
    }[site]
    return [directory + p["file"] for p in item["pdfs"]]


def _editions(replica: Replica, item: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        other
        for other in replica.items
        if other["work_key"] == item["work_key"]
        and other["edition_key"] != item["edition_key"]
        and PUB in other["sites"]
    ]


def test_detail_fields_per_site_markup(replica: Replica, fetch: Any) -> None:
    kb = replica.item_url("hw-knowledge-bite-1", RR)
    [rr] = html_detail.parse(fetch(kb), kb).records
    assert rr["extra"]["type"] == "KMH Knowledge Bite Series, Report"
    assert rr["extra"]["series"] == "Sustainable Reintegration Knowledge Bites Series"
    assert rr["extra"]["region"].startswith("Asia and the Pacific, East Africa")
    assert rr["languages"] == ["ENGLISH", "FRANÇAIS"]

    fr = replica.sites[RR] + "/fr" + replica.item("hw-knowledge-bite-1")["sites"][RR]["path"].removeprefix("/en")
    [rr_fr] = html_detail.parse(fetch(fr), fr).records
    assert rr_fr["year"] == 2020  # label "Année"
    assert rr_fr["extra"]["organisation"] == "Organisation Internationale pour les Migrations"

    horn = replica.item_url("hw-horn-of-africa-evidence", MP)
    [mp] = html_detail.parse(fetch(horn), horn).records
    assert mp["extra"]["countries"] == "Djibouti, Ethiopia, Somalia, Sudan"
    assert mp["languages"] == ["English", "Français"]  # "Key Findings - English", "Résultats clés - Français"

    psy = replica.item_url("hw-psychosocial-counselling-pub")
    [pub] = html_detail.parse(fetch(psy), psy).records
    assert (pub["page_count"], pub["text_language"], pub["extra"]["reference_number"]) == (
        34,
        "English",
        "PUB2020/035/R",
    )
    assert pub["extra"]["date_of_upload"] == "11 Jun 2020"

    toolkit = replica.item_url("hw-return-counselling-toolkit-pub")
    [empty] = html_detail.parse(fetch(toolkit), toolkit).records
    assert "page_count" not in empty and "text_language" not in empty  # labels printed without values

    mpp = replica.item_url("hw-mpp-ix-1")
    [journal] = html_detail.parse(fetch(mpp), mpp).records
    assert journal["extra"]["issn"] == "2223-5248"
    assert journal["extra"]["subtitle"] == "Special Issue on Return and Reintegration"


def test_bookstore_interface_prefix_is_not_an_edition(replica: Replica, fetch: Any) -> None:
    en = replica.item_url("hw-wmr-2022-en")
    es_interface = en.replace("/books/", "/es/books/")
    [record] = html_detail.parse(fetch(es_interface), es_interface).records
    assert record["url"] == es_interface
    assert set(record["edition_links"]) == {
        replica.item_url("hw-wmr-2022-fr"),
        replica.item_url("hw-wmr-2022-es"),
    }
    assert not any(link.endswith("/books/world-migration-report-2022") for link in record["edition_links"])
    assert record["isbn"] == ["978-92-9268-078-7"] and record["eisbn"] == ["978-92-9268-076-3"]


def test_changed_detail_markup_falls_back_to_visible_text(replica: Replica, fetch: Any) -> None:
    url = replica.item_url("004-07-reintegration-handbook-practical-guidanc")
    [before] = html_detail.parse(fetch(url), url).records
    replica.add_fault(Fault.markup_changed("/books/reintegration-handbook"))
    try:
        page = html_detail.parse(fetch(url), url)
    finally:
        replica.clear_faults()
    assert page.page_info["layout"] == "fallback-text"
    [after] = page.records
    for key in ("title", "year", "page_count", "isbn", "text_language", "pdf_urls"):
        assert after[key] == before[key], key
    assert flat(after["abstract"]) == flat(before["abstract"])
    assert "layout:fallback-text" in after["quality_flags"]


# --- hand-written snippets: listings ---------------------------------------------------------------

D8_LISTING = """<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Manual | MP</title></head>
<body><a href="#main-content" class="visually-hidden focusable">Skip to main content</a>
<header><nav><ul><li><a href="/en/resources/guideline">Guideline</a></li></ul></nav>
<a href="/search/node?keys=">Search</a></header>
<main role="main" id="main-content"><h1>Manual</h1>
<div class="view view-resources"><div class="view-content">
 <div class="views-row"><article class="node node--type-resource node--view-mode-teaser">
  <h3 class="node__title"><a href="/en/resources/manual/readmit-training-manual-readmission">READMIT Training
   Manual</a></h3>
  <div class="field field--name-field-resource-type field--label-hidden field__items">
   <div class="field__item">Manual</div><div class="field__item">Toolkit</div></div>
  <div class="field field--name-field-year field--label-hidden field__item">2014</div>
  <div class="field field--name-field-organization field--label-hidden field__item">IOM</div>
  <div class="field field--name-body field--label-hidden field__item"><p>The READMIT Training Manual on
   Readmission is designed to provide a toolkit for practitioners who face the challenge of improving the
   capacity of their country to manage migration. The Manual explores theoretical issues of readmission,
   focusing on...</p></div></article></div>
 <div class="views-row"><article class="node node--type-article node--view-mode-teaser">
  <h3 class="node__title"><a href="/en/spotlight/articles/article/ctdc">Counter Trafficking Data Collaborative</a></h3>
  <figure><img src="/x.jpg" alt=""><figcaption>Migrants in a transit centre | © IOM 2022</figcaption></figure>
  <div class="field field--name-body field__item"><p>The CTDC is the first global data hub on human
   trafficking, with data contributed by organizations from around the world.</p></div></article></div>
 <div class="views-row"><article class="node node--type-resource node--view-mode-teaser">
  <h3 class="node__title"><a href="https://migrantprotection.iom.int/en/resources/guideline/protocol">Protocol</a></h3>
  <div class="field field--name-body field__item"><p>Adopted in November 2000, this Protocol entered into
   force in December 2003.</p></div></article></div>
</div>
<nav class="pager" role="navigation"><ul class="pager__items js-pager__items">
 <li class="pager__item pager__item--first"><a href="?page=0" title="Go to first page">« First</a></li>
 <li class="pager__item pager__item--previous"><a href="?page=1" rel="prev">‹‹</a></li>
 <li class="pager__item"><a href="?page=1">2</a></li>
 <li class="pager__item is-active"><a href="?page=2" aria-current="page">3</a></li>
 <li class="pager__item"><a href="?page=3">4</a></li>
 <li class="pager__item pager__item--next"><a href="?page=3" rel="next">
   <span class="visually-hidden">Next page</span>››</a></li>
 <li class="pager__item pager__item--last"><a href="?page=8">
   <span class="visually-hidden">Last page</span>Last »</a></li>
</ul></nav></div></main><footer><p>© IOM</p></footer></body></html>"""


def test_drupal8_listing_snippet() -> None:
    url = "https://migrantprotection.iom.int/en/resources/manual?page=2"
    page = html_listing.parse(D8_LISTING.encode(), url)
    assert page.page_info["layout"] == "structured" and page.page_info["cards"] == 3
    assert page.page_info["heading"] == "Manual"
    assert page.page_info["pager"] == {
        "next": "https://migrantprotection.iom.int/en/resources/manual?page=3",
        "last_page": 8,
    }
    first, news, short = page.records
    assert first["url"] == "https://migrantprotection.iom.int/en/resources/manual/readmit-training-manual-readmission"
    assert first["abstract"].endswith("readmission, focusing on") and first["abstract_truncated"] is True
    assert (first["year"], first["extra"]["type"], first["extra"]["organisation"]) == (2014, "Manual, Toolkit", "IOM")
    assert news["kind"] == "news" and news["extra"]["caption"] == "Migrants in a transit centre | © IOM 2022"
    assert short["abstract"] == "Adopted in November 2000, this Protocol entered into force in December 2003."
    assert short["abstract_truncated"] is False and short["kind"] == "publication"


def test_drupal7_pager_on_the_last_page_and_a_mini_pager() -> None:
    last = """<html><body><div class="view"><div class="view-content">
    <div class="views-row"><div class="views-field views-field-title"><span class="field-content">
    <a href="/books/glossary">Glossary on Migration</a></span></div>
    <div class="views-field views-field-field-year-of-publication">
    <span class="views-label">Year of Publication: </span>
    <span class="field-content">2019</span></div>
    <div class="views-field views-field-body"><div class="field-content">The glossary aims to promote a common
    understanding of terms... <a href="/books/glossary">Read more</a></div></div></div>
    <div class="views-row"><div class="views-field views-field-title"><span class="field-content">
    <a href="/books/short">Short</a></span></div><div class="views-field views-field-body"><div class="field-content">
    A whole abstract. <a href="/books/short">Read more</a></div></div></div></div>
    <div class="item-list"><ul class="pager"><li class="pager-first first"><a href="/search-books">« first</a></li>
    <li class="pager-previous"><a href="/search-books?page=2">‹ previous</a></li>
    <li class="pager-item"><a href="/search-books">1</a></li><li class="pager-current last">4</li></ul></div>
    </div></body></html>"""
    page = html_listing.parse(last.encode(), "https://publications.iom.int/search-books?page=3")
    assert page.page_info["pager"] == {"next": None, "last_page": 3}
    record, short = page.records
    assert (short["abstract"], short["abstract_truncated"]) == ("A whole abstract.", False)
    assert record["year"] == 2019 and record["extra"]["year"] == "2019"
    assert record["abstract"] == "The glossary aims to promote a common understanding of terms"
    assert record["abstract_truncated"] is True

    mini = """<html><body><div class="views-row"><h2><a href="/en/node/1">A</a></h2><p>One teaser here.</p></div>
    <nav class="pager"><ul class="js-pager__items"><li class="pager__item"><a href="?page=1" rel="next">Next ›</a>
    </li></ul></nav></body></html>"""
    pager = html_listing.parse(mini.encode(), "https://example.org/en/list").page_info["pager"]
    assert pager == {"next": "https://example.org/en/list?page=1", "last_page": None}


def test_listing_without_cards_is_empty_not_an_error() -> None:
    body = b"""<html><body><main><h1>Guideline</h1><div class="view"><div class="view-empty">No results found.
    </div></div></main></body></html>"""
    page = html_listing.parse(body, "https://returnandreintegration.iom.int/en/resources/guideline?page=9")
    assert page.records == [] and page.page_info["cards"] == 0
    assert page.page_info["pager"] == {"next": None, "last_page": None}


def test_text_like_listing_falls_back_to_the_text_dump_rules() -> None:
    body = """<html><body><a href="#main">Skip to main content</a><div id="content">
    <p>Guideline</p>
    <p>These present guiding principles are intended for use by state authorities and civil society bodies, as
    well as inter-governmental organizations in the OSCE region involved in developing, applying...</p>
    <p>Third country nationals await onward transportation in a transit centre | © Alissa Everett 2022</p>
    <p>The Return Counselling Toolkit builds upon IOM standards and the Organization’s longstanding experience.</p>
    <p>Adopted in November 2000, this Protocol entered into force in December 2003.</p>
    </div></body></html>""".encode()
    page = html_listing.parse(body, None)
    assert page.page_info["layout"] == "fallback-text"
    assert [r["kind"] for r in page.records] == ["publication", "caption", "news", "publication"]
    assert [r["abstract_truncated"] for r in page.records] == [True, False, False, False]
    assert page.records[0]["abstract"].endswith("developing, applying")
    assert page.page_info["cards"] == 3


# --- hand-written snippets: detail pages and embedded metadata ---------------------------------------


def _page(head: str, body: str = "") -> bytes:
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">{head}</head><body>{body}</body></html>'.encode()
    )


def test_json_ld_metadata() -> None:
    ld = {
        "@context": "https://schema.org",
        "@graph": [
            {"@type": "WebPage", "name": "Page"},
            {
                "@type": "Book",
                "name": "Reintegration Handbook",
                "description": "This Handbook aims to provide practical guidance.",
                "inLanguage": "en",
                "datePublished": "2019-06-01",
                "numberOfPages": "304",
                "isbn": "978-92-9068-811-2",
                "publisher": {"@type": "Organization", "name": "IOM"},
                "workTranslation": [{"@id": "https://publications.iom.int/books/manuel-sur-la-reintegration"}],
                "encoding": {"@type": "MediaObject", "contentUrl": "/system/files/pdf/handbook.pdf"},
            },
        ],
    }
    head = f'<script type="application/ld+json">{json.dumps(ld)}</script>'
    [record] = html_detail.parse(_page(head), "https://publications.iom.int/books/reintegration-handbook").records
    assert record["title"] == "Reintegration Handbook"
    assert record["abstract"] == "This Handbook aims to provide practical guidance."
    assert (record["year"], record["page_count"], record["isbn"]) == (2019, 304, ["978-92-9068-811-2"])
    assert record["text_language"] == "en" and record["extra"]["publisher"] == "IOM"
    assert record["pdf_urls"] == ["https://publications.iom.int/system/files/pdf/handbook.pdf"]
    assert record["edition_links"] == ["https://publications.iom.int/books/manuel-sur-la-reintegration"]


def test_dublin_core_metadata() -> None:
    head = """<meta name="DC.title" content="Manuel sur la réintégration"><meta name="DC.date" content="2019-05-01">
    <meta name="DC.identifier" content="ISBN 978-92-9068-812-9"><meta name="DC.identifier" content="PUB2019/1">
    <meta name="DC.language" content="fr"><meta name="DC.description" content="Ce manuel vise à fournir des conseils.">
    <meta name="DC.publisher" content="OIM"><meta name="DC.type" content="Manual">"""
    [record] = html_detail.parse(_page(head), "https://publications.iom.int/books/manuel").records
    assert (record["title"], record["year"], record["isbn"]) == (
        "Manuel sur la réintégration",
        2019,
        ["978-92-9068-812-9"],
    )
    assert record["text_language"] == "fr" and record["abstract"] == "Ce manuel vise à fournir des conseils."
    assert record["extra"]["type"] == "Manual" and record["extra"]["organisation"] == "OIM"


def test_citation_metadata() -> None:
    head = """<meta name="citation_title" content="Glossary on Migration">
    <meta name="citation_publication_date" content="2019/06/18"><meta name="citation_isbn" content="978-92-9068-742-9">
    <meta name="citation_pdf_url" content="/system/files/pdf/iml_34_glossary.pdf">
    <meta name="citation_language" content="en"><meta name="citation_publisher" content="IOM">"""
    [record] = html_detail.parse(_page(head, "<h1>Other heading</h1>"), "https://publications.iom.int/books/g").records
    assert record["title"] == "Glossary on Migration"
    assert record["year"] == 2019 and record["isbn"] == ["978-92-9068-742-9"]
    assert record["pdf_urls"] == ["https://publications.iom.int/system/files/pdf/iml_34_glossary.pdf"]
    assert record["pdf_available"] is True


def test_opengraph_description_is_used_last_and_keeps_its_truncation() -> None:
    head = """<meta property="og:title" content="World Migration Report 2022">
    <meta property="og:description" content="IOM has been producing world migration reports since 2000. The...">"""
    [record] = html_detail.parse(_page(head), "https://publications.iom.int/books/wmr").records
    assert record["title"] == "World Migration Report 2022"
    assert record["abstract"] == "IOM has been producing world migration reports since 2000. The"
    assert record["abstract_truncated"] is True
    full = head + '<meta name="dcterms.description" content="IOM has been producing reports since 2000.">'
    [better] = html_detail.parse(_page(full), None).records
    assert (better["abstract"], better["abstract_truncated"]) == ("IOM has been producing reports since 2000.", False)


def test_unreadable_json_ld_is_flagged_not_fatal() -> None:
    head = (
        '<script type="application/ld+json">{"@type": "Book", "name": </script><meta name="citation_title" content="T">'
    )
    [record] = html_detail.parse(_page(head), None).records
    assert record["title"] == "T" and "jsonld_unreadable" in record["quality_flags"]


def test_mp_unlabelled_detail_with_alt_year_and_prefix_alternates() -> None:
    base = "https://migrantprotection.iom.int"
    head = f"""<link rel="canonical" href="/es/resources/report/key-highlights-2023">
    <link rel="alternate" hreflang="en" href="{base}/en/resources/report/key-highlights-2023">
    <link rel="alternate" hreflang="fr" href="{base}/fr/resources/report/key-highlights-2023">
    <link rel="alternate" hreflang="x-default" href="{base}/en/resources/report/key-highlights-2023">"""
    body = """<div class="language-switcher-language-url"><ul class="links">
    <li><a href="/en/resources/report/key-highlights-2023" class="language-link" hreflang="en">English</a></li>
    <li><a href="/fr/resources/report/key-highlights-2023" class="language-link" hreflang="fr">Français</a></li>
    </ul></div>
    <main><article class="node node--type-resource"><h1 class="page-title">Key Highlights 2023</h1>
    <div class="field field--name-field-image"><img src="/c.png" alt="2024, IOM, Key Highlights 2023"></div>
    <div class="field field--name-field-countries field--label-hidden field__item">El Salvador</div>
    <div class="field field--name-field-organization field--label-hidden field__item">
    Organización Internacional para las Migraciones</div>
    <div class="field field--name-body field__item"><p>This report presents the key highlights.</p>
    <ul><li>70,000 migrants assisted</li><li>130 countries</li></ul></div>
    <div class="field field--name-field-attachments"><table><tr><th>Adjunto</th><th>Tamaño</th></tr>
    <tr><td><a href="/sites/g/files/tmzbdl341/files/documents/kh-2023.pdf" type="application/pdf">ENGLISH</a></td>
    <td>1 MB</td></tr></table></div></article></main>"""
    [record] = html_detail.parse(_page(head, body), f"{base}/es/node/1234").records
    assert record["url"] == f"{base}/es/resources/report/key-highlights-2023"
    assert record["year"] == 2024
    assert (
        record["abstract"] == "This report presents the key highlights.\n\n- 70,000 migrants assisted\n- 130 countries"
    )
    assert record["extra"] == {
        "countries": "El Salvador",
        "organisation": "Organización Internacional para las Migraciones",
    }
    assert record["pdf_urls"] == [f"{base}/sites/g/files/tmzbdl341/files/documents/kh-2023.pdf"]
    assert record["languages"] == ["ENGLISH"]
    assert "edition_links" not in record


def test_bookstore_editions_from_hreflang_and_also_available_in() -> None:
    base = "https://publications.iom.int"
    head = f"""<link rel="canonical" href="{base}/books/migration-and-2030-agenda-guide-practitioners">
    <link rel="alternate" hreflang="fr" href="{base}/books/la-migration-et-le-programme-2030">"""
    body = """<ul class="links language-switcher"><li><a href="/es/books/migration-and-2030-agenda-guide-practitioners"
    hreflang="es">Español</a></li></ul><div class="region-content">
    <div class="field field-name-field-original-language field-label-above"><div class="field-label">Original
    Language:&nbsp;</div><div class="field-items"><div class="field-item even">English</div></div></div>
    <div class="field field-name-field-number-of-pages field-label-above"><div class="field-label">Number of
    Pages:&nbsp;</div><div class="field-items"></div></div>
    <div class="field field-name-field-isbn field-label-above"><div class="field-label">ISBN:&nbsp;</div>
    <div class="field-items"><div class="field-item">978-9968-542-71-5</div></div></div>
    <h1 class="page-header">Migration and the 2030 Agenda</h1>
    <div class="field field-name-body"><div class="field-items"><div class="field-item"><p>This guide is designed
    to serve government actors.</p></div></div></div>
    <div class="field field-name-field-also-available-in field-label-above"><div class="field-label">Also available
    in:&nbsp;</div><div class="field-items"><div class="field-item"><a href="/books/la-migration-et-le-programme-2030"
    >Français</a></div><div class="field-item"><a href="/es/books/la-migracion-en-la-agenda-2030">Español</a></div>
    </div></div><a class="btn" href="/system/files/pdf/migration_and_2030_agenda_en.pdf">Download PDF</a></div>"""
    [record] = html_detail.parse(
        _page(head, body), f"{base}/es/books/migration-and-2030-agenda-guide-practitioners"
    ).records
    assert record["edition_links"] == [
        f"{base}/books/la-migration-et-le-programme-2030",
        f"{base}/es/books/la-migracion-en-la-agenda-2030",
    ]
    assert record["languages"] == ["English", "Français", "Español"]
    assert record["text_language"] == "English" and "page_count" not in record
    assert record["isbn"] == ["978-9968-542-71-5"]
    assert record["pdf_urls"] == [f"{base}/system/files/pdf/migration_and_2030_agenda_en.pdf"]
    assert validated(record).languages == ["en", "fr", "es"]


def test_text_dump_style_detail_reads_labels_and_empty_values() -> None:
    body = """<div id="content"><img src="/c.jpg" alt="alt"><div>Original Language</div><div>English</div>
    <div>ISSN 2223-5248</div><div>Number of Pages</div><div>Year of Publication</div><div>2019</div>
    <div>Date of upload</div><div>15 Feb 2018</div>
    <h2>Migration Policy Practice (Vol. IX, Number 1, January 2019–March 2019)</h2>
    <div>Special Issue on Return and Reintegration</div>
    <div>This special issue brings together articles on return and reintegration policy, from measurement to
    the role of local authorities.</div><div>Its authors are practitioners and researchers from IOM and
    partner organizations around the world.</div><ul><li>Introduction</li></ul></div>"""
    page = html_detail.parse(_page("<title>Migration Policy Practice | IOM</title>", body), None)
    assert page.page_info["layout"] == "fallback-text"
    [record] = page.records
    assert record["title"] == "Migration Policy Practice (Vol. IX, Number 1, January 2019–March 2019)"
    assert (record["text_language"], record["year"]) == ("English", 2019)
    # the page prints "15 Feb 2018"; the record keeps the ISO date
    assert record["extra"]["issn"] == "2223-5248" and record["extra"]["date_of_upload"] == "2018-02-15"
    assert "page_count" not in record  # "Number of Pages" printed without a value
    assert record["abstract"].startswith("This special issue brings together")
    assert record["abstract"].endswith("partner organizations around the world.")
    assert record["abstract"].count("\n\n") == 1


def test_labelled_french_fields() -> None:
    body = """<main><h1>Knowledge Bite #1</h1>
    <div class="field field--name-field-year field--label-inline"><div class="field__label">Année</div>
    <div class="field__item">2020</div></div>
    <div class="field field--name-field-region field--label-above"><div class="field__label">Région</div>
    <div class="field__item">Afrique australe</div></div>
    <div class="field field--name-field-publication-series field--label-above"><div class="field__label">Série de
    publications</div><div class="field__item">Knowledge Bites</div></div>
    <div class="field field--name-body"><p>Ce premier Knowledge Bite présente la série.</p></div></main>"""
    [record] = html_detail.parse(_page("", body), "https://returnandreintegration.iom.int/fr/node/773").records
    assert record["year"] == 2020
    assert record["extra"] == {"region": "Afrique australe", "series": "Knowledge Bites"}


def test_news_article_detail_is_kind_news() -> None:
    ld = '{"@context": "https://schema.org", "@type": "NewsArticle", "headline": "IOM Launches Toolkit"}'
    head = f'<script type="application/ld+json">{ld}</script>'
    [record] = html_detail.parse(
        _page(head, "<main><p>IOM launched a toolkit today for counsellors.</p></main>"), None
    ).records
    assert record["kind"] == "news" and record["title"] == "IOM Launches Toolkit"


# --- bodies that are not pages ------------------------------------------------------------------------


@pytest.mark.parametrize("parse", [html_listing.parse, html_detail.parse])
def test_unusable_bodies_raise_parse_error(parse: Any) -> None:
    # a Latin-1 page is no longer unusable: its charset is detected (tests/test_hostile_pages.py)
    for body in (b"", b"   \n", b"\x00\x01\x02binary\x00"):
        with pytest.raises(ParseError):
            parse(body, None)


def test_declared_charset_is_only_a_fallback() -> None:
    utf8_declared_latin1 = '<html><head><meta charset="iso-8859-1"><title>État</title></head><body><h1>État</h1>'
    [record] = html_detail.parse(utf8_declared_latin1.encode("utf-8"), None).records
    assert record["title"] == "État"
    latin1 = '<html><head><meta charset="iso-8859-1"></head><body><h1>Migração</h1></body></html>'
    [record] = html_detail.parse(latin1.encode("latin-1"), None).records
    assert record["title"] == "Migração"
