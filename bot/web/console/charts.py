"""Server-made SVG bar charts: rectangles computed here, drawn by `_chart.html` with attributes only (the CSP
allows no inline style); colours come from the stylesheet's ``series-N`` classes.

The SVG stretches to the page's width (preserveAspectRatio="none"), which would stretch text too, so it holds
only shapes; the tick labels are HTML under it, one equal flex cell per column, each centred under its bar.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

SERIES_COLOURS = 6  # console.css defines .series-0 … .series-5; more series reuse them


@dataclass(frozen=True, slots=True)
class Rect:
    x: float
    y: float
    width: float
    height: float
    series: int
    title: str  # shown on hover and read by screen readers


@dataclass(frozen=True, slots=True)
class Chart:
    label: str  # what the chart shows, for aria-label
    width: int
    height: int
    rects: tuple[Rect, ...]
    ticks: tuple[str, ...]  # one per column, under its bar ("" where none is shown)
    top: int  # the value the full height stands for
    legend: tuple[tuple[int, str], ...]  # (series, name)


def stacked_bars(label: str, columns: Sequence[tuple[str, Sequence[int]]], series: Sequence[str], *,
                 width: int = 600, height: int = 160, every: int = 1) -> Chart:
    """One column per (tick label, values per series), stacked; a tick label under every `every`th column."""
    plot = height
    top = max((sum(values) for _, values in columns), default=0) or 1
    step = width / max(len(columns), 1)
    bar = max(step * 0.7, 1.0)
    rects: list[Rect] = []
    ticks: list[str] = []
    for i, (tick, values) in enumerate(columns):
        x = round(i * step + (step - bar) / 2, 1)
        y = float(plot)
        for s, value in enumerate(values):
            if value <= 0:
                continue
            h = plot * value / top
            y -= h
            rects.append(Rect(x, round(y, 1), round(bar, 1), round(h, 1), s % SERIES_COLOURS,
                              f"{tick} {series[s]}：{value}"))
        ticks.append(tick if i % every == 0 else "")
    return Chart(label, width, height, tuple(rects), tuple(ticks), top,
                 tuple((s % SERIES_COLOURS, name) for s, name in enumerate(series)))
