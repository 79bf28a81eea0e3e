"""Render the replica's pages (HTML, robots.txt, sitemap.xml, PDFs) from items; no I/O here.

Three markups on purpose, so parsers cannot lean on one site's classes: MP and R&R share a
Drupal 8+ theme (`field--name-*`, `pager__item`; MP prints its fields unlabelled, R&R labelled),
publications.iom.int a Drupal 7 one (`field-name-*`, `views-field-*`, `pager-next`). A "changed"
rendering keeps the content and drops every one of those classes and the embedded metadata, as a
redesign would.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html import escape
from typing import Any

from tests.replica.dataset import AUTONYMS, LANGUAGE_NAMES, PUB, Section, SiteSpec, drupal_trim, strip_prefix

IOM = "International Organization for Migration (IOM)"
UI: dict[str, dict[str, str]] = {
    "en": {
        "skip": "Skip to main content",
        "attachment": "Attachment",
        "size": "Size",
        "type": "Type",
        "region": "Region",
        "organization": "Organization",
        "year": "Year",
        "series": "Publication Series",
        "countries": "Countries",
        "search": "Search",
        "login": "Log in",
        "empty": "No results found.",
        "read_more": "Read more",
        "next": "Next page",
        "last": "Last page",
        "first": "First page",
        "previous": "Previous page",
        "updated": "Last updated",
    },
    "es": {
        "skip": "Pasar al contenido principal",
        "attachment": "Adjunto",
        "size": "Tamaño",
        "type": "Tipo",
        "region": "Región",
        "organization": "Organización",
        "year": "Año",
        "series": "Serie de publicaciones",
        "countries": "Países",
        "search": "Buscar",
        "login": "Iniciar sesión",
        "empty": "No se encontraron resultados.",
        "read_more": "Leer más",
        "next": "Página siguiente",
        "last": "Última página",
        "first": "Primera página",
        "previous": "Página anterior",
        "updated": "Última actualización",
    },
    "fr": {
        "skip": "Aller au contenu principal",
        "attachment": "Pièce jointe",
        "size": "Taille",
        "type": "Type",
        "region": "Région",
        "organization": "Organisation",
        "year": "Année",
        "series": "Série de publications",
        "countries": "Pays",
        "search": "Rechercher",
        "login": "Se connecter",
        "empty": "Aucun résultat.",
        "read_more": "Lire la suite",
        "next": "Page suivante",
        "last": "Dernière page",
        "first": "Première page",
        "previous": "Page précédente",
        "updated": "Dernière mise à jour",
    },
}
ORG_NAMES = {
    IOM: {
        "es": "Organización Internacional para las Migraciones",
        "fr": "Organisation Internationale pour les Migrations",
    }
}
MONTHS = {
    "en": ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"],
    "es": ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"],
    "fr": ["janv", "févr", "mars", "avr", "mai", "juin", "juil", "août", "sept", "oct", "nov", "déc"],
}
OG_DESCRIPTION_MAX = 200
BOOKSTORE_TEASER_MAX = 400


@dataclass
class SiteView:
    """What a page of one site needs to know: its spec, address, items and listing sizes."""

    spec: SiteSpec
    base_url: str
    page_size: int
    crawl_delay: float
    items: list[dict[str, Any]] = field(default_factory=list)  # newest first

    def section_items(self, section: Section) -> list[dict[str, Any]]:
        return [i for i in self.items if section.key in i["sites"][self.spec.name].get("sections", [])]

    def last_page(self, section: Section) -> int:
        count = len(self.section_items(section))
        return max(0, (count - 1) // self.page_size)

    def href(self, item: dict[str, Any], lang: str | None = None) -> str:
        """The item's path on this site, re-rendered under interface `lang` when given."""
        path = item["sites"][self.spec.name]["path"]
        if lang is None:
            return path
        alias, _ = strip_prefix(path)
        if not self.spec.prefixed and lang == "en":
            return alias
        return f"/{lang}{alias}"

    def absolute(self, path: str) -> str:
        return self.base_url + path

    def editions(self, item: dict[str, Any]) -> list[dict[str, Any]]:
        """Other language editions of the same work on this site (separate nodes, own slugs)."""
        return [
            other
            for other in self.items
            if other["work_key"] == item["work_key"]
            and other["edition_key"] != item["edition_key"]
            and self.spec.name in other["sites"]
        ]


# --- shared page chrome ----------------------------------------------------------------------


def _page(
    view: SiteView,
    *,
    lang: str,
    title: str,
    main: str,
    head: str = "",
    body_class: str = "",
    switcher_path: str | None = None,
    changed: bool = False,
) -> str:
    ui = UI[lang]
    spec = view.spec
    home = "/" if not spec.prefixed else f"/{lang}"
    nav = "".join(
        f'<li class="menu-item"><a href="{escape(s.path)}">{escape(s.heading)}</a></li>'
        for s in spec.sections
        if s.lang == lang or (s.lang == "en" and lang != "es")
    )
    switcher = ""
    if switcher_path is not None:
        alias, _ = strip_prefix(switcher_path)
        links = []
        for code in ("en", "es", "fr"):
            target = alias if (code == "en" and not spec.prefixed) else f"/{code}{alias}"
            active = " is-active" if code == lang else ""
            links.append(
                f'<li hreflang="{code}" class="{code}{active}"><a href="{escape(target)}" class="language-link"'
                f' hreflang="{code}">{AUTONYMS[code]}</a></li>'
            )
        switcher = (
            '<div class="language-switcher-language-url" role="navigation"><ul class="links">'
            + "".join(links)
            + "</ul></div>"
        )
    if changed:
        return (
            f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8"><title>{escape(title)} - '
            f"{escape(spec.title)}</title></head><body>"
            f'<a href="#content" class="sr-only">{escape(ui["skip"])}</a>'
            f'<div class="app-shell"><div class="topbar"><a href="{home}">{escape(spec.title)}</a>'
            f'<a href="/search/node?keys=">{escape(ui["search"])}</a></div>'
            f'<div id="content" class="app-content">{main}</div>'
            f'<div class="bottombar">© International Organization for Migration</div></div></body></html>'
        )
    return (
        f'<!DOCTYPE html>\n<html lang="{lang}" dir="ltr">\n<head>\n<meta charset="utf-8">\n'
        f'<meta name="viewport" content="width=device-width, initial-scale=1.0">\n'
        f"<title>{escape(title)} | {escape(spec.title)}</title>\n{head}</head>\n"
        f'<body class="{body_class}">\n'
        f'<a href="#main-content" class="visually-hidden focusable skip-link">{escape(ui["skip"])}</a>\n'
        f'<div class="dialog-off-canvas-main-canvas">\n<header role="banner" class="site-header">'
        f'<a href="{home}" rel="home" class="site-logo">{escape(spec.title)}</a>'
        f'<nav role="navigation" aria-label="Main navigation" class="menu--main"><ul class="menu">{nav}</ul></nav>'
        f'<form action="/search/node" method="get" class="search-block-form"><input type="search" name="keys">'
        f'<a href="/search/node?keys=" class="search-link">{escape(ui["search"])}</a></form>'
        f'<a href="/user/login" class="user-login">{escape(ui["login"])}</a>{switcher}</header>\n'
        f'<main role="main" id="main-content" class="main-content">\n{main}\n</main>\n'
        f'<footer role="contentinfo" class="site-footer"><p>© International Organization for Migration</p>'
        f'<a href="{home}/about">About</a></footer>\n</div>\n</body>\n</html>\n'
    )


# --- listings --------------------------------------------------------------------------------


def render_listing(view: SiteView, section: Section, page: int, *, changed: bool = False) -> str:
    """One page of a listing, newest first, `page` 0-based; past the end: an empty listing."""
    items = view.section_items(section)
    size = view.page_size
    shown = items[page * size : page * size + size] if page >= 0 else []
    last = view.last_page(section)
    lang = section.lang
    bookstore = view.spec.theme == "bookstore"
    if changed:
        cards = "".join(_changed_card(view, item, section) for item in shown)
        pager = _changed_pager(section, page, last, lang) if shown else ""
        main = (
            f'<h2 class="listing-heading">{escape(section.heading)}</h2>'
            f'<section class="results">{cards or "<p>" + escape(UI[lang]["empty"]) + "</p>"}</section>{pager}'
        )
        return _page(view, lang=lang, title=section.heading, main=main, changed=True)
    if bookstore:
        rows = "".join(_bookstore_card(view, item, n, len(shown)) for n, item in enumerate(shown))
        pager = _d7_pager(section, page, last) if shown and last > 0 else ""
        content = (
            f'<div class="view-content">{rows}</div>' if rows else '<div class="view-empty"><p>No results.</p></div>'
        )
        main = (
            f'<h1 class="page-header">{escape(section.heading)}</h1>'
            f'<div class="view view-search-books view-id-search_books view-display-id-page">{content}{pager}</div>'
        )
        body_class = "page-search-books"
    else:
        rows = "".join(_acsf_card(view, item, section) for item in shown)
        pager = _d8_pager(page, last, lang) if shown and last > 0 else ""
        content = (
            f'<div class="view-content">{rows}</div>'
            if rows
            else f'<div class="view-empty">{escape(UI[lang]["empty"])}</div>'
        )
        main = (
            f'<h1 class="page-title">{escape(section.heading)}</h1>'
            f'<div class="views-element-container"><div class="view view-resources view-id-resources '
            f'view-display-id-page_1 js-view-dom-id-resources">{content}{pager}</div></div>'
        )
        body_class = "path-resources"
    return _page(view, lang=lang, title=section.heading, main=main, body_class=body_class, switcher_path=section.path)


def teaser(item: dict[str, Any], max_length: int = 260) -> str:
    """What a listing card shows: the seed's teaser as seen, Drupal's trim, or a news lead."""
    if item["kind"] == "news":
        return item["abstract"].split("\n\n")[0]
    if item.get("teaser") and max_length == 260:
        return item["teaser"]
    return drupal_trim(item["abstract"], max_length)[0]


def _org(name: str, lang: str) -> str:
    return ORG_NAMES.get(name, {}).get(lang, name)


def _acsf_card(view: SiteView, item: dict[str, Any], section: Section) -> str:
    lang = section.lang
    href = view.href(item, lang if lang != "en" else None)
    node_type = "article" if item["kind"] == "news" else "resource"
    parts = [
        f'<h3 class="node__title"><a href="{escape(href)}" rel="bookmark" hreflang="{item["text_language"]}">'
        f'<span class="field field--name-title field--type-string field--label-hidden">{escape(item["title"])}'
        "</span></a></h3>"
    ]
    if item.get("caption"):
        parts.append(
            '<figure class="field field--name-field-image field--type-image field--label-hidden">'
            f'<img src="/sites/default/files/styles/teaser/public/{item["nid"]}.jpg" alt="" loading="lazy">'
            f'<figcaption class="image-caption">{escape(item["caption"])}</figcaption></figure>'
        )
    meta = []
    if item["types"]:
        values = "".join(f'<div class="field__item">{escape(t)}</div>' for t in item["types"])
        meta.append(
            '<div class="field field--name-field-resource-type field--type-entity-reference '
            f'field--label-hidden field__items">{values}</div>'
        )
    if item.get("year"):
        meta.append(
            '<div class="field field--name-field-year field--type-integer field--label-hidden field__item">'
            f"{item['year']}</div>"
        )
    if item["organisations"]:
        meta.append(
            '<div class="field field--name-field-organization field--type-entity-reference field--label-hidden '
            f'field__item">{escape(_org(item["organisations"][0], lang))}</div>'
        )
    parts.append(f'<div class="node__meta">{"".join(meta)}</div>')
    parts.append(
        '<div class="clearfix text-formatted field field--name-body field--type-text-with-summary '
        f'field--label-hidden field__item"><p>{escape(teaser(item))}</p></div>'
    )
    return (
        f'<div class="views-row"><article role="article" class="node node--type-{node_type} '
        f'node--view-mode-teaser" data-history-node-id="{item["nid"]}">{"".join(parts)}</article></div>'
    )


def _bookstore_card(view: SiteView, item: dict[str, Any], n: int, count: int) -> str:
    href = view.href(item)
    classes = ["views-row", f"views-row-{n + 1}", "views-row-odd" if n % 2 == 0 else "views-row-even"]
    if n == 0:
        classes.append("views-row-first")
    if n == count - 1:
        classes.append("views-row-last")
    fields = [
        f'<div class="views-field views-field-title"><span class="field-content"><a href="{escape(href)}">'
        f"{escape(item['title'])}</a></span></div>"
    ]
    if item["types"]:
        fields.append(
            '<div class="views-field views-field-field-publication-type"><span class="views-label">Type: </span>'
            f'<div class="field-content">{escape(", ".join(item["types"]))}</div></div>'
        )
    if item.get("year"):
        fields.append(
            '<div class="views-field views-field-field-year-of-publication"><span class="views-label">'
            f'Year of Publication: </span><span class="field-content">{item["year"]}</span></div>'
        )
    text = teaser(item, BOOKSTORE_TEASER_MAX)
    more = f' <a href="{escape(href)}" class="views-more-link">Read more</a>' if text.endswith("...") else ""
    fields.append(
        f'<div class="views-field views-field-body"><div class="field-content">{escape(text)}{more}</div></div>'
    )
    return f'<div class="{" ".join(classes)}">{"".join(fields)}</div>'


def _changed_card(view: SiteView, item: dict[str, Any], section: Section) -> str:
    lang = section.lang
    href = view.href(item, lang if lang != "en" else None)
    bits = [f'<a class="result-card__link" href="{escape(href)}">{escape(item["title"])}</a>']
    if item.get("caption"):
        bits.append(f'<div class="result-card__credit">{escape(item["caption"])}</div>')
    for value in (", ".join(item["types"]), str(item.get("year") or ""), ", ".join(item["organisations"])):
        if value:
            bits.append(f'<div class="result-card__fact">{escape(value)}</div>')
    bits.append(f'<div class="result-card__excerpt">{escape(teaser(item))}</div>')
    return f'<div class="result-card">{"".join(bits)}</div>'


def _d8_pager(page: int, last: int, lang: str) -> str:
    ui = UI[lang]
    items = []
    if page > 0:
        items.append(
            f'<li class="pager__item pager__item--first"><a href="?page=0" title="Go to first page">'
            f'<span class="visually-hidden">{ui["first"]}</span><span aria-hidden="true">« First</span></a></li>'
        )
        items.append(
            f'<li class="pager__item pager__item--previous"><a href="?page={page - 1}" title="Go to previous page"'
            f' rel="prev"><span class="visually-hidden">{ui["previous"]}</span><span aria-hidden="true">‹‹</span>'
            "</a></li>"
        )
    for n in range(max(0, page - 4), min(last, page + 4) + 1):
        if n == page:
            items.append(
                f'<li class="pager__item is-active"><a href="?page={n}" title="Current page" aria-current="page">'
                f'<span class="visually-hidden">Current page</span>{n + 1}</a></li>'
            )
        else:
            items.append(f'<li class="pager__item"><a href="?page={n}" title="Go to page {n + 1}">{n + 1}</a></li>')
    if page < last:
        items.append(
            f'<li class="pager__item pager__item--next"><a href="?page={page + 1}" title="Go to next page" rel="next">'
            f'<span class="visually-hidden">{ui["next"]}</span><span aria-hidden="true">››</span></a></li>'
        )
        items.append(
            f'<li class="pager__item pager__item--last"><a href="?page={last}" title="Go to last page">'
            f'<span class="visually-hidden">{ui["last"]}</span><span aria-hidden="true">Last »</span></a></li>'
        )
    return (
        '<nav class="pager" role="navigation" aria-labelledby="pagination-heading">'
        '<h4 id="pagination-heading" class="visually-hidden">Pagination</h4>'
        f'<ul class="pager__items js-pager__items">{"".join(items)}</ul></nav>'
    )


def _d7_pager(section: Section, page: int, last: int) -> str:
    base = section.path
    items = []
    if page > 0:
        items.append(f'<li class="pager-first first"><a title="Go to first page" href="{base}">« first</a></li>')
        prev = base if page == 1 else f"{base}?page={page - 1}"
        items.append(f'<li class="pager-previous"><a title="Go to previous page" href="{prev}">‹ previous</a></li>')
    for n in range(max(0, page - 4), min(last, page + 4) + 1):
        if n == page:
            items.append(f'<li class="pager-current">{n + 1}</li>')
        else:
            target = base if n == 0 else f"{base}?page={n}"
            items.append(f'<li class="pager-item"><a title="Go to page {n + 1}" href="{target}">{n + 1}</a></li>')
    if page < last:
        items.append(f'<li class="pager-next"><a title="Go to next page" href="{base}?page={page + 1}">next ›</a></li>')
        items.append(
            f'<li class="pager-last last"><a title="Go to last page" href="{base}?page={last}">last »</a></li>'
        )
    return (
        f'<h2 class="element-invisible">Pages</h2><div class="item-list"><ul class="pager">{"".join(items)}</ul></div>'
    )


def _changed_pager(section: Section, page: int, last: int, lang: str) -> str:
    links = []
    if page < last:
        links.append(f'<a class="paginator__link" href="{section.path}?page={page + 1}">{UI[lang]["next"]}</a>')
        links.append(f'<a class="paginator__link" href="{section.path}?page={last}">{UI[lang]["last"]}</a>')
    return f'<div class="paginator">{"".join(links)}</div>'


# --- detail pages ----------------------------------------------------------------------------


def render_detail(view: SiteView, item: dict[str, Any], lang: str, path: str, *, changed: bool = False) -> str:
    """An item's page under interface `lang`; the requested `path` is its canonical address."""
    if changed:
        return _page(view, lang=lang, title=item["title"], main=_changed_detail(view, item, lang), changed=True)
    head = _detail_head(view, item, lang, path)
    if view.spec.theme == "bookstore":
        main = _bookstore_detail(view, item, lang)
        body_class = "node-type-book"
    else:
        main = _acsf_detail(view, item, lang)
        body_class = "path-node page-node-type-" + ("article" if item["kind"] == "news" else "resource")
    return _page(view, lang=lang, title=item["title"], main=main, head=head, body_class=body_class, switcher_path=path)


def _paragraphs(text: str) -> str:
    out = []
    for block in text.split("\n\n"):
        lines = [line for line in block.split("\n") if line.strip()]
        bullets = [line[2:] for line in lines if line.startswith("- ")]
        prose = [line for line in lines if not line.startswith("- ")]
        if prose:
            out.append(f"<p>{escape(' '.join(prose))}</p>")
        if bullets:
            out.append("<ul>" + "".join(f"<li>{escape(b)}</li>" for b in bullets) + "</ul>")
    return "".join(out)


def _pdf_path(view: SiteView, pdf: dict[str, str]) -> str:
    return view.spec.files_dir + pdf["file"]


def _d8_field(name: str, values: Iterable[str], label: str | None = None, *, inline: bool = False) -> str:
    values = [v for v in values if v]
    if not values:
        return ""
    display = "field--label-hidden" if label is None else ("field--label-inline" if inline else "field--label-above")
    label_html = f'<div class="field__label">{escape(label)}</div>' if label else ""
    if len(values) == 1:
        inner = f'<div class="field__item">{escape(values[0])}</div>'
    else:
        inner = '<div class="field__items">' + "".join(f'<div class="field__item">{escape(v)}</div>' for v in values)
        inner += "</div>"
    return f'<div class="field field--name-field-{name} field--type-string {display}">{label_html}{inner}</div>'


def _acsf_detail(view: SiteView, item: dict[str, Any], lang: str) -> str:
    ui = UI[lang]
    labelled = view.spec.labelled
    title = escape(item["title"])
    parts = [f'<h1 class="page-title"><span class="field field--name-title field--type-string">{title}</span></h1>']
    if labelled or item["kind"] == "news":
        parts.append(f'<h2 class="node__title">{title}</h2>')  # R&R and articles print the title twice
    if item["kind"] == "news":
        if item.get("caption"):
            parts.append(
                '<figure class="field field--name-field-image"><img src="/sites/default/files/'
                f'{item["nid"]}.jpg" alt=""><figcaption>{escape(item["caption"])}</figcaption></figure>'
            )
        parts.append(
            '<div class="clearfix text-formatted field field--name-body field--type-text-with-summary '
            f'field--label-hidden field__item">{_paragraphs(item["abstract"])}</div>'
        )
        node = (
            f'<article role="article" class="node node--type-article node--view-mode-full">{"".join(parts)}</article>'
        )
        return node
    alt = item.get("image_alt") or f"{item['year']}, IOM, {item['title']}"
    parts.append(
        '<div class="field field--name-field-image field--type-image field--label-hidden field__item">'
        f'<img src="/sites/default/files/styles/cover/public/{item["nid"]}.png" alt="{escape(alt)}"></div>'
    )
    orgs = [_org(o, lang) for o in item["organisations"]]
    if labelled:
        parts.append(_d8_field("resource-type", item["types"], ui["type"]))
        parts.append(_d8_field("region", [", ".join(item["regions"])], ui["region"]))
        parts.append(_d8_field("countries", [", ".join(item["countries"])], ui["countries"]))
        parts.append(_d8_field("organization", orgs, ui["organization"]))
        parts.append(_d8_field("year", [str(item["year"] or "")], ui["year"], inline=True))
    else:
        if item["nid"] % 2 == 0:  # MP prints the type term only sometimes (SOURCES.md 3.3)
            parts.append(_d8_field("resource-type", item["types"]))
        parts.append(_d8_field("countries", [", ".join(item["countries"])]))
        parts.append(_d8_field("region", [", ".join(item["regions"])]))
        parts.append(_d8_field("organization", orgs))
    if item.get("series"):
        parts.append(_d8_field("publication-series", [item["series"]], ui["series"]))
    parts.append(
        '<div class="clearfix text-formatted field field--name-body field--type-text-with-summary '
        f'field--label-hidden field__item">{_paragraphs(item["abstract"])}</div>'
    )
    if item.get("revision"):
        parts.append(_d8_field("last-updated", [item["changed"][:10]], ui["updated"], inline=True))
    if item["pdfs"]:
        rows = "".join(
            f'<tr><td><span class="file file--mime-application-pdf file--application-pdf">'
            f'<a href="{escape(_pdf_path(view, pdf))}" type="application/pdf">{escape(pdf["label"])}</a></span></td>'
            f"<td>{escape(pdf['size'].replace('KB', 'Ko') if lang == 'fr' else pdf['size'])}</td></tr>"
            for pdf in item["pdfs"]
        )
        parts.append(
            '<div class="field field--name-field-attachments field--type-file field--label-hidden">'
            f'<table data-striping="1"><thead><tr><th>{ui["attachment"]}</th><th>{ui["size"]}</th></tr></thead>'
            f"<tbody>{rows}</tbody></table></div>"
        )
    return (
        f'<article role="article" class="node node--type-resource node--view-mode-full" '
        f'data-history-node-id="{item["nid"]}"><div class="node__content">{"".join(parts)}</div></article>'
    )


def _d7_field(name: str, label: str | None, values: list[str], *, raw: bool = False) -> str:
    label_html = f'<div class="field-label">{escape(label)}:&nbsp;</div>' if label else ""
    items = "".join(
        f'<div class="field-item {"even" if n % 2 else "odd"}">{v if raw else escape(v)}</div>'
        for n, v in enumerate(values)
    )
    display = "field-label-above" if label else "field-label-hidden"
    return (
        f'<div class="field field-name-field-{name} {display}">{label_html}<div class="field-items">{items}</div></div>'
    )


def upload_date(item: dict[str, Any], lang: str) -> str:
    raw = item.get("changed") if item.get("revision") else None
    day = datetime.strptime((raw or item.get("upload") or item["created"])[:10], "%Y-%m-%d")
    return f"{day.day:02d} {MONTHS[lang][day.month - 1]} {day.year}"


def _bookstore_detail(view: SiteView, item: dict[str, Any], lang: str) -> str:
    empty = set(item.get("empty_labels", []))
    facts: list[tuple[str, str, list[str]]] = [
        ("original-language", "Original Language", [LANGUAGE_NAMES.get(item["text_language"], "")]),
        ("issn", "ISSN", [item.get("issn") or ""]),
        ("number-of-pages", "Number of Pages", [item.get("pages_text") or str(item.get("page_count") or "")]),
        ("reference-number", "Reference Number", [item.get("reference_number") or ""]),
        ("isbn", "ISBN", item["isbn"]),
        ("e-isbn", "e-ISBN", item["eisbn"]),
        ("year-of-publication", "Year of Publication", [str(item.get("year") or "")]),
        ("publication-series", "Publication Series", [item.get("series") or ""]),
        ("publication-type", "Type", item["types"]),
        ("languages", "Languages", [", ".join(item["languages"])] if len(item["languages"]) > 1 else []),
    ]
    blocks = []
    for name, label, values in facts:
        values = [v for v in values if v]
        if label in empty:
            blocks.append(_d7_field(name, label, []))
        elif values:
            blocks.append(_d7_field(name, label, values))
    date = f'<span class="date-display-single">{upload_date(item, lang)}</span>'
    blocks.append(_d7_field("date-of-upload", "Date of upload", [date], raw=True))
    parts = [
        f'<div class="book-cover"><img src="/sites/default/files/covers/{item["nid"]}.jpg" alt="alt"></div>',
        f'<div class="book-details">{"".join(blocks)}</div>',
        f'<h1 class="page-header">{escape(item["title"])}</h1>',
    ]
    if item.get("subtitle"):
        parts.append(_d7_field("subtitle", None, [item["subtitle"]]))
    parts.append(
        '<div class="field field-name-body field-type-text-with-summary field-label-hidden"><div class="field-items">'
        f'<div class="field-item even" property="content:encoded">{_paragraphs(item["abstract"])}</div></div></div>'
    )
    if item.get("toc"):
        toc = "<ul>" + "".join(f"<li>{escape(t)}</li>" for t in item["toc"]) + "</ul>"
        parts.append(_d7_field("table-of-contents", None, [toc], raw=True))
    editions = view.editions(item)
    if editions:
        links = [
            f'<a href="{escape(view.href(e))}" hreflang="{e["text_language"]}">{AUTONYMS[e["text_language"]]}</a>'
            for e in editions
        ]
        parts.append(_d7_field("also-available-in", "Also available in", links, raw=True))
    for pdf in item["pdfs"]:
        parts.append(
            f'<div class="download-links"><a class="btn btn-download" href="{escape(_pdf_path(view, pdf))}" '
            f'type="application/pdf">{escape(pdf["label"])}</a></div>'
        )
    return f'<div id="node-{item["nid"]}" class="node node-book node-full clearfix">{"".join(parts)}</div>'


def _changed_detail(view: SiteView, item: dict[str, Any], lang: str) -> str:
    facts = [
        ("Year", str(item.get("year") or "")),
        ("Type", ", ".join(item["types"])),
        ("Organization", ", ".join(item["organisations"])),
        ("Original Language", LANGUAGE_NAMES.get(item["text_language"], "")),
        ("Number of Pages", str(item.get("page_count") or "")),
        ("ISBN", ", ".join(item["isbn"])),
    ]
    rows = "".join(f"<li><strong>{escape(k)}:</strong> {escape(v)}</li>" for k, v in facts if v)
    pdfs = "".join(f'<a href="{escape(_pdf_path(view, p))}">{escape(p["label"])}</a>' for p in item["pdfs"])
    return (
        f'<div class="pub"><h2 class="pub__heading">{escape(item["title"])}</h2><ul class="pub__facts">{rows}</ul>'
        f'<div class="pub__text">{_paragraphs(item["abstract"])}</div><div class="pub__files">{pdfs}</div></div>'
    )


# --- embedded metadata -----------------------------------------------------------------------


def _detail_head(view: SiteView, item: dict[str, Any], lang: str, path: str) -> str:
    canonical = view.absolute(path)
    tags = [f'<link rel="canonical" href="{escape(canonical)}">']
    alias, _ = strip_prefix(path)
    if view.spec.theme == "bookstore":
        editions = view.editions(item)
        if editions:
            own = escape(view.absolute(view.href(item)))
            tags.append(f'<link rel="alternate" hreflang="{item["text_language"]}" href="{own}">')
            for e in editions:
                tags.append(
                    f'<link rel="alternate" hreflang="{e["text_language"]}" '
                    f'href="{escape(view.absolute(view.href(e)))}">'
                )
    else:
        for code in ("en", "es", "fr"):
            tags.append(f'<link rel="alternate" hreflang="{code}" href="{escape(view.absolute(f"/{code}{alias}"))}">')
        tags.append(f'<link rel="alternate" hreflang="x-default" href="{escape(view.absolute(f"/en{alias}"))}">')
    meta = set(item.get("metadata", []))
    abstract = " ".join(item["abstract"].split())
    year = str(item["year"]) if item.get("year") else None
    pdf_urls = [view.absolute(_pdf_path(view, p)) for p in item["pdfs"]]
    org = item["organisations"][0] if item["organisations"] else None
    if "jsonld" in meta:
        node: dict[str, Any] = {
            "@type": "NewsArticle" if item["kind"] == "news" else ("Book" if item["isbn"] else "Report"),
            "@id": canonical,
            "name" if item["kind"] != "news" else "headline": item["title"],
            "description": abstract,
            "inLanguage": item["text_language"],
            "url": canonical,
        }
        if year:
            node["datePublished"] = year
        if item.get("page_count"):
            node["numberOfPages"] = item["page_count"]
        if item["isbn"]:
            node["isbn"] = item["isbn"][0]
        if org:
            node["publisher"] = {"@type": "Organization", "name": org}
        if pdf_urls:
            node["encoding"] = [
                {"@type": "MediaObject", "contentUrl": u, "encodingFormat": "application/pdf"} for u in pdf_urls
            ]
        translations = [view.absolute(view.href(e)) for e in view.editions(item)] if view.spec.name == PUB else []
        if translations:
            node["workTranslation"] = [{"@id": u} for u in translations]
        payload = json.dumps({"@context": "https://schema.org", "@graph": [node]}, ensure_ascii=False)
        payload = payload.replace("</", "<\\/")
        tags.append(f'<script type="application/ld+json">{payload}</script>')
    if "dc" in meta:
        ns = "DC" if view.spec.theme == "bookstore" else "dcterms"
        dc = [("title", item["title"]), ("description", abstract), ("language", item["text_language"])]
        if year:
            dc.append(("date", year))
        dc += [("identifier", f"ISBN {i}") for i in item["isbn"]]
        if org:
            dc.append(("publisher", org))
        dc += [("type", t) for t in item["types"]]
        tags += [f'<meta name="{ns}.{k}" content="{escape(v)}">' for k, v in dc]
    if "citation" in meta:
        cit = [("citation_title", item["title"]), ("citation_language", item["text_language"])]
        if year:
            cit.append(("citation_publication_date", year))
        if org:
            cit.append(("citation_publisher", org))
        cit += [("citation_isbn", i) for i in item["isbn"]]
        cit += [("citation_pdf_url", u) for u in pdf_urls]
        cit.append(("citation_abstract", abstract))
        tags += [f'<meta name="{k}" content="{escape(v)}">' for k, v in cit]
    if "og" in meta:
        og_type = "article" if item["kind"] == "news" else ("book" if view.spec.theme == "bookstore" else "website")
        og = [
            ("og:site_name", view.spec.title),
            ("og:type", og_type),
            ("og:url", canonical),
            ("og:title", item["title"]),
            ("og:description", drupal_trim(abstract, OG_DESCRIPTION_MAX)[0]),
            ("og:locale", {"en": "en_US", "es": "es_ES", "fr": "fr_FR"}[lang]),
        ]
        tags += [f'<meta property="{k}" content="{escape(v)}">' for k, v in og]
    return "\n".join(tags) + "\n"


# --- the rest: robots, sitemap, files, plain pages ---------------------------------------------

DISALLOWED = ("/admin/", "/search/", "/user/", "/node/add/")


def render_robots(view: SiteView) -> str:
    lines = [
        "# robots.txt for the replica of " + view.spec.name,
        "",
        "User-agent: *",
        f"Crawl-delay: {view.crawl_delay:g}",
    ]
    lines += [f"Disallow: {p}" for p in DISALLOWED]
    lines += ["", f"Sitemap: {view.base_url}/sitemap.xml", ""]
    return "\n".join(lines)


def render_sitemap(view: SiteView) -> str:
    urls = []
    for item in view.items:
        lastmod = (item.get("changed") or item["created"])[:10]
        urls.append(f"<url><loc>{escape(view.absolute(view.href(item)))}</loc><lastmod>{lastmod}</lastmod></url>")
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n' + "\n".join(urls) + "\n</urlset>\n"
    )


def render_pdf(item: dict[str, Any], pdf: dict[str, str]) -> bytes:
    title = item["title"].encode("ascii", "replace").decode("ascii").replace("(", "[").replace(")", "]")
    return (
        f"%PDF-1.4\n% replica of {pdf['file']}\n1 0 obj << /Type /Catalog /Title ({title}) >> endobj\n"
        "trailer << /Root 1 0 R >>\n%%EOF\n"
    ).encode("ascii")


def render_plain(view: SiteView, lang: str, title: str, message: str) -> str:
    main = f'<h1 class="page-title">{escape(title)}</h1><p>{escape(message)}</p>'
    return _page(view, lang=lang, title=title, main=main)


def http_date(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")
