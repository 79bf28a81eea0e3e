"""Render a gathered Report as one self-contained HTML page: inline CSS, inline SVG, no script.

Titles, abstracts, URLs and reasons in the warehouse come from web pages nobody here controls,
so every value goes through `esc` on its way into the page, and the only unescaped text is
markup written in this module (an `Html` value). A Content-Security-Policy that allows no
script and no network load is a second fence: a mistake in escaping shows as text, not as code,
and the page cannot fetch anything when opened (it must work offline, from a mail attachment).
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence

from pipeline.charts import bar_chart, column_chart
from pipeline.report_data import LIST_LIMIT, ChangeItem, Report

#: one line per dedup rule, for readers who have not read pipeline/dedup/README.md
RULES = {
    "pin": "a person pinned the two together in overrides.toml",
    "same_url": "the same page (one canonical URL)",
    "same_text": "the same abstract, word for word after normalising",
    "prefix": "a truncated teaser that is the start of the longer text",
    "paraphrase": "a close paraphrase with agreeing title, year and numbers",
    "edition_link": "a page links to the other language edition",
    "shared_isbn": "the same ISBN, corroborated by shared names and numbers",
    "shared_signals": "rare acronyms, numbers and names shared across languages",
    "shared_file_name": "the same PDF or page file name without its language marker",
    "same_teaser": "the same teaser shown for several editions of one work",
    "teaser_of_work": "an untitled teaser that matches every volume of one work",
    "similar_text": "texts that translate each other (multilingual sentence encoder)",
}
OPS = (("added", "New"), ("changed", "Changed"), ("withdrawn", "Gone"))

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"

CSS = """
:root { --ink: #1b2430; --muted: #5a6675; --line: #d9e0e8; --bg: #f6f8fa; --accent: #1f5fa6;
        --ok: #1d7a46; --warn: #a35c00; --bad: #b42318; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink);
       background: #fff; }
header { background: var(--bg); border-bottom: 1px solid var(--line); padding: 18px 28px 10px; }
header h1 { margin: 0 0 4px; font-size: 22px; }
header p { margin: 2px 0; color: var(--muted); }
nav ul { list-style: none; padding: 0; margin: 10px 0 0; display: flex; flex-wrap: wrap; gap: 4px 14px; }
nav a { color: var(--accent); text-decoration: none; }
nav a:hover, nav a:focus { text-decoration: underline; }
main { padding: 0 28px 40px; max-width: 1240px; }
section { border-bottom: 1px solid var(--line); padding: 8px 0 18px; }
h2 { font-size: 19px; margin: 18px 0 6px; }
h3 { font-size: 16px; margin: 16px 0 6px; }
p.note { color: var(--muted); margin: 4px 0 10px; font-size: 14px; }
.tiles { display: grid; grid-template-columns: repeat(auto-fill, minmax(150px, 1fr)); gap: 10px; margin: 12px 0; }
.tile { border: 1px solid var(--line); border-radius: 6px; padding: 8px 12px; background: #fff; }
.tile .value { font-size: 24px; font-weight: 650; display: block; }
.tile .label { color: var(--muted); font-size: 13px; }
.tile.bad .value { color: var(--bad); } .tile.warn .value { color: var(--warn); }
.figure { display: flex; flex-wrap: wrap; gap: 18px 28px; align-items: flex-start; }
.figure svg { max-width: 100%; height: auto; }
table { border-collapse: collapse; font-size: 14px; margin: 6px 0 10px; }
caption { text-align: left; font-weight: 600; padding: 4px 0; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 10px 4px 0; text-align: left; vertical-align: top; }
thead th { color: var(--muted); font-weight: 600; border-bottom: 2px solid var(--line); }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; padding-left: 10px; }
table.wide { width: 100%; }
.title { max-width: 640px; }
code, .id { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 12.5px; color: var(--muted); }
.derived { color: var(--muted); font-size: 12px; font-style: italic; }
.badge { display: inline-block; border-radius: 10px; padding: 0 8px; font-size: 12px; font-weight: 600;
         border: 1px solid currentColor; }
.badge.ok, .op-added { color: var(--ok); } .badge.warn, .op-changed { color: var(--warn); }
.badge.bad, .op-withdrawn { color: var(--bad); }
.examples { display: grid; grid-template-columns: repeat(auto-fill, minmax(360px, 1fr)); gap: 12px; }
article.example { border: 1px solid var(--line); border-radius: 6px; padding: 8px 12px; }
article.example h4 { margin: 2px 0 4px; font-size: 15px; }
article.example ul { margin: 4px 0; padding-left: 18px; }
article.example li { margin: 2px 0; }
.empty { color: var(--muted); font-style: italic; }
details summary { cursor: pointer; color: var(--accent); margin: 4px 0; }
.more { color: var(--muted); font-size: 13px; }
td[data-col="started"], td[data-col="id"] { white-space: nowrap; }
@media print { nav { display: none; } section { break-inside: avoid; } }
"""


class Html(str):
    """Markup written by this module: `esc` passes it through; everything else is escaped.

    `Html + text` escapes the text, so a forgotten `esc` shows markup as text instead of running it.
    """

    def __add__(self, other: object) -> Html:
        return Html(str.__add__(self, esc(other)))


def esc(value: object) -> Html:
    """Text for the page: escape it unless it is markup this module built."""
    if isinstance(value, Html):
        return value
    return Html(html.escape("" if value is None else str(value), quote=True))


def fmt(template: str, *args: object) -> Html:
    """Fill a markup template whose `{}` holes receive escaped values."""
    return Html(template.format(*(esc(a) for a in args)))


def join(parts: Iterable[object], sep: str = "") -> Html:
    return Html(sep.join(esc(p) for p in parts))


def num(value: int | float) -> Html:
    return Html(f"{value:,}")


def _safe_href(url: str | None) -> str | None:
    """Only http(s) links: a `javascript:` URL from a hostile page must not become a live link."""
    if url and url.lower().startswith(("http://", "https://")):
        return url
    return None


def _title(title: str | None, derived: bool = False, url: str | None = None) -> Html:
    text = esc(title) if title else Html('<span class="empty">(no title)</span>')
    href = _safe_href(url)
    if href:
        text = fmt('<a href="{}" rel="noreferrer noopener">{}</a>', href, text)
    if derived:
        text = fmt(
            '{} <span class="derived" title="No page shows a title: the opening of the abstract">'
            "(from abstract)</span>",
            text,
        )
    return text


def _table(
    table_id: str,
    caption: str,
    headers: Sequence[tuple[str, str]],
    rows: Sequence[tuple[str, Sequence[object]]],
    *,
    wide: bool = False,
) -> Html:
    """A table whose first column heads its row; numbers right-aligned and machine-readable.

    `headers` are (key, label) pairs; a cell that is an int gets `data-value` and the column key,
    so a test reads the number a person reads.
    """
    head = join(
        fmt('<th scope="col" class="{}">{}</th>', "num" if i and key.startswith("n_") else "", label)
        for i, (key, label) in enumerate(headers)
    )
    body = []
    for key, cells in rows:
        tds = []
        for i, ((col, _label), cell) in enumerate(zip(headers, cells, strict=True)):
            if i == 0:
                tds.append(fmt('<th scope="row">{}</th>', cell))
            elif isinstance(cell, int) and not isinstance(cell, bool):
                tds.append(fmt('<td class="num" data-col="{}" data-value="{}">{}</td>', col, cell, num(cell)))
            else:
                tds.append(fmt('<td data-col="{}">{}</td>', col, cell))
        body.append(fmt('<tr data-key="{}">{}</tr>', key, join(tds)))
    return fmt(
        '<table id="{}" class="{}"><caption>{}</caption><thead><tr>{}</tr></thead><tbody>{}</tbody></table>',
        table_id,
        "wide" if wide else "",
        caption,
        head,
        join(body),
    )


def _more(total: int, shown: int, what: str) -> Html:
    if total <= shown:
        return Html("")
    return fmt('<p class="more">… and {} more {} (the warehouse has them all).</p>', num(total - shown), what)


def _status_badge(status: str) -> Html:
    kind = {"ok": "ok", "offline": "warn", "partial": "warn", "running": "warn"}.get(status, "bad")
    return fmt('<span class="badge {}">{}</span>', kind, status)


# -- sections ---------------------------------------------------------------------------------


def _section(section_id: str, heading: str, note: str, *parts: object) -> Html:
    """A section: its anchor for the navigation, a heading, a line on how to read it, its content."""
    return fmt('<section id="{}"><h2>{}</h2><p class="note">{}</p>{}</section>', section_id, heading, note, join(parts))


def _figure(chart: str, table: Html) -> Html:
    """A chart with its numbers as a table beside it: the table is what screen readers and tests read."""
    return fmt('<div class="figure">{}{}</div>', Html(chart), table)


def _header(report: Report) -> Html:
    run = report.current_run
    if run is None:
        latest = Html("No run recorded yet: run <code>make ingest</code> to build the warehouse.")
    else:
        latest = fmt(
            "Latest run <strong>{}</strong> {} started {}{}.",
            run.run_id,
            _status_badge(run.status),
            run.started,
            fmt(", finished {}", run.finished) if run.finished else Html(""),
        )
    links = join(
        fmt('<li><a href="#{}">{}</a></li>', anchor, label)
        for anchor, label in (
            ("summary", "Summary"),
            ("sites", "Sites"),
            ("years", "Years"),
            ("types", "Types"),
            ("languages", "Languages"),
            ("changes", "New, changed, gone"),
            ("merges", "Merges"),
            ("quality", "Quality flags and rejects"),
            ("fetches", "Fetch failures"),
            ("runs", "Runs"),
        )
    )
    return fmt(
        "<header><h1>IOM publications warehouse: run report</h1><p>{}</p>"
        '<p>Warehouse <code>{}</code>; report generated {}.</p><nav aria-label="Sections"><ul>{}</ul></nav></header>',
        latest,
        report.db_path,
        report.generated_at,
        links,
    )


def _summary(report: Report) -> Html:
    t = report.totals
    new = report.change_counts.get(("edition", "added"), 0)
    gone = report.change_counts.get(("edition", "withdrawn"), 0)
    changed = report.change_counts.get(("edition", "changed"), 0)
    tiles = [
        ("editions", "editions (one publication in one language)", t["editions"], ""),
        ("works", "works (a publication across languages)", t["works"], ""),
        ("multilingual_works", "works in several languages", t["multilingual_works"], ""),
        ("publication_sightings", "publication sightings", t["publication_sightings"], ""),
        ("pages", "archived pages", t["pages"], ""),
        ("new_editions", "new editions in the latest run", new, ""),
        ("changed_editions", "changed editions in the latest run", changed, ""),
        ("gone_editions", "editions gone in the latest run", gone, "warn" if gone else ""),
        ("rejects", "rejects (all runs)", t["rejects"], "warn" if t["rejects"] else ""),
        (
            "fetch_failures",
            "fetch failures (latest crawl)",
            t.get("fetch_failures", 0),
            "bad" if t.get("fetch_failures") else "",
        ),
    ]
    body = join(
        fmt(
            '<div class="tile {}" data-key="{}"><span class="value" data-value="{}">{}</span>'
            '<span class="label">{}</span></div>',
            cls,
            key,
            value,
            num(value),
            label,
        )
        for key, label, value, cls in tiles
    )
    return fmt('<section id="summary"><h2>Summary</h2><div class="tiles">{}</div></section>', body)


def _sites(report: Report) -> Html:
    if not report.sites:
        return Html('<section id="sites"><h2>Per site</h2><p class="empty">No pages archived yet.</p></section>')
    chart = Html(
        bar_chart(
            [(s.site, s.editions) for s in report.sites],
            chart_id="chart-sites",
            title="Editions per site",
            unit="editions",
        )
    )
    table = _table(
        "table-sites",
        "Pages, sightings, editions and works per site",
        [
            ("site", "Site"),
            ("n_pages", "Pages"),
            ("n_sightings", "Publication sightings"),
            ("n_editions", "Editions"),
            ("n_works", "Works"),
        ],
        [(s.site, [s.site, s.pages, s.sightings, s.editions, s.works]) for s in report.sites],
    )
    return _section("sites", "Per site", "An edition seen on two sites counts for both.", _figure(chart, table))


def _years(report: Report) -> Html:
    if not report.years:
        return fmt(
            '<section id="years"><h2>Per year of publication</h2><p class="empty">No edition gives a year'
            "{}.</p></section>",
            fmt(" ({} without one)", num(report.years_unknown)) if report.years_unknown else "",
        )
    counts = dict(report.years)
    first, last = report.years[0][0], report.years[-1][0]
    bars = [(str(y), counts.get(y, 0)) for y in range(first, last + 1)]
    chart = Html(
        column_chart(
            bars, chart_id="chart-years", title=f"Editions per year of publication, {first}–{last}", unit="editions"
        )
    )
    rows = [(str(y), [str(y), n]) for y, n in report.years]
    if report.years_unknown:
        rows.append(("unknown", ["no year given", report.years_unknown]))
    table = _table("table-years", "Editions per year", [("year", "Year"), ("n_editions", "Editions")], rows)
    note = (
        fmt(" {} editions give no year and are not drawn.", num(report.years_unknown))
        if report.years_unknown
        else Html("")
    )
    return fmt(
        '<section id="years"><h2>Per year of publication</h2><p class="note">One bar per year from {} to {}; '
        "a pale stub is a year with no edition.{}</p>{}<details><summary>Editions per year as a table</summary>{}"
        "</details></section>",
        first,
        last,
        note,
        chart,
        table,
    )


def _types(report: Report) -> Html:
    if not report.types:
        return fmt(
            '<section id="types"><h2>Per type</h2><p class="empty">No page states a type for any of the {} '
            "editions.</p></section>",
            num(report.types_unknown),
        )
    chart = Html(
        bar_chart(
            report.types, chart_id="chart-types", title="Editions per type, as the sites print it", unit="editions"
        )
    )
    rows = [(t, [t, n]) for t, n in report.types]
    if report.types_unknown:
        rows.append(("", ["no type given", report.types_unknown]))
    table = _table("table-types", "Per type", [("type", "Type"), ("n_editions", "Editions")], rows)
    note = "Types as the sites print them; an edition with two types counts for both."
    return _section("types", "Per type", note, _figure(chart, table))


def _languages(report: Report) -> Html:
    if not report.languages:
        return Html('<section id="languages"><h2>Per language</h2><p class="empty">No editions yet.</p></section>')
    bars = [(lang or "unknown", n) for lang, n in report.languages]
    chart = Html(
        bar_chart(bars, chart_id="chart-languages", title="Editions per language", unit="editions", label_chars=12)
    )
    table = _table(
        "table-languages",
        "Per language",
        [("language", "Language"), ("n_editions", "Editions")],
        [(lang, [lang or "unknown (not detected)", n]) for lang, n in report.languages],
    )
    note = "The language of each edition's text (ISO 639-1), detected from the text."
    return _section("languages", "Per language", note, _figure(chart, table))


def _change_rows(items: Sequence[ChangeItem]) -> list[tuple[str, list[object]]]:
    rows: list[tuple[str, list[object]]] = []
    for item in items:
        note: object = ""
        if item.op == "withdrawn":
            note = (
                fmt('merged into {} <span class="id">{}</span>', _title(item.merged_into_title), item.merged_into)
                if item.merged_into
                else item.reason or "its pages are no longer in the warehouse"
            )
        elif item.reason:
            note = item.reason
        rows.append(
            (
                item.id,
                [
                    fmt('<span class="op-{}">{}</span>', item.op, item.level),
                    _title(item.title, item.title_derived, item.url if item.op != "withdrawn" else None),
                    item.language or "",
                    fmt('<span class="id">{}</span>', item.id),
                    note,
                ],
            )
        )
    return rows


def _changes(report: Report) -> Html:
    if report.change_run is None:
        return Html('<section id="changes"><h2>New, changed and gone</h2><p class="empty">No run yet.</p></section>')
    since = fmt("since run {}", report.previous_run) if report.previous_run is not None else Html("(the first run)")
    counts = _table(
        "table-changes",
        "Records per change",
        [("level", "Level"), ("n_added", "New"), ("n_changed", "Changed"), ("n_withdrawn", "Gone")],
        [
            (level, [label, *(report.change_counts.get((level, op), 0) for op, _ in OPS)])
            for level, label in (("edition", "Editions"), ("work", "Works"))
        ],
    )
    parts = [counts]
    if report.change_reasons:
        parts.append(
            _table(
                "table-change-reasons",
                "Records per change and reason",
                [("level", "Level"), ("op", "Change"), ("reason", "Reason"), ("n_records", "Records")],
                [
                    (f"{level}:{op}:{reason}", [level, dict(OPS)[op], reason, n])
                    for level, op, reason, n in report.change_reasons
                ],
                wide=True,
            )
        )
    if report.change_history:
        parts.append(_change_history(report))
    if not report.changes:
        parts.append(Html('<p class="empty">Nothing was added, changed or withdrawn in this run.</p>'))
    for op, label in OPS:
        items = [c for c in report.changes if c.op == op]
        if not items:
            continue
        shown = items[:LIST_LIMIT]
        parts.append(
            fmt("<h3>{} ({})</h3>", label, num(len(items)))
            + _table(
                f"list-{op}",
                f"{label} editions and works",
                [("level", "Level"), ("title", "Title"), ("language", "Language"), ("id", "Id"), ("note", "")],
                _change_rows(shown),
                wide=True,
            )
            + _more(len(items), len(shown), "records")
        )
    return fmt(
        '<section id="changes"><h2>New, changed and gone in run {} {}</h2><p class="note">From the change log '
        "(<code>record_changes</code>): new ids (or ids listed again), records whose exported fields changed, and "
        "ids withdrawn: merged into another, no sightings left, or no longer listed by the sites (every section "
        "that showed the edition walked to its end <code>withdraw_after_walks</code> times since without showing it; "
        "<code>withdrawn_editions</code>"
        " keeps them). A changed title can make a new edition.</p>{}</section>",
        report.change_run,
        since,
        join(parts),
    )


def _change_history(report: Report) -> Html:
    """One row per recent run: editions and works new, changed and gone, and why they were withdrawn."""
    headers = [("run", "Run")]
    for level, label in (("edition", "Editions"), ("work", "Works")):
        headers += [(f"n_{level}_{op}", f"{label} {word.lower()}") for op, word in OPS]
    headers.append(("withdrawn_reasons", "Withdrawal reasons"))
    rows = []
    for run in report.change_history:
        cells: list[object] = [run.run_id]
        for level in ("edition", "work"):
            cells += [run.counts.get((level, op), 0) for op, _ in OPS]
        reasons = "; ".join(f"{level}s {reason}: {n}" for level, reason, n in run.withdrawn)
        cells.append(reasons)
        rows.append((str(run.run_id), cells))
    return fmt("<h3>Per run</h3>") + _table("table-change-history", "Changes per run", headers, rows, wide=True)


def _rule(rule: str) -> Html:
    return fmt("<code>{}</code>{}", rule, fmt(": {}", RULES[rule]) if rule in RULES else Html(""))


def _merges(report: Report) -> Html:
    t = report.totals
    intro = fmt(
        "<p>{} publication sightings were grouped into <strong>{}</strong> editions and <strong>{}</strong> works. "
        "{} editions join more than one sighting; {} works span more than one language.</p>",
        num(t["publication_sightings"]),
        num(t["editions"]),
        num(t["works"]),
        num(report.merged_editions),
        num(report.multilingual_works),
    )
    if report.dedup_run is None:
        return fmt(
            '<section id="merges"><h2>Merges</h2>{}<p class="empty">No deduplication pass has joined '
            "anything yet.</p></section>",
            intro,
        )
    rules = _table(
        "table-rules",
        f"Joins made by deduplication pass {report.dedup_run}, per rule",
        [("level", "Level"), ("rule", "Rule"), ("n_joins", "Joins")],
        [(f"edition:{r}", ["edition", _rule(r), n]) for r, n in report.edition_rules]
        + [(f"work:{r}", ["work", _rule(r), n]) for r, n in report.work_rules],
    )
    editions = []
    for ex in report.edition_examples:
        sightings = join(
            fmt(
                "<li>{} · <code>{}</code> · {}</li>",
                s.source,
                s.format,
                esc(s.title) if s.title else fmt('<span class="derived">untitled:</span> {}', _snippet(s.text)),
            )
            for s in ex.sightings
        )
        how = join((fmt("<code>{}</code> ×{}", r, n) for r, n in ex.rules), ", ")
        editions.append(
            fmt(
                '<article class="example" data-rule="{}"><h4>{}</h4><p>{} sightings on {} · language {} · '
                'joined by {}</p><ul>{}</ul>{}<p class="id">{}</p></article>',
                ex.rule,
                _title(ex.title),
                num(ex.sighting_count),
                join(ex.sources, ", "),
                ex.language or "?",
                how,
                sightings,
                _more(ex.sighting_count, len(ex.sightings), "sightings"),
                ex.edition_id,
            )
        )
    works = []
    for work in report.work_examples:
        listed = join(
            fmt("<li><strong>{}</strong> {}</li>", lang or "?", _title(title)) for lang, title in work.editions
        )
        works.append(
            fmt(
                '<article class="example" data-rule="{}"><h4>{}</h4><p>{} editions in {} · joined by {} '
                '(score {})</p><ul>{}</ul>{}{}<p class="id">{}</p></article>',
                work.rule,
                _title(work.title),
                num(work.edition_count),
                join(work.languages, ", ") or "?",
                _rule(work.rule),
                f"{work.score:.2f}",
                listed,
                _more(work.edition_count, len(work.editions), "editions"),
                fmt("<p>Evidence: {}</p>", work.evidence) if work.evidence else Html(""),
                work.work_id,
            )
        )
    refusals = (
        _table(
            "table-refusals",
            "Matches refused (kept apart)",
            [
                ("level", "Level"),
                ("rule", "Rule"),
                ("decision", "Decision"),
                ("reason", "Reason"),
                ("n_pairs", "Pairs"),
            ],
            [
                (
                    f"{r.level}:{r.rule}:{r.decision}:{r.reason}",
                    [r.level, Html(f"<code>{esc(r.rule)}</code>"), r.decision, r.reason or "", r.count],
                )
                for r in report.refusals
            ],
        )
        if report.refusals
        else Html('<p class="empty">No match was refused.</p>')
    )
    return fmt(
        '<section id="merges"><h2>Merges: editions and works</h2>{}{}<h3>Editions merged from several sightings</h3>'
        '<div class="examples">{}</div><h3>Works across languages</h3><div class="examples">{}</div>'
        "<h3>Kept apart</h3>{}</section>",
        intro,
        rules,
        join(editions) or Html('<p class="empty">No edition joins several sightings.</p>'),
        join(works) or Html('<p class="empty">No work joins several editions.</p>'),
        refusals,
    )


def _snippet(text: str | None, limit: int = 140) -> Html:
    if not text:
        return Html('<span class="empty">(no text)</span>')
    text = " ".join(text.split())
    return esc(text if len(text) <= limit else text[: limit - 1].rstrip() + "…")


def _quality(report: Report) -> Html:
    if report.flags:
        chart = Html(
            bar_chart(
                [(f.flag, f.sightings) for f in report.flags],
                chart_id="chart-flags",
                title="Sightings per quality flag",
                unit="sightings",
                label_chars=26,
            )
        )
        table = _table(
            "table-flags",
            "Quality flags",
            [
                ("flag", "Flag"),
                ("n_sightings", "Sightings"),
                ("n_editions", "Editions"),
                ("examples", "Examples"),
                ("title", "Example title"),
            ],
            [
                (
                    f.flag,
                    [
                        Html(f"<code>{esc(f.flag)}</code>"),
                        f.sightings,
                        f.editions,
                        join((fmt("<code>{}</code>", e) for e in f.examples), "<br>"),
                        _title(f.example_title),
                    ],
                )
                for f in report.flags
            ],
        )
        flags = _figure(chart, table)
    else:
        flags = Html('<p class="empty">No sighting carries a quality flag.</p>')
    if report.reject_groups:
        groups = _table(
            "table-rejects",
            "Rejects per stage and reason (all runs)",
            [("stage", "Stage"), ("reason", "Reason"), ("n_rejects", "Rejects"), ("n_last_run", "Last run")],
            [(f"{g.stage}:{g.reason}", [g.stage, g.reason, g.count, g.last_run]) for g in report.reject_groups],
            wide=True,
        )
        recent = _table(
            "table-recent-rejects",
            "Latest rejects",
            [
                ("run", "Run"),
                ("stage", "Stage"),
                ("site", "Site"),
                ("page", "Page"),
                ("reason", "Reason"),
                ("excerpt", "Excerpt"),
            ],
            [
                (
                    str(i),
                    [
                        str(r.run_id),
                        r.stage,
                        r.source or "",
                        Html(f"<code>{esc(r.url or '')}</code>"),
                        r.reason,
                        _snippet(r.excerpt),
                    ],
                )
                for i, r in enumerate(report.recent_rejects)
            ],
            wide=True,
        )
        rejects = groups + _more(report.totals["rejects"], min(report.totals["rejects"], 15), "rejects") + recent
    else:
        rejects = Html('<p class="empty">No rejects: every archived page and record was loaded.</p>')
    return fmt(
        '<section id="quality"><h2>Quality flags and rejects</h2><p class="note">Flags mark oddities kept for review '
        "(the record was loaded); rejects are pages or records that could not be loaded, with the reason.</p>"
        "<h3>Quality flags ({} sightings)</h3>{}<h3>Rejects ({})</h3>{}</section>",
        num(report.totals["flagged_sightings"]),
        flags,
        num(report.totals["rejects"]),
        rejects,
    )


def _fetches(report: Report) -> Html:
    if report.fetch_run is None:
        return Html(
            '<section id="fetches"><h2>Fetch failures</h2><p class="empty">No crawl recorded: this '
            "warehouse was built from the archive alone (offline).</p></section>"
        )
    chart = Html(
        bar_chart(
            report.fetch_outcomes,
            chart_id="chart-fetch-outcomes",
            title=f"Requests per outcome, run {report.fetch_run}",
            unit="requests",
            label_chars=14,
        )
    )
    outcomes = _table(
        "table-fetch-outcomes",
        "Requests per outcome",
        [("outcome", "Outcome"), ("n_requests", "Requests")],
        [(o, [o, n]) for o, n in report.fetch_outcomes],
    )
    if report.fetch_failures:
        failures = _table(
            "table-fetch-failures",
            "Failures by reason",
            [
                ("outcome", "Outcome"),
                ("reason", "Reason"),
                ("status", "Last status"),
                ("n_requests", "Requests"),
                ("sites", "Sites"),
                ("url", "Example URL"),
            ],
            [
                (
                    f"{f.outcome}:{f.reason}",
                    [
                        f.outcome,
                        f.reason or "",
                        "" if f.status is None else str(f.status),
                        f.count,
                        join(f.sources, ", "),
                        Html(f"<code>{esc(f.example_url)}</code>"),
                    ],
                )
                for f in report.fetch_failures
            ],
            wide=True,
        )
    else:
        failures = Html('<p class="empty">Every request of this crawl succeeded.</p>')
    note = (
        f"The latest crawl (run {report.fetch_run}); {report.fetch_failures_all_runs:,} failed requests in all runs. "
        "Failed: no answer after retries; refused: an answer the crawler would not keep (off-site redirect, "
        "oversized or not HTML); disallowed: robots.txt; unreachable: the host was down."
    )
    return _section("fetches", "Fetch failures", note, _figure(chart, outcomes), failures)


def _runs(report: Report) -> Html:
    if not report.runs:
        return Html('<section id="runs"><h2>Runs</h2><p class="empty">No run recorded yet.</p></section>')
    table = _table(
        "table-runs",
        "Latest runs",
        [
            ("run", "Run"),
            ("status", "Status"),
            ("started", "Started"),
            ("n_parsed", "Pages parsed"),
            ("n_failed", "Pages failed"),
            ("n_sightings", "Sightings added"),
            ("n_rejects", "Rejects"),
            ("message", "Message"),
        ],
        [
            (
                str(r.run_id),
                [
                    str(r.run_id),
                    _status_badge(r.status),
                    r.started,
                    r.pages_parsed or 0,
                    r.pages_failed or 0,
                    r.sightings_added or 0,
                    r.rejects_added or 0,
                    r.message or "",
                ],
            )
            for r in report.runs
        ],
        wide=True,
    )
    return fmt('<section id="runs"><h2>Runs</h2>{}</section>', table)


def render(report: Report) -> str:
    """The whole page as one string: open it from disk, mail it, archive it."""
    title = f"Run {report.current_run.run_id} report" if report.current_run else "Warehouse report"
    body = join(
        [
            _header(report),
            Html("<main>"),
            _summary(report),
            _sites(report),
            _years(report),
            _types(report),
            _languages(report),
            _changes(report),
            _merges(report),
            _quality(report),
            _fetches(report),
            _runs(report),
            Html("</main>"),
        ]
    )
    return fmt(
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta http-equiv="Content-Security-Policy" content="{}"><meta name="referrer" content="no-referrer">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>{} · IOM publications warehouse</title><style>{}</style></head><body>{}</body></html>\n",
        CSP,
        title,
        Html(CSS),
        body,
    )
