"""What the HTML parsers share: decoding, visible text as lines, embedded metadata, URL rules.

`visible_lines` reads a page the way the text dumps were made (markup dropped, one block per
line, image alt text kept), so the fallback of the HTML parsers can reuse the rules written for
those dumps when a site's markup changes under them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from selectolax.lexbor import LexborHTMLParser, LexborNode

from parsers.base import Line, ParseError, decode_text

_DECLARED = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([a-zA-Z0-9_.:-]+)""", re.IGNORECASE)
_INTERFACE_PREFIX = re.compile(r"^/(?:en|es|fr)(?=/|$)")

BLOCK_TAGS = frozenset(
    [
        "address",
        "article",
        "aside",
        "blockquote",
        "body",
        "caption",
        "dd",
        "details",
        "dialog",
        "div",
        "dl",
        "dt",
        "fieldset",
        "figcaption",
        "figure",
        "footer",
        "form",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "hr",
        "li",
        "main",
        "nav",
        "ol",
        "p",
        "pre",
        "section",
        "summary",
        "table",
        "tbody",
        "td",
        "tfoot",
        "th",
        "thead",
        "tr",
        "ul",
        "option",
    ]
)
HEADING_TAGS = frozenset(["h1", "h2", "h3", "h4", "h5", "h6"])
SKIP_TAGS = frozenset(
    ["head", "script", "style", "noscript", "template", "svg", "iframe", "object", "select", "textarea"]
)
#: page chrome left out when reading a page's visible text (the dumps had none of it either)
CHROME_TAGS = frozenset(["nav", "header", "footer", "aside", "form"])
MAIN_SELECTORS = ("main", "[role=main]", "#main-content", "#content", ".region-content", ".main-content")


#: deepest element nesting kept when parsing. An HTML5 tree builder checks the stack of open
#: elements at every tag, so parse time grows with size x depth: a page nested thousands deep
#: costs minutes. Real pages nest a few dozen deep; browsers stop nesting at 512 (Chromium).
MAX_DEPTH = 128
#: tags that never hold children or close themselves implicitly often enough that counting them
#: would overstate depth (`<li>` / `<p>` left open are closed by the next sibling)
_UNCOUNTED = frozenset(
    [
        "area",
        "base",
        "br",
        "col",
        "embed",
        "hr",
        "img",
        "input",
        "link",
        "meta",
        "param",
        "source",
        "track",
        "wbr",
        "p",
        "li",
        "dt",
        "dd",
        "option",
        "tr",
        "td",
        "th",
    ]
)
_TAG_START = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9:-]*)|<!--")
_RAW_TEXT = frozenset(["script", "style", "textarea", "title", "xmp", "iframe", "noembed", "noframes", "plaintext"])
#: the tokens `flatten_deep_nesting` acts on, in one expression: a comment, an unterminated
#: comment (the scan stops there), a raw-text element with its content up to its end tag, a tag
_TOKENS = re.compile(
    r"<(?:!--.*?-->|(!)--"
    rf"|(?i:(?P<raw>{'|'.join(sorted(_RAW_TEXT))}))(?![a-zA-Z0-9:-])[^>]*>(?:.*?(?=(?i:</(?P=raw)))|.*)"
    r"|(/?)([a-zA-Z][a-zA-Z0-9:-]*)[^>]*>)",
    re.DOTALL,
)


def flatten_deep_nesting(text: str, max_depth: int = MAX_DEPTH) -> str:
    """Drop the tags (not their text) of elements nested deeper than `max_depth`, in one pass.

    Why: keeps parsing linear in the page size for hostile pages (cards nested thousands deep);
    the text stays, so readers of the visible text still see it. Pages within the limit are
    returned unchanged. Every search starts past the previous one, so the pass is linear too.
    """
    return _flatten(text, max_depth) if _deeper_than(text, max_depth) else text


def _flatten(text: str, max_depth: int) -> str:
    depth = 0
    dropped: dict[str, int] = {}
    out: list[str] = []
    last = pos = 0
    while (match := _TAG_START.search(text, pos)) is not None:
        if match.group(2) is None:  # a comment runs to its `-->`
            end = text.find("-->", match.end())
            if end < 0:
                break
            pos = end + 3
            continue
        end = text.find(">", match.end())
        if end < 0:
            break
        pos = end + 1
        name = match.group(2).lower()
        if match.group(1):
            if dropped.get(name):
                dropped[name] -= 1
                out.append(text[last : match.start()])
                last = pos
            elif name not in _UNCOUNTED:
                depth = max(0, depth - 1)
            continue
        if name in _RAW_TEXT:  # its content is text, not markup: skip to its end tag
            close = _find_ci(text, f"</{name}", pos)
            pos = close if close >= 0 else len(text)
            continue
        if name in _UNCOUNTED:
            continue
        if depth >= max_depth:
            dropped[name] = dropped.get(name, 0) + 1
            out.append(text[last : match.start()])
            last = pos
        else:
            depth += 1
    if not out:
        return text
    out.append(text[last:])
    return "".join(out)


def _deeper_than(text: str, max_depth: int) -> bool:
    """Whether `flatten_deep_nesting` would drop a tag: the same depth count, found in one regex pass.

    Why: nearly every page is within the limit, and this pass costs a fraction of the
    rewriting loop (a fifth of a listing page's parse time went there); the rewrite runs only
    for the pages that need it. Kept in step with that loop by tests/test_parser_properties.py.
    """
    depth = 0
    uncounted: dict[str, bool] = {}
    for unterminated, _raw, slash, name in _TOKENS.findall(text):
        if not name:
            if unterminated:
                return False
            continue
        skip = uncounted.get(name)
        if skip is None:
            skip = uncounted[name] = name.lower() in _UNCOUNTED
        if skip:
            continue
        if slash:
            if depth:
                depth -= 1
        elif depth >= max_depth:
            return True
        else:
            depth += 1
    return False


def _find_ci(text: str, needle: str, start: int) -> int:
    match = re.compile(re.escape(needle), re.IGNORECASE).search(text, start)
    return match.start() if match else -1


def parse_html(body: bytes) -> LexborHTMLParser:
    """Decode (UTF-8 first, whatever the page declares) and parse; ParseError for non-text bodies."""
    declared = _DECLARED.search(body[:4096])
    text = decode_text(body, declared.group(1).decode("ascii", "replace") if declared else None)
    if "<" not in text:
        raise ParseError("not an HTML page: no markup found")
    return LexborHTMLParser(flatten_deep_nesting(text))


def clean(text: str | None) -> str:
    return " ".join((text or "").split())


def node_text(node: LexborNode | None) -> str:
    return clean(node.text(separator=" ")) if node is not None else ""


def classes(node: LexborNode) -> str:
    return node.attrs.get("class") or ""


def same_node_path(a: str, b: str) -> bool:
    """Two paths of one node: equal once a leading /en, /es or /fr interface prefix is removed."""
    strip = lambda p: (_INTERFACE_PREFIX.sub("", p) or "/").rstrip("/") or "/"  # noqa: E731
    return strip(a) == strip(b)


def main_scope(tree: LexborHTMLParser) -> LexborNode:
    for selector in MAIN_SELECTORS:
        node = tree.css_first(selector)
        if node is not None:
            return node
    scope = tree.body or tree.root
    if scope is None:  # Lexbor builds <html><body> around any input; a tree without either is no page
        raise ParseError("no document tree")
    return scope


_BREAK = object()


def visible_lines(root: LexborNode, *, skip: Iterable[str] = ()) -> list[Line]:
    """The text a reader sees, one block element per line, image alt text as its own line."""
    skipped = SKIP_TAGS | frozenset(skip)
    tokens: list[Any] = []
    stack: list[Any] = [(root, None, False)]
    while stack:
        entry = stack.pop()
        if entry is _BREAK:
            tokens.append(_BREAK)
            continue
        node, href, heading = entry
        tag = node.tag
        if tag == "-text":
            tokens.append((node.text_content or "", href, heading))
            continue
        if not tag or tag.startswith("-") or tag in skipped:
            continue
        if tag == "br":
            tokens.append(_BREAK)
            continue
        if tag == "img":
            alt = clean(node.attrs.get("alt"))
            if alt:
                tokens += [_BREAK, (alt, None, False), _BREAK]
            continue
        child_href = (node.attrs.get("href") or None) if tag == "a" else href
        child_heading = heading or tag in HEADING_TAGS
        block = tag in BLOCK_TAGS
        if block:
            tokens.append(_BREAK)
            stack.append(_BREAK)
        stack.extend((child, child_href, child_heading) for child in reversed(list(node.iter(include_text=True))))
    lines: list[Line] = []
    pieces: list[tuple[str, str | None, bool]] = []
    for token in [*tokens, _BREAK]:
        if token is not _BREAK:
            pieces.append(token)
            continue
        text = clean("".join(p[0] for p in pieces))
        if text:
            hrefs = {p[1] for p in pieces if p[0].strip()}
            href = next(iter(hrefs)) if len(hrefs) == 1 else None
            lines.append(Line(text, href, any(p[2] for p in pieces if p[0].strip())))
        pieces = []
    return lines


def meta_tags(tree: LexborHTMLParser) -> dict[str, list[str]]:
    """`<meta name|property=... content=...>` values by lower-cased key, in page order."""
    found: dict[str, list[str]] = {}
    for node in tree.css("meta[content]"):
        key = node.attrs.get("name") or node.attrs.get("property") or node.attrs.get("itemprop")
        value = clean(node.attrs.get("content"))
        if key and value:
            found.setdefault(key.strip().lower(), []).append(value)
    return found


def json_ld(tree: LexborHTMLParser) -> tuple[list[dict[str, Any]], bool]:
    """Every JSON-LD object on the page (@graph flattened) and whether a block was unreadable."""
    nodes: list[dict[str, Any]] = []
    broken = False
    for script in tree.css('script[type="application/ld+json"]'):
        try:
            data = json.loads(script.text(deep=True) or "", strict=False)
        except ValueError:
            broken = True
            continue
        queue = data if isinstance(data, list) else [data]
        while queue:
            entry = queue.pop(0)
            if not isinstance(entry, dict):
                continue
            if isinstance(entry.get("@graph"), list):
                queue.extend(entry["@graph"])
            if any(key != "@context" and key != "@graph" for key in entry):
                nodes.append(entry)
    return nodes, broken


def ld_types(node: dict[str, Any]) -> set[str]:
    value = node.get("@type")
    values = value if isinstance(value, list) else [value]
    return {str(v) for v in values if v}


def ld_values(node: dict[str, Any], key: str) -> list[Any]:
    value = node.get(key)
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def ld_text(value: Any) -> str | None:
    """A JSON-LD value as text: strings as is, objects by their name/@value/@id."""
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return clean(str(value)) or None
    if isinstance(value, dict):
        for key in ("name", "@value", "url", "@id"):
            if value.get(key):
                return clean(str(value[key]))
    return None
