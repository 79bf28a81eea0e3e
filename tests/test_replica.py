"""The replica of the three sites, over real HTTP on 127.0.0.1: pages, validators, faults, log."""

from __future__ import annotations

import email.utils
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from defusedxml import ElementTree
from protego import Protego
from selectolax.lexbor import LexborHTMLParser

from parsers import html_detail
from pipeline.sources import load_sources
from tests.replica import Fault, Replica
from tests.replica.dataset import DATASET_PATH, drupal_trim, load_items

MP = "migrantprotection.iom.int"
RR = "returnandreintegration.iom.int"
PUB = "publications.iom.int"
SITEMAP_NS = {"s": "http://www.sitemaps.org/schemas/sitemap/0.9"}
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def shared_replica() -> Iterator[Replica]:
    with Replica(page_size=10) as rep:
        yield rep


@pytest.fixture
def rep(shared_replica: Replica) -> Iterator[Replica]:
    """The module's replica with no faults and an empty request log; faults never leak."""
    shared_replica.clear_faults()
    shared_replica.clear_requests()
    yield shared_replica
    shared_replica.clear_faults()


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5.0) as http:
        yield http


def cards(html: str) -> list[str]:
    """The detail links of a listing page's cards, in order (either theme)."""
    tree = LexborHTMLParser(html)
    return [a.attributes["href"] for a in tree.css(".views-row .node__title a, .views-row .views-field-title a")]


# --- the sites and their pages ------------------------------------------------------------------


def test_each_site_is_its_own_host_on_loopback(rep: Replica) -> None:
    urls = rep.sites
    assert set(urls) == {MP, RR, PUB}
    netlocs = {httpx.URL(u).netloc for u in urls.values()}
    assert len(netlocs) == 3
    assert all(httpx.URL(u).host == "127.0.0.1" for u in urls.values())


def test_pager_is_zero_based_and_covers_the_section(rep: Replica, client: httpx.Client) -> None:
    base = rep.sites[RR] + "/en/resources/guideline"
    bare = client.get(base)
    page0 = client.get(base, params={"page": 0})
    page1 = client.get(base, params={"page": 1})
    assert bare.status_code == page0.status_code == page1.status_code == 200
    assert cards(bare.text) == cards(page0.text)
    assert len(cards(bare.text)) == 10
    assert not set(cards(bare.text)) & set(cards(page1.text))

    tree = LexborHTMLParser(bare.text)
    assert tree.css_first(".pager__item--next a").attributes["href"] == "?page=1"
    expected = [c for c in rep.expected_cards(RR) if c["listing_url"].startswith(base)]
    last = int(tree.css_first(".pager__item--last a").attributes["href"].removeprefix("?page="))
    assert last == (len(expected) - 1) // 10

    seen: list[str] = []
    for page in range(last + 1):
        seen += cards(client.get(base, params={"page": page}).text)
    assert [rep.sites[RR] + href for href in seen] == [c["url"] for c in expected]

    beyond = client.get(base, params={"page": last + 1})
    assert beyond.status_code == 200 and cards(beyond.text) == []
    assert cards(client.get(base, params={"page": "x"}).text) == cards(bare.text)


def test_bookstore_listing_uses_drupal7_pager_and_400_character_teasers(rep: Replica, client: httpx.Client) -> None:
    page = client.get(rep.sites[PUB] + "/search-books", params={"page": 1})
    tree = LexborHTMLParser(page.text)
    assert tree.css_first("li.pager-next a").attributes["href"] == "/search-books?page=2"
    assert tree.css_first("li.pager-first a").attributes["href"] == "/search-books"
    teasers = [n.text(strip=True) for n in tree.css(".views-field-body .field-content")]
    assert len(teasers) == 10
    assert all(len(t.removesuffix("Read more").strip()) <= 403 for t in teasers)


def test_every_card_and_sitemap_url_serves_its_item(rep: Replica, client: httpx.Client) -> None:
    by_id = {i["id"]: i for i in rep.items}
    expected = rep.expected_cards()
    assert len({c["item_id"] for c in expected}) == len(
        [i for i in by_id.values() if any(p["sections"] for p in i["sites"].values())]
    )
    for card in expected:
        page = client.get(card["url"])
        assert page.status_code == 200, card
        title = LexborHTMLParser(page.text).css_first("h1").text(strip=True)
        assert title == by_id[card["item_id"]]["title"]
    for url in rep.sitemap_only_urls():
        assert client.get(url).status_code == 200


def test_scale_serves_distinct_copies_that_link_only_within_their_copy(client: httpx.Client) -> None:
    """`Replica(scale=k)` (benchmarks at k times the sites' size): every copy is a page of its own."""
    base = load_items()
    with Replica(page_size=10) as unscaled:
        base_urls = len(unscaled.expected_detail_urls())
    with Replica(page_size=10, scale=3) as rep:
        items = rep.items
        assert len(items) == 3 * len(base)
        assert len({i["id"] for i in items}) == len(items)
        assert len({i["title"] for i in items}) == 3 * len({i["title"] for i in base})
        assert len(rep.expected_detail_urls()) == 3 * base_urls
        by_id = {i["id"]: i for i in items}
        copies = [c for c in rep.expected_cards() if c["item_id"].endswith("-part-3")]
        assert copies
        for card in copies[:10]:
            page = client.get(card["url"])
            assert page.status_code == 200, card
            assert LexborHTMLParser(page.text).css_first("h1").text(strip=True) == by_id[card["item_id"]]["title"]
            editions = [link.url for r in html_detail.parse(page.content, card["url"]).records
                        for link in map(httpx.URL, r.get("edition_links", []))]  # fmt: skip
            assert all(str(url).split("?")[0].rstrip("/").endswith("-part-3") for url in editions), editions


def test_sitemap_lists_every_detail_page_including_unlisted_ones(rep: Replica, client: httpx.Client) -> None:
    for site, base in rep.sites.items():
        response = client.get(base + "/sitemap.xml")
        assert response.headers["content-type"].startswith("application/xml")
        locs = {e.text for e in ElementTree.fromstring(response.content).findall("s:url/s:loc", SITEMAP_NS)}
        assert locs == rep.sitemap_urls(site)
    unlisted = rep.sitemap_only_urls(MP)
    assert unlisted == {rep.sites[MP] + "/en/resources/report/return-and-reintegration-key-highlights-2021"}


def test_robots_txt_disallows_search_and_sets_a_crawl_delay(rep: Replica, client: httpx.Client) -> None:
    base = rep.sites[MP]
    robots = Protego.parse(client.get(base + "/robots.txt").text)
    assert robots.crawl_delay("iom-pubwarehouse") == pytest.approx(rep.crawl_delay)
    assert not robots.can_fetch(base + "/search/node?keys=toolkit", "iom-pubwarehouse")
    assert not robots.can_fetch(base + "/admin/content", "iom-pubwarehouse")
    assert robots.can_fetch(base + "/en/resources/manual?page=1", "iom-pubwarehouse")
    assert list(robots.sitemaps) == [base + "/sitemap.xml"]
    listing = client.get(base + "/en/resources/manual").text
    assert 'href="/search/node?keys="' in listing  # the trap a polite crawler must not follow

    client.get(base + "/search/node", params={"keys": "toolkit"})
    hits = rep.disallowed_hits(MP)
    assert [(h.path, h.query) for h in hits] == [("/search/node", "keys=toolkit")]


def test_interface_prefixes_re_render_the_same_node(rep: Replica, client: httpx.Client) -> None:
    item = rep.item("hw-knowledge-bite-1")
    path = item["sites"][MP]["path"].removeprefix("/en")
    skip_links = {
        "en": "Skip to main content",
        "es": "Pasar al contenido principal",
        "fr": "Aller au contenu principal",
    }
    for lang, skip in skip_links.items():
        page = client.get(f"{rep.sites[MP]}/{lang}{path}")
        tree = LexborHTMLParser(page.text)
        assert tree.css_first("h1").text(strip=True) == item["title"]
        assert tree.css_first("a.skip-link").text(strip=True) == skip
        assert tree.css_first("link[rel=canonical]").attributes["href"] == f"{rep.sites[MP]}/{lang}{path}"
    node = client.get(f"{rep.sites[MP]}/fr/node/773")
    assert node.status_code == 200
    canonical = LexborHTMLParser(node.text).css_first("link[rel=canonical]").attributes["href"]
    assert canonical == f"{rep.sites[MP]}/fr{path}"
    assert client.get(rep.sites[MP] + "/en/resources/manual/no-such-item").status_code == 404


def test_pdf_links_serve_pdf_bodies(rep: Replica, client: httpx.Client) -> None:
    for site in (MP, PUB):
        page = client.get(rep.item_url("hw-knowledge-bite-1" if site == MP else "hw-glossary-en", site)).text
        href = next(a.attributes["href"] for a in LexborHTMLParser(page).css("a[href$='.pdf']"))
        pdf = client.get(rep.sites[site] + href)
        assert pdf.headers["content-type"] == "application/pdf"
        assert pdf.content.startswith(b"%PDF-")
    assert "/system/files/pdf/iml_34_glossary.pdf" in client.get(rep.item_url("hw-glossary-en")).text


# --- validators and 304 -----------------------------------------------------------------------


def test_validators_and_conditional_requests(rep: Replica, client: httpx.Client) -> None:
    for url in (rep.sites[MP] + "/en/resources/manual", rep.item_url("hw-wmr-2022-en"), rep.sites[RR] + "/robots.txt"):
        first = client.get(url)
        etag, modified = first.headers["etag"], first.headers["last-modified"]
        assert email.utils.parsedate_to_datetime(modified).year >= 2000
        by_etag = client.get(url, headers={"If-None-Match": etag})
        assert by_etag.status_code == 304 and by_etag.content == b""
        assert by_etag.headers["etag"] == etag
        by_date = client.get(url, headers={"If-Modified-Since": modified})
        assert by_date.status_code == 304
        stale = client.get(url, headers={"If-None-Match": '"something-else"'})
        assert stale.status_code == 200 and stale.content == first.content
        older = client.get(url, headers={"If-Modified-Since": "Mon, 01 Jan 2001 00:00:00 GMT"})
        assert older.status_code == 200
    logged = [r for r in rep.requests if r.status == 304]
    assert len(logged) == 6
    assert all(r.conditional for r in logged)
    assert {r.if_none_match for r in logged if r.if_none_match} <= {r.if_none_match for r in rep.requests}


def test_touch_and_add_item_change_what_is_served() -> None:
    with Replica(page_size=5) as rep, httpx.Client(timeout=5.0) as client:
        url = rep.item_url("hw-key-highlights-2023")
        before = client.get(url)
        listing = rep.sites[MP] + "/en/resources/report"
        listing_before = client.get(listing)

        rep.touch_item("hw-key-highlights-2023")
        after = client.get(url, headers={"If-None-Match": before.headers["etag"]})
        assert after.status_code == 200
        assert after.headers["etag"] != before.headers["etag"]
        modified = email.utils.parsedate_to_datetime
        assert modified(after.headers["last-modified"]) > modified(before.headers["last-modified"])
        assert client.get(url, headers={"If-None-Match": after.headers["etag"]}).status_code == 304

        rep.touch_item("hw-key-highlights-2023", title="Return and Reintegration Key Highlights 2023 (revised)")
        assert "(revised)" in client.get(url).text

        new = rep.add_item(MP, "/en/resources/report", "A Brand New Report on Return", "Fresh findings. " * 30)
        fresh = client.get(listing, headers={"If-None-Match": listing_before.headers["etag"]})
        assert fresh.status_code == 200
        assert cards(fresh.text)[0] == new["sites"][MP]["path"]
        assert rep.item_url(new["id"]) in rep.expected_detail_urls(MP)
        assert rep.item_url(new["id"]) in client.get(rep.sites[MP] + "/sitemap.xml").text
        assert client.get(rep.item_url(new["id"])).status_code == 200


# --- faults ------------------------------------------------------------------------------------


def test_rate_limit_fault_sends_429_with_retry_after_then_recovers(rep: Replica, client: httpx.Client) -> None:
    fault = rep.add_fault(Fault.rate_limited("/en/resources/manual", retry_after=2, times=1))
    url = rep.sites[MP] + "/en/resources/manual"
    limited = client.get(url)
    assert limited.status_code == 429 and limited.headers["retry-after"] == "2"
    assert client.get(url).status_code == 200
    assert fault.fired == 1
    assert [r.fault for r in rep.requests] == ["rate_limit", None]


def test_error_burst_fires_n_times_then_ok_and_only_where_targeted(rep: Replica, client: httpx.Client) -> None:
    rep.add_fault(Fault.server_error(r"^/en/resources/guideline$", status=503, times=3, site=RR))
    assert client.get(rep.sites[MP] + "/en/resources/guideline").status_code == 200  # other site
    assert client.get(rep.sites[RR] + "/en/resources/manual").status_code == 200  # other path
    statuses = [client.get(rep.sites[RR] + "/en/resources/guideline").status_code for _ in range(4)]
    assert statuses == [503, 503, 503, 200]
    rep.add_fault(Fault("error", "/books/", status=500, times=None))
    assert [client.get(rep.item_url("hw-wmr-2022-en")).status_code for _ in range(3)] == [500, 500, 500]
    rep.clear_faults()
    assert client.get(rep.item_url("hw-wmr-2022-en")).status_code == 200


def test_slow_fault_delays_the_response(rep: Replica, client: httpx.Client) -> None:
    rep.add_fault(Fault.slow("/robots.txt", delay=0.4))
    start = time.monotonic()
    assert client.get(rep.sites[PUB] + "/robots.txt").status_code == 200
    assert time.monotonic() - start >= 0.4
    client.get(rep.sites[PUB] + "/robots.txt")
    # the fault fires once: the second request is served without it (the replica's log says which)
    assert [r.fault for r in rep.requests_for(PUB) if r.path == "/robots.txt"] == ["slow", None]


def test_timeout_fault_hangs_past_the_client_read_timeout(rep: Replica) -> None:
    rep.add_fault(Fault.timeout("/sitemap.xml", hang=3.0))
    with httpx.Client(timeout=httpx.Timeout(2.0, read=0.3)) as impatient:
        with pytest.raises(httpx.ReadTimeout):
            impatient.get(rep.sites[RR] + "/sitemap.xml")
        assert impatient.get(rep.sites[RR] + "/sitemap.xml").status_code == 200


def test_truncated_fault_sends_less_than_content_length(rep: Replica, client: httpx.Client) -> None:
    rep.add_fault(Fault.truncated("/en/resources/report"))
    with pytest.raises(httpx.RemoteProtocolError):
        client.get(rep.sites[MP] + "/en/resources/report")
    assert client.get(rep.sites[MP] + "/en/resources/report").status_code == 200


def test_redirect_fault_points_to_another_host(rep: Replica, client: httpx.Client) -> None:
    rep.add_fault(Fault.redirect_offsite("/books/"))
    response = client.get(rep.item_url("hw-wmr-2022-en"))
    assert response.status_code == 302
    assert response.headers["location"] == "http://offsite.example.org/books/world-migration-report-2022"


def test_wrong_charset_fault_declares_latin1_on_a_utf8_body(rep: Replica, client: httpx.Client) -> None:
    url = rep.item_url("hw-wmr-2022-fr")
    rep.add_fault(Fault.wrong_charset("/books/etat"))
    response = client.get(url)
    assert response.headers["content-type"] == "text/html; charset=iso-8859-1"
    assert b'<meta charset="iso-8859-1">' in response.content
    assert "État".encode() in response.content  # the bytes are UTF-8 whatever the label says
    assert html_detail.parse(response.content, url).records[0]["title"] == "État de la migration dans le monde 2022"


def test_oversize_fault_pads_the_body(rep: Replica, client: httpx.Client) -> None:
    rep.add_fault(Fault.oversized("/en/resources/study", size=400_000))
    response = client.get(rep.sites[MP] + "/en/resources/study")
    assert int(response.headers["content-length"]) == len(response.content) >= 400_000
    assert cards(response.text)  # still the page
    rep.add_fault(Fault.oversized("/robots.txt", size=50_000))
    robots = client.get(rep.sites[MP] + "/robots.txt")
    assert len(robots.content) >= 50_000
    assert not Protego.parse(robots.text).can_fetch(rep.sites[MP] + "/search/node", "bot")  # still robots.txt


def test_markup_changed_fault_keeps_content_and_drops_the_classes(rep: Replica, client: httpx.Client) -> None:
    url = rep.sites[MP] + "/en/resources/manual"
    normal = client.get(url).text
    rep.add_fault(Fault.markup_changed("/en/resources/manual"))
    changed = client.get(url).text
    assert "views-row" not in changed and "pager__item" not in changed
    titles = [n.text(strip=True) for n in LexborHTMLParser(normal).css(".views-row h3")]
    assert titles and all(t in LexborHTMLParser(changed).body.text() for t in titles)
    assert client.get(url).text == changed  # times=None: for ever, until cleared


def test_fault_validation() -> None:
    with pytest.raises(ValueError, match="unknown fault kind"):
        Fault("explode")
    with pytest.raises(ValueError, match="5xx"):
        Fault.server_error(status=404)


# --- request log and sources file ----------------------------------------------------------------


def test_request_log_records_what_politeness_checks_need(rep: Replica) -> None:
    headers = {"User-Agent": "iom-pubwarehouse/test (+mailto:x@example.org)"}
    with httpx.Client(headers=headers) as polite:
        for page in range(5):
            polite.get(rep.sites[PUB] + "/search-books", params={"page": page})
        polite.head(rep.sites[PUB] + "/robots.txt")
    log = rep.requests_for(PUB)
    assert [r.method for r in log] == ["GET"] * 5 + ["HEAD"]
    assert {r.user_agent for r in log} == {headers["User-Agent"]}
    assert [r.time for r in log] == sorted(r.time for r in log)
    assert log[1].target == "/search-books?page=1"
    assert rep.max_requests_per_second(PUB) == 6
    assert rep.max_requests_per_second(MP) == 0


def test_write_sources_points_the_crawler_at_the_replica(rep: Replica, tmp_path: Path) -> None:
    path = rep.write_sources(tmp_path / "sources.toml", max_retries=1, read_timeout=1.5)
    config = load_sources(path)
    assert {s.name for s in config.sources} == {MP, RR, PUB}
    assert config.crawler.max_retries == 1 and config.crawler.read_timeout == 1.5
    for source in config.sources:
        assert source.base_url == rep.sites[source.name]
        assert source.allowed_hosts == [httpx.URL(rep.sites[source.name]).netloc.decode()]
        assert source.start_urls == [rep.sites[source.name] + p for p in rep.sections[source.name]]
        assert 1 / source.rate_per_second <= rep.crawl_delay * 1.01


def test_cli_serves_until_interrupted_and_writes_sources(tmp_path: Path) -> None:
    sources = tmp_path / "replica.toml"
    code = "from tests.replica.cli import replica; replica()"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "--port", "0", "--write-sources", str(sources)],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 15
        while not sources.exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        config = load_sources(sources)
        with httpx.Client() as client:
            assert all(client.get(s.base_url + "/robots.txt").status_code == 200 for s in config.sources)
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert "publications.iom.int" in out and "stopped" in out


# --- the dataset: ground truth for dedup ---------------------------------------------------------


def test_dataset_covers_every_seed_sighting_once() -> None:
    items = load_items(DATASET_PATH)
    sightings = Counter((s["file"], s["position"]) for i in items for s in i["seed"])
    assert len(sightings) == 103 and set(sightings.values()) == {1}
    per_file = Counter(f[:3] for f, _ in sightings)
    assert per_file == {"000": 20, "001": 20, "002": 21, "003": 20, "004": 22}
    assert len([i for i in items if not i["seed"]]) >= 30


def test_dataset_holds_the_dedup_traps() -> None:
    items = load_items(DATASET_PATH)
    etimos = [i for i in items if "Etimos" in i["abstract"]]
    assert Counter(i["text_language"] for i in etimos) == {"es": 3, "fr": 3}
    # issue 7: six editions (three volumes in two languages) of one work
    assert len({i["edition_key"] for i in etimos}) == 6 and len({i["work_key"] for i in etimos}) == 1
    for lang in ("es", "fr"):
        assert len({i["abstract"] for i in etimos if i["text_language"] == lang}) == 1
    guide = [i for i in items if i["work_key"] == "migration-2030-agenda-guide"]
    assert {i["text_language"] for i in guide} == {"en", "fr", "es"}
    assert len({i["sites"][PUB]["path"] for i in guide}) == 3
    assert any(MP in i["sites"] and RR in i["sites"] for i in items)
    isbn_titles: dict[str, set[str]] = {}
    for item in items:
        for isbn in item["isbn"]:
            isbn_titles.setdefault(isbn, set()).add(item["title"])
    assert any(len(titles) > 1 for titles in isbn_titles.values())
    openings = Counter(" ".join(i["abstract"].split()[:6]) for i in items)
    distinct_same_start = [
        opening
        for opening, n in openings.items()
        if n > 1 and len({i["work_key"] for i in items if " ".join(i["abstract"].split()[:6]) == opening}) > 1
    ]
    assert distinct_same_start


def test_listing_teasers_follow_drupal_trim(rep: Replica, client: httpx.Client) -> None:
    teasers = [
        n.text(strip=True)
        for page in range(2)
        for n in LexborHTMLParser(
            client.get(rep.sites[RR] + "/en/resources/guideline", params={"page": page}).text
        ).css(".field--name-body")
    ]
    cut = [t for t in teasers if t.endswith("...")]
    whole = [t for t in teasers if not t.endswith("...")]
    assert cut and whole
    assert all(240 <= len(t) - 3 <= 261 for t in cut)
    assert all(not t[:-3].endswith((",", " ")) for t in cut)
    text, truncated = drupal_trim("word " * 100)
    assert truncated and len(text) <= 263 and text.endswith("word...")
