"""Sources file validation, canonical URLs and the pager rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.crawl import page_url
from pipeline.errors import ConfigError
from pipeline.sources import load_sources
from pipeline.urls import canonical_url

REPO = Path(__file__).resolve().parent.parent


def test_committed_sources_file_declares_the_three_sites() -> None:
    sources = load_sources(REPO / "sources.toml")
    names = {s.name for s in sources.sources}
    assert names == {"migrantprotection.iom.int", "returnandreintegration.iom.int", "publications.iom.int"}
    for source in sources.sources:
        assert source.pager.first == 0, "Drupal's pager is 0-based"
        assert all(source.allows(u) for u in source.start_urls)


def test_sources_file_errors_name_the_file_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[[sources]]\nname = "x"\nbase_url = "ftp://x"\nstart_urls = ["/a"]\n')
    with pytest.raises(ConfigError, match=r"bad\.toml.*not an http"):
        load_sources(bad)
    offsite = tmp_path / "offsite.toml"
    offsite.write_text('[[sources]]\nname = "x"\nbase_url = "https://a.example.org"\nstart_urls = ["https://b.example.org/list"]\n')
    with pytest.raises(ConfigError, match="outside allowed_hosts"):
        load_sources(offsite)
    with pytest.raises(ConfigError, match="not found"):
        load_sources(tmp_path / "missing.toml")


def test_adding_a_site_is_a_config_edit(tmp_path: Path) -> None:
    text = (REPO / "sources.toml").read_text() + (
        '\n[[sources]]\nname = "dtm.iom.int"\nbase_url = "https://dtm.iom.int"\nstart_urls = ["/reports"]\n'
    )
    path = tmp_path / "four.toml"
    path.write_text(text)
    sources = load_sources(path)
    fourth = sources.sources[-1]
    assert fourth.allowed_hosts == ["dtm.iom.int"]
    assert fourth.start_urls == ["https://dtm.iom.int/reports"]


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (
            "https://migrantprotection.iom.int/es/resources/guideline-manual/return-counselling-toolkit",
            "http://migrantprotection.iom.int/en/resources/guideline-manual/return-counselling-toolkit/",
        ),
        ("https://publications.iom.int/books/x?utm_source=news&b=2&a=1", "https://publications.iom.int/books/x?a=1&b=2"),
        ("https://publications.iom.int/fr/books/wmr#top", "https://PUBLICATIONS.iom.int/books/wmr"),
    ],
)
def test_canonical_url_joins_spellings_of_one_page(a: str, b: str) -> None:
    assert canonical_url(a) == canonical_url(b)


def test_canonical_url_keeps_different_pages_apart() -> None:
    en = canonical_url("https://publications.iom.int/books/migration-and-2030-agenda-guide-practitioners")
    fr = canonical_url("https://publications.iom.int/books/la-migration-et-le-programme-2030-un-guide")
    assert en != fr
    assert canonical_url("https://x.example.org/resources/a?page=1") != canonical_url("https://x.example.org/resources/a?page=2")


def test_pager_is_zero_based_and_bare_url_is_first_page() -> None:
    section = "https://returnandreintegration.iom.int/en/resources/guideline"
    assert page_url(section, "page", 0, 0) == section
    assert page_url(section, "page", 1, 0) == section + "?page=1"
    assert page_url(section + "?type=3", "page", 4, 0) == section + "?type=3&page=4"
