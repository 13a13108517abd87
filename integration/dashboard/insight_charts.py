"""Horizontal bar charts as inline SVG, drawn on the server: no script, no style attribute (the pages' CSP).

Colours come from classes in dashboard.css (each series' bars and its legend swatch share one), so the charts
follow the stylesheet's contrast. Each chart is an `img` named by its <title> and described by its <desc>,
which says in words what the bars show; the pages put the same figures in a table beside it.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

__all__ = ["Series", "bar_chart", "LABEL_MAX"]

WIDTH, LABEL_W, VALUE_W = 640, 210, 80
BAR_H, GAP, TOP = 16, 10, 28
LABEL_MAX = 30  # characters of a label drawn; the whole label is in the description and the table


@dataclass(frozen=True)
class Series:
    name: str
    css: str  # the class of its bars: chart-a, chart-b (dashboard.css)


def _short(text: str) -> str:
    return text if len(text) <= LABEL_MAX else text[: LABEL_MAX - 1] + "…"


def _legend(series: Sequence[Series]) -> list[str]:
    parts, x = [], LABEL_W
    for s in series:
        parts.append(f'<rect class="{s.css}" x="{x}" y="6" width="12" height="12"/>'
                     f'<text x="{x + 18}" y="16">{escape(s.name)}</text>')  # fmt: skip
        x += 30 + 8 * len(s.name)
    return parts


def bar_chart(ident: str, title: str, desc: str, series: Sequence[Series], groups: Sequence[tuple[str, Sequence[float]]],
              fmt: Callable[[float], str], marker: tuple[str, float] | None = None) -> Markup:
    """A chart of one bar per series for each (label, values) group; `marker` (name, value) draws a line across."""
    top = max([v for _, values in groups for v in values] + [marker[1] if marker else 0, 0]) or 1
    scale = (WIDTH - LABEL_W - VALUE_W) / top
    step = BAR_H * len(series) + GAP
    height = TOP + step * len(groups) + (18 if marker else 4)
    parts = _legend(series) if len(series) > 1 else []
    if marker:  # under the bars and their figures
        x = LABEL_W + marker[1] * scale
        parts.append(f'<line class="chart-marker" x1="{x:.1f}" y1="{TOP - 4}" x2="{x:.1f}" y2="{height - 16}"/>'
                     f'<text class="chart-marker-label" x="{x:.1f}" y="{height - 4}">{escape(marker[0])}</text>')  # fmt: skip
    for row, (label, values) in enumerate(groups):
        y = TOP + row * step
        parts.append(f'<text class="chart-label" x="{LABEL_W - 8}" y="{y + BAR_H - 4}">{escape(_short(label))}</text>')
        for i, (s, value) in enumerate(zip(series, values)):
            w, by = max(value * scale, 1 if value else 0), y + i * BAR_H
            parts.append(f'<rect class="{s.css}" x="{LABEL_W}" y="{by + 2}" width="{w:.1f}" height="{BAR_H - 4}"/>'
                         f'<text x="{LABEL_W + w + 4:.1f}" y="{by + BAR_H - 4}">{escape(fmt(value))}</text>')  # fmt: skip
    body = "".join(parts)
    return Markup(
        f'<svg class="chart" role="img" viewBox="0 0 {WIDTH} {height}" aria-labelledby="{ident}-t {ident}-d" '
        f'xmlns="http://www.w3.org/2000/svg"><title id="{ident}-t">{escape(title)}</title>'
        f'<desc id="{ident}-d">{escape(desc)}</desc>{body}</svg>'
    )  # fmt: skip
