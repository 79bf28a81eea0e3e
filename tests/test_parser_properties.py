"""Every parser on generated pages: only ParseError (or its ShapeError) ever escapes.

Time per page is bounded by the parse timeout and measured as a ratio in
tests/test_hostile_pages.py (linear in nesting), never as a wall-clock limit here.

CI runs a derandomized profile with a modest count; `HYPOTHESIS_PROFILE=nightly` runs many more
(see parsers/README.md).
"""

from __future__ import annotations

import contextlib
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from parsers import PARSERS, ParseError

settings.register_profile(
    "ci", max_examples=25, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("nightly", max_examples=5000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

TAGS = ["div", "p", "a", "li", "ul", "main", "article", "span", "h2", "h3", "table", "td", "script", "img"]
CLASSES = ["views-row", "field--name-field-year", "field__item", "field__label", "field--name-body", "pager", ""]
HREFS = ["/x", "http://[::1/x", "https://example.org/a?page=2", "javascript:x", "", "http://%zz", "//", "?page=-1"]
TEXT = st.text(max_size=60)


@st.composite
def html_pages(draw: st.DrawFn) -> bytes:
    parts: list[str] = []
    depth = draw(st.integers(0, 150))
    for _ in range(depth):
        tag = draw(st.sampled_from(TAGS))
        attrs = f' class="{draw(st.sampled_from(CLASSES))}"'
        if tag == "a":
            attrs += f' href="{draw(st.sampled_from(HREFS))}"'
        if draw(st.booleans()) and draw(st.integers(0, 9)) == 0:
            attrs += f' data-x="{"y" * draw(st.integers(0, 50_000))}"'  # a huge attribute
        parts.append(f"<{tag}{attrs}>{draw(TEXT)}")
        if draw(st.booleans()):
            parts.append(f"</{tag}>")
    page = f"<html><body>{''.join(parts)}</body></html>"
    encoding = draw(st.sampled_from(["utf-8", "latin-1", "cp1251", "utf-16", "shift_jis"]))
    declared = draw(st.sampled_from(["", "utf-8", "iso-8859-1", "bogus", encoding]))
    if declared:
        page = page.replace("<html>", f'<html><head><meta charset="{declared}"></head>', 1)
    return page.encode(encoding, "replace")


def _survives(fmt: str, body: bytes, url: str | None) -> None:
    with contextlib.suppress(ParseError):
        PARSERS[fmt](body, url)


@pytest.mark.parametrize("fmt", sorted(PARSERS))
@given(body=html_pages(), url=st.sampled_from([None, "https://example.org/en/x", "http://[::1/x"]))
def test_parsers_survive_generated_pages(fmt: str, body: bytes, url: str | None) -> None:
    _survives(fmt, body, url)


@pytest.mark.parametrize("fmt", sorted(PARSERS))
@given(body=st.binary(max_size=4000))
def test_parsers_survive_random_bytes(fmt: str, body: bytes) -> None:
    _survives(fmt, body, None)


@pytest.mark.parametrize("fmt", sorted(PARSERS))
@given(text=st.text(max_size=3000), encoding=st.sampled_from(["utf-8", "latin-1", "utf-16", "cp1252"]))
def test_parsers_survive_random_text(fmt: str, text: str, encoding: str) -> None:
    _survives(fmt, text.encode(encoding, "replace"), "https://example.org/en/x")
