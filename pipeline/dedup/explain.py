"""Explain why two sightings were joined or kept apart, from the recorded decisions and a replay.

Joined: the chain of `match_links` rows (rule, score, evidence) that connects them, hop by
hop, first inside editions, then between editions of the work. Kept apart: what the rules say
about the pair itself (which rule matched and how strongly, or how far the texts are apart),
the cannot-link reason between the two sightings and between their editions, and any refused
decision (vetoed, ambiguous) recorded between their clusters. The replay runs the same
`compute` as a pass, without writing anything.
"""

from __future__ import annotations

from collections import deque

import duckdb
import numpy as np

from pipeline.dedup import features, match
from pipeline.dedup.evaluate import resolve_sighting
from pipeline.dedup.overrides import Overrides
from pipeline.dedup.run import compute
from pipeline.errors import ConfigError


def explain(con: duckdb.DuckDBPyConnection, refs: list[str], overrides: Overrides) -> list[str]:
    """Lines of text answering "why" for one or two sighting references."""
    ids = []
    for ref in refs:
        sid = resolve_sighting(con, ref)
        if sid is None:
            raise ConfigError(f"no sighting {ref!r} (give a sighting id or <page label or URL>#<position>)")
        ids.append(sid)
    lines: list[str] = []
    for sid in ids:
        lines.extend(_describe(con, sid))
    if len(ids) == 1:
        lines.extend(_links_of(con, ids[0]))
        return lines
    a, b = ids
    where = {
        sid: (ed, wk)
        for sid, ed, wk in con.execute("SELECT sighting_id, edition_id, work_id FROM sighting_editions").fetchall()
    }
    ed_a, wk_a = where.get(a, (None, None))
    ed_b, wk_b = where.get(b, (None, None))
    if ed_a is not None and ed_a == ed_b:
        lines.append(f"JOINED: same edition {ed_a}. Chain of decisions:")
        lines.extend(_path(con, "edition", a, b))
        return lines
    if wk_a is not None and wk_a == wk_b:
        lines.append(f"JOINED as one work {wk_a} (editions {ed_a} and {ed_b}). Chain of decisions:")
        lines.extend(_work_path(con, a, b, ed_a, ed_b))
        return lines
    lines.append("KEPT APART: different editions and works. Why:")
    lines.extend(_replay(con, a, b, overrides))
    return lines


def _describe(con: duckdb.DuckDBPyConnection, sid: str) -> list[str]:
    row = con.execute(
        """
        SELECT s.sighting_id, p.format, coalesce(p.url, p.label), s.position, s.kind, s.title,
               left(coalesce(s.full_abstract, s.abstract), 110), s.abstract_truncated, s.year, s.page_count,
               s.canonical_url, e.edition_id, e.work_id
        FROM sightings AS s JOIN raw_pages AS p USING (page_id)
        LEFT JOIN sighting_editions AS e USING (sighting_id)
        WHERE s.sighting_id = ?
        """,
        [sid],
    ).fetchall()[0]
    sid, fmt, page, position, kind, title, text, truncated, year, pages, url, ed, wk = row
    return [
        f"sighting {sid}: {fmt} {page} #{position} ({kind})",
        f"  title: {title or '-'} | year {year or '-'} | pages {pages or '-'} | url {url or '-'}",
        f"  text: {text}{'...' if truncated else ''}",
        f"  edition {ed or '-'} work {wk or '-'}",
    ]


def _links_of(con: duckdb.DuckDBPyConnection, sid: str) -> list[str]:
    rows = con.execute(
        """
        SELECT level, sighting_a, sighting_b, rule, score, decision, reason, evidence FROM match_links
        WHERE sighting_a = ? OR sighting_b = ? ORDER BY level, decision, score DESC
        """,
        [sid, sid],
    ).fetchall()
    if not rows:
        return ["no recorded decision involves this sighting (it matched nothing)"]
    return ["decisions involving it:"] + [_fmt_link(r) for r in rows]


def _fmt_link(row: tuple[object, ...]) -> str:
    level, a, b, rule, score, decision, reason, evidence = row
    text = f"  [{level}] {a} ~ {b}: {rule} {float(score):.3f} -> {decision}"  # type: ignore[arg-type]
    if evidence:
        text += f" ({evidence})"
    if reason:
        text += f": {reason}"
    return text


def _path(con: duckdb.DuckDBPyConnection, level: str, a: str, b: str) -> list[str]:
    rows = con.execute(
        "SELECT level, sighting_a, sighting_b, rule, score, decision, reason, evidence FROM match_links "
        "WHERE level = ? AND decision = 'joined'",
        [level],
    ).fetchall()
    graph: dict[str, list[tuple[str, tuple[object, ...]]]] = {}
    for row in rows:
        graph.setdefault(str(row[1]), []).append((str(row[2]), row))
        graph.setdefault(str(row[2]), []).append((str(row[1]), row))
    hops = _bfs(graph, a, b)
    if hops is None:
        return ["  (no recorded chain: the pass that joined them predates this match_links table)"]
    return [_fmt_link(r) for r in hops]


def _bfs(
    graph: dict[str, list[tuple[str, tuple[object, ...]]]], start: str, goal: str
) -> list[tuple[object, ...]] | None:
    previous: dict[str, tuple[str, tuple[object, ...]] | None] = {start: None}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        if node == goal:
            hops = []
            while previous[node] is not None:
                parent, row = previous[node]  # type: ignore[misc]
                hops.append(row)
                node = parent
            return hops[::-1]
        for nxt, row in graph.get(node, []):
            if nxt not in previous:
                previous[nxt] = (node, row)
                queue.append(nxt)
    return None


def _work_path(con: duckdb.DuckDBPyConnection, a: str, b: str, ed_a: str, ed_b: str) -> list[str]:
    rows = con.execute(
        "SELECT level, sighting_a, sighting_b, rule, score, decision, reason, evidence, edition_a, edition_b "
        "FROM match_links WHERE level = 'work' AND decision = 'joined'"
    ).fetchall()
    graph: dict[str, list[tuple[str, tuple[object, ...]]]] = {}
    for row in rows:
        graph.setdefault(str(row[8]), []).append((str(row[9]), row[:8]))
        graph.setdefault(str(row[9]), []).append((str(row[8]), row[:8]))
    hops = _bfs(graph, ed_a, ed_b) or []
    return [_fmt_link(r) for r in hops]


def _replay(con: duckdb.DuckDBPyConnection, a: str, b: str, overrides: Overrides) -> list[str]:
    result = compute(con, overrides)
    feats = result.feats
    found_a, found_b = features.index_of(con, a), features.index_of(con, b)
    if found_a is None or found_b is None:
        return ["  one of them is not a publication sighting (news and captions are not deduplicated)"]
    i, j = found_a, found_b
    lines: list[str] = []
    edges = match.score_pairs(con, np.array([[min(i, j), max(i, j)]]), feats)
    if len(edges):
        lines.append(f"  text rule: {edges.rule[0]} matches with score {edges.score[0]:.3f} {edges.detail[0] or ''}")
    else:
        lines.append("  text rule: none matches (" + _text_distance(con, i, j) + ")")
    ctx = match.EditionContext(feats, {}, result.shown)
    why = ctx.summary(i).compatible(ctx.summary(j), False)
    lines.append(f"  the two sightings themselves: {why or 'no cannot-link reason'}")
    ed_i, ed_j = int(result.edition_of[i]), int(result.edition_of[j])
    refused = [
        lk
        for lk in result.edition_links
        if lk.decision != "joined" and {int(result.edition_of[lk.a]), int(result.edition_of[lk.b])} == {ed_i, ed_j}
    ]
    refused += [lk for lk in result.work_links if lk.decision != "joined" and {lk.a, lk.b} == {ed_i, ed_j}]
    for lk in refused[:10]:
        lines.append(
            f"  refused between their clusters: {lk.rule} {lk.score:.3f} -> {lk.decision}: {lk.reason}"
            + (f" ({lk.evidence})" if lk.evidence else "")
        )
    if not refused:
        lines.append("  no rule proposed joining their editions, and no work rule linked the editions")
    lines.append(f"  text languages: {feats.language(i) or 'unknown'} / {feats.language(j) or 'unknown'}")
    shared_isbn = result.eds.isbns.get(ed_i, frozenset()) & result.eds.isbns.get(ed_j, frozenset())
    signals = [
        r[0]
        for r in con.execute(
            "SELECT a.sig FROM dd_sigw AS a JOIN dd_sigw AS b ON a.sig = b.sig "
            "WHERE a.ed = ? AND b.ed = ? AND a.w > 0 ORDER BY 1",
            [ed_i, ed_j],
        ).fetchall()
    ]
    if shared_isbn:
        lines.append(
            f"  shared ISBN {', '.join(sorted(shared_isbn))}: a work link needs language-independent signals "
            f"to corroborate it; shared signals: {', '.join(signals) or 'none'}"
        )
    else:
        lines.append(f"  shared language-independent signals: {', '.join(signals) or 'none'}")
    return lines


def _text_distance(con: duckdb.DuckDBPyConnection, i: int, j: int) -> str:
    rows = con.execute(
        """
        SELECT (SELECT count(*) FROM dd_tok WHERE idx = ?) AS na,
               (SELECT count(*) FROM dd_tok WHERE idx = ?) AS nb,
               (SELECT count(*) FROM dd_tok AS x JOIN dd_tok AS y ON x.h = y.h WHERE x.idx = ? AND y.idx = ?) AS shared
        """,
        [i, j, i, j],
    ).fetchall()[0]
    na, nb, shared = rows
    if not na or not nb:
        return "one text has no content words"
    return f"openings share {shared} of {min(na, nb)} content words, overlap {shared / min(na, nb):.2f}"
