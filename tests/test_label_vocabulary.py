"""One label vocabulary for text and HTML (issue 20): a field label the text reader knows is known
to the HTML detail parser too, whatever the field's Drupal machine name.

The pages are written here, on the structure of the sites' detail pages (SOURCES.md 2.3, 3.3, 4.3):
Drupal 8 (MP, R&R: `field--name-*`, `field__label` / `field__item`, labels in the interface's
language) and Drupal 7 (the bookstore: `field-name-*`, `field-label` with a colon and a no-break
space, labels in English). Machine names are ones the parser has no table entry for, so only the
printed label can say which field a value is. Expected values are read off the pages by hand.
"""

from __future__ import annotations

from typing import Any

import pytest

from parsers import html_detail, text_detail

RR = "https://returnandreintegration.iom.int"
MP = "https://migrantprotection.iom.int"
PUB = "https://publications.iom.int"


def _d8_field(machine: str, label: str, *values: str) -> str:
    items = "".join(f'<div class="field__item">{v}</div>' for v in values)
    if len(values) > 1:
        items = f'<div class="field__items">{items}</div>'
    return (
        f'<div class="field field--name-field-{machine} field--type-string field--label-inline">'
        f'<div class="field__label">{label}</div>{items}</div>'
    )


def _d8_page(lang: str, title: str, fields: str, body: str) -> bytes:
    return f"""<!DOCTYPE html>
<html lang="{lang}" dir="ltr"><head><meta charset="utf-8"><title>{title} | Plataforma</title></head>
<body class="path-node page-node-type-resource">
<a href="#main-content" class="visually-hidden focusable skip-link">Pasar al contenido principal</a>
<main role="main"><a id="main-content" tabindex="-1"></a>
<h1 class="page-title"><span class="field field--name-title field--type-string">{title}</span></h1>
<article role="article" class="node node--type-resource node--view-mode-full"><div class="node__content">
{fields}
<div class="clearfix text-formatted field field--name-body field--type-text-with-summary field--label-hidden
 field__item"><p>{body}</p></div>
</div></article></main></body></html>""".encode()


def test_an_rr_page_in_spanish_gives_the_fields_its_labels_name() -> None:
    """Every label here was known to the text reader only, before the one vocabulary."""
    url = f"{RR}/es/resources/guideline/guia-de-reintegracion-sostenible"
    english = f"{RR}/en/resources/guideline/sustainable-reintegration-guide"
    fields = "".join(
        [
            _d8_field("tipo-recurso", "Tipo de recurso", "Directriz"),
            _d8_field("anio-publicacion", "Año de publicación", "2021"),
            _d8_field("paginas", "Páginas", "84"),
            _d8_field("idioma", "Idioma", "Español"),
            _d8_field("isbn-impreso", "ISBN (impreso)", "978-92-9268-512-6"),
            _d8_field("isbn-digital", "ISBN (PDF)", "978-92-9268-513-3"),
            _d8_field("temas", "Temas", "Reintegración", "Retorno"),
            _d8_field("autores", "Autores", "Ana Pérez", "Jean Martin"),
            _d8_field("numero-referencia", "Número de referencia", "PUB2021/045/R"),
            _d8_field("otras-ediciones", "Disponible también en", f'<a href="{english}" hreflang="en">English</a>'),
        ]
    )
    body = (
        "Esta guía reúne lo aprendido por los equipos de reintegración en tres regiones y propone pasos "
        "concretos para que los programas acompañen a las personas que regresan."
    )
    page = html_detail.parse(_d8_page("es", "Guía de reintegración sostenible", fields, body), url)

    assert not page.problems
    (record,) = page.records
    assert record["title"] == "Guía de reintegración sostenible"
    assert record["year"] == 2021
    assert record["page_count"] == 84
    assert record["isbn"] == ["978-92-9268-512-6"]
    assert record["eisbn"] == ["978-92-9268-513-3"]
    assert record["text_language"] == "Español"
    assert record["edition_links"] == [english]
    assert record["languages"] == ["Español", "English"]
    assert record["extra"]["type"] == "Directriz"
    assert record["extra"]["topics"] == "Reintegración, Retorno"
    assert record["extra"]["authors"] == "Ana Pérez, Jean Martin"
    assert record["extra"]["reference_number"] == "PUB2021/045/R"
    assert page.page_info["fields"]["year"] == "field markup"


def test_a_bookstore_page_dates_its_publication_by_its_publication_date() -> None:
    """The bookstore's Drupal 7 markup, labels in English: a "Publication date" gives the year, as
    it does in the text reader; "Upload date", "Thematic areas" and "Organizations" are kept."""
    url = f"{PUB}/books/migrant-resource-centres-handbook"

    def d7(machine: str, label: str, value: str) -> str:
        return (
            f'<div class="field field-name-field-{machine} field-type-text field-label-above">'
            f'<div class="field-label">{label}:&nbsp;</div><div class="field-items">'
            f'<div class="field-item even">{value}</div></div></div>'
        )

    body = f"""<!DOCTYPE html><html lang="en"><head><title>Migrant Resource Centres Handbook | IOM Online
Bookstore</title></head><body class="html not-front page-node node-type-book"><div id="page">
<div id="content" class="column"><h1 class="title" id="page-title">Migrant Resource Centres Handbook</h1>
<div id="node-5321" class="node node-book node-full">
{d7("date-published", "Publication date", "15 March 2019")}
{d7("uploaded", "Upload date", "2 Apr 2019")}
{d7("thematic", "Thematic areas", "Labour migration")}
{d7("orgs", "Organizations", "International Organization for Migration (IOM)")}
<div class="field field-name-body field-type-text-with-summary field-label-hidden"><div class="field-items">
<div class="field-item even"><p>This handbook explains how a migrant resource centre is set up, staffed and
run, with forms and checklists that centres in four countries have used.</p></div></div></div>
</div></div></div></body></html>""".encode()
    (record,) = html_detail.parse(body, url).records

    assert record["title"] == "Migrant Resource Centres Handbook"
    assert record["year"] == 2019
    assert record["extra"]["date_of_upload"] == "2 Apr 2019"
    assert record["extra"]["topics"] == "Labour migration"
    assert record["extra"]["organisation"] == "International Organization for Migration (IOM)"


#: (label as printed, its value, Drupal machine name, record field, the value it gives); en, es, fr
LABELLED = [
    ("Año de publicación", "2021", "anio", "year", 2021),
    ("Année de publication", "2020", "annee", "year", 2020),
    ("Páginas", "84", "paginas", "page_count", 84),
    ("ISBN (impreso)", "978-92-9268-512-6", "isbn-impreso", "isbn", ["978-92-9268-512-6"]),
    ("ISBN (PDF)", "978-92-9268-513-3", "isbn-en-linea", "eisbn", ["978-92-9268-513-3"]),
    ("Idioma", "Español", "idioma", "text_language", "Español"),
    ("Langue d'origine", "Français", "langue-origine", "text_language", "Français"),
    ("Thematic areas", "Return", "thematic", "extra.topics", "Return"),
    ("Thèmes", "Retour", "themes", "extra.topics", "Retour"),
    ("Autores", "Ana Pérez", "autores", "extra.authors", "Ana Pérez"),
    ("Numéro de référence", "PUB2020/012/F", "reference", "extra.reference_number", "PUB2020/012/F"),
    ("Collection", "Knowledge Bites", "collection", "extra.series", "Knowledge Bites"),
    ("Regiones", "Europa", "regiones", "extra.region", "Europa"),
    ("Organizations", "IOM", "orgs", "extra.organisation", "IOM"),
    ("Tipo de recurso", "Directriz", "tipo", "extra.type", "Directriz"),
    ("Editorial", "OIM", "editorial", "extra.publisher", "OIM"),
    ("Last updated", "2 May 2024", "changed", "extra.last_updated", "2 May 2024"),
]
TITLE = "Guide to Sustainable Reintegration"
BODY = (
    "This guide brings together what reintegration teams learnt in three regions and proposes concrete "
    "steps for programmes that support people who return."
)


def _field(record: dict[str, Any], name: str) -> Any:
    return record.get("extra", {}).get(name.removeprefix("extra.")) if name.startswith("extra.") else record.get(name)


@pytest.mark.parametrize(("label", "value", "machine", "name", "expected"), LABELLED, ids=[c[0] for c in LABELLED])
def test_a_label_gives_the_same_field_in_a_text_dump_and_in_html(
    label: str, value: str, machine: str, name: str, expected: Any
) -> None:
    url = f"{MP}/en/resources/guideline/guide-sustainable-reintegration"
    text = f"{TITLE}\n\n{label}\n{value}\n\n{BODY}\n".encode()
    html = _d8_page("en", TITLE, _d8_field(machine, label, value), BODY)

    from_text = text_detail.parse(text, url).records[0]
    from_html = html_detail.parse(html, url).records[0]

    assert _field(from_text, name) == expected
    assert _field(from_html, name) == expected
