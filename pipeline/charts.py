"""Draw bar charts as inline SVG strings: numbers in, markup out, no script and no network.

The run report is one file that must open anywhere, offline, years later; a chart library
that ships JavaScript or loads fonts would break that, and a bar chart is a few rectangles.
Every label is escaped here, because labels are site names, types and titles from web pages.
Each bar carries `data-label` and `data-value`, so a test (or a person with dev tools) can read
exactly what was drawn, and a `<title>` that screen readers and hover tooltips show.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

BAR = "#1f5fa6"
EMPTY = "#c9d3df"
INK = "#1b2430"
MUTED = "#5a6675"
GRID = "#e3e8ee"
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def nice_max(value: int) -> int:
    """Round an axis maximum up to 1, 2, 2.5 or 5 times a power of ten, so gridlines fall on round numbers."""
    if value <= 0:
        return 1
    power = 10 ** math.floor(math.log10(value))
    steps = (1, 2, 2.5, 5, 10) if power >= 10 else (1, 2, 5, 10)
    return next(int(step * power) for step in steps if value <= step * power)


def _ticks(top: int) -> list[int]:
    step = top // 5 if top >= 5 and top % 5 == 0 else (top // 2 if top % 2 == 0 else top)
    return list(range(0, top + 1, max(step, 1)))


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _bar(label: str, value: int, unit: str, x: float, y: float, w: float, h: float) -> str:
    """One bar: what it shows is in its data attributes and its tooltip, not only in its size."""
    fill = BAR if value else EMPTY
    return (
        f'<rect class="bar" data-label="{_esc(label)}" data-value="{value}" x="{x:.1f}" y="{y:.1f}" '
        f'width="{w:.1f}" height="{h:.1f}" fill="{fill}"><title>{_esc(label)}: {value:,} {_esc(unit)}</title></rect>'
    )


def _label_step(needed: float) -> int:
    return next(step for step in (1, 2, 5, 10, 20, 50, 100, 1000) if step >= needed)


def column_chart(bars: Sequence[tuple[str, int]], *, chart_id: str, title: str, unit: str) -> str:
    """Vertical bars in the given order (years: oldest first), the value above each bar when it fits.

    A zero bar is drawn as a thin pale stub so that a gap year is visibly a gap, not a missing column.
    Axis labels that would collide are thinned to round steps (every 2, 5, 10 years), so numeric
    labels land on round numbers.
    """
    n = max(len(bars), 1)
    slot = max(14, min(44, 760 // n))
    left, right, top_pad, bottom = 44, 12, 22, 34
    plot_h = 180
    width = left + slot * n + right
    height = top_pad + plot_h + bottom
    top = nice_max(max((v for _, v in bars), default=0))
    every = _label_step(34 / slot)
    numeric = all(label.lstrip("-").isdigit() for label, _ in bars)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" id="{_esc(chart_id)}" class="chart column-chart" role="img" '
        f'aria-labelledby="{_esc(chart_id)}-title" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'font-family="{FONT}" font-size="11">',
        f'<title id="{_esc(chart_id)}-title">{_esc(title)}</title>',
    ]
    for tick in _ticks(top):
        y = top_pad + plot_h - plot_h * tick / top
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="{GRID}"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" fill="{MUTED}">{tick:,}</text>')
    for i, (label, value) in enumerate(bars):
        x = left + i * slot + 2
        w = slot - 4
        h = plot_h * value / top if value else 2
        y = top_pad + plot_h - h
        parts.append(_bar(label, value, unit, x, y, w, h))
        if value and slot >= 20:
            parts.append(
                f'<text x="{x + w / 2:.1f}" y="{y - 4:.1f}" text-anchor="middle" fill="{INK}" font-size="10" '
                f'aria-hidden="true">{value:,}</text>'
            )
        if (int(label) if numeric else i) % every == 0:
            parts.append(
                f'<text x="{x + w / 2:.1f}" y="{top_pad + plot_h + 16}" text-anchor="middle" fill="{INK}" '
                f'aria-hidden="true">{_esc(label)}</text>'
            )
    parts.append(
        f'<line x1="{left}" x2="{width - right}" y1="{top_pad + plot_h}" y2="{top_pad + plot_h}" stroke="{MUTED}"/>'
    )
    parts.append("</svg>")
    return "".join(parts)


def bar_chart(bars: Sequence[tuple[str, int]], *, chart_id: str, title: str, unit: str, label_chars: int = 34) -> str:
    """Horizontal bars, one row per label in the given order, the value at the end of each bar.

    Horizontal because site names, types and flags are long: they read better as row labels than
    squeezed or rotated under columns. A label longer than `label_chars` is shortened on the
    chart; the full text is in the bar's tooltip and in the table beside the chart.
    """
    row, label_w, value_w, plot_w = 22, 7 * label_chars, 56, 420
    width = label_w + plot_w + value_w
    height = row * max(len(bars), 1) + 8
    top = max((v for _, v in bars), default=0) or 1
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" id="{_esc(chart_id)}" class="chart bar-chart" role="img" '
        f'aria-labelledby="{_esc(chart_id)}-title" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'font-family="{FONT}" font-size="12">',
        f'<title id="{_esc(chart_id)}-title">{_esc(title)}</title>',
    ]
    for i, (label, value) in enumerate(bars):
        y = 4 + i * row
        w = max(plot_w * value / top, 2)
        parts.append(
            f'<text x="{label_w - 8}" y="{y + 15}" text-anchor="end" fill="{INK}" aria-hidden="true">'
            f"{_esc(_shorten(label, label_chars))}</text>"
        )
        parts.append(_bar(label, value, unit, label_w, y + 3, w, row - 6))
        parts.append(f'<text x="{label_w + w + 6:.1f}" y="{y + 15}" fill="{INK}" aria-hidden="true">{value:,}</text>')
    parts.append("</svg>")
    return "".join(parts)
