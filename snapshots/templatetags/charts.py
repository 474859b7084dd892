"""Inline SVG for the pages: leaderboard sparklines, the model page's trend
charts, and the small badges for deltas and rank movement.

Everything is drawn on the server, so the pages need no JavaScript and no
chart library: each point of a chart carries a `<title>` that browsers show
on hover and screen readers can reach, and each chart is an `role="img"` with
a text summary.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta

from django import template
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from .figures import _UNITS, compact, exact

register = template.Library()

Point = tuple[datetime, int | float | None]


def daily(points: Iterable[Point]) -> list[Point]:
    """The last point of each UTC day, oldest first.

    Refreshes run hourly; a 30-day chart of 720 points says no more than one
    of 30 and weighs 24 times as much in every page.
    """
    by_day: dict[date, Point] = {}
    for taken_at, value in points:
        by_day.pop(taken_at.date(), None)  # re-insert, so the order follows the latest point
        by_day[taken_at.date()] = (taken_at, value)
    return list(by_day.values())


def nice_ticks(low: float, high: float, *, count: int = 4, integer: bool = True) -> list[float]:
    """About `count` round tick values (1, 2, 2.5 or 5 × 10^k apart) covering low..high."""
    if high < low:
        low, high = high, low
    if high == low:
        pad = max(abs(high) * 0.05, 1)
        low, high = low - pad, high + pad
    raw = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    if integer:
        step = max(1, round(step))
    first = math.floor(low / step) * step
    last = math.ceil(high / step) * step
    ticks = []
    value = first
    while value <= last + step / 1e6:
        ticks.append(value)
        value += step
    return ticks


def tick_labels(ticks: Sequence[float]) -> list[str]:
    """Short labels for axis ticks, as precise as it takes to tell them apart.

    compact() alone turns 2,000 / 2,005 / 2,010 into three "2k".
    """
    labels = [compact(t) for t in ticks]
    if len(set(labels)) == len(labels):
        return labels
    exact_labels = [exact(int(t)) if float(t).is_integer() else exact(t) for t in ticks]
    if max(len(label) for label in exact_labels) <= 6:  # "2,005" reads better than "2.005k"
        return exact_labels
    largest = max(abs(t) for t in ticks)
    size, unit = next(((s, u) for s, u in _UNITS if largest >= s), (1, ""))
    for digits in (2, 3):
        labels = [_trim(f"{t / size:.{digits}f}") + unit for t in ticks]
        if len(set(labels)) == len(labels):
            return labels
    return exact_labels


def _trim(number: str) -> str:
    return number.rstrip("0").rstrip(".") if "." in number else number


def _day_label(moment: datetime) -> str:
    return f"{moment:%b} {moment.day}"


def _when(moment: datetime) -> str:
    return f"{moment:%b} {moment.day}, {moment:%Y %H:%M} UTC"


def _x_scale(start: datetime, end: datetime, left: float, right: float):
    total = (end - start).total_seconds() or 1.0

    def x(moment: datetime) -> float:
        share = (moment - start).total_seconds() / total
        return round(left + min(max(share, 0.0), 1.0) * (right - left), 1)

    return x


@register.simple_tag
def sparkline(
    points: Sequence[Point],
    start: datetime | None = None,
    end: datetime | None = None,
    label: str = "Downloads",
) -> SafeString:
    """A 96×24 line of one model's daily values between `start` and `end`.

    Every row of a leaderboard shares the same time window, so a model that
    appeared last week draws only the last quarter of its box.
    """
    known = [(t, v) for t, v in daily(points) if v is not None]
    if len(known) < 2:
        return mark_safe('<span class="spark-none" title="Not enough history yet">—</span>')
    width, height, pad = 96, 24, 2.5
    start = start or known[0][0]
    end = end or known[-1][0]
    x = _x_scale(start, end, pad, width - pad)
    values = [v for _, v in known]
    low, high = min(values), max(values)
    span = (high - low) or 1

    def y(value: float) -> float:
        if high == low:
            return height / 2
        return round(height - pad - (value - low) / span * (height - 2 * pad), 1)

    coords = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in known)
    first, last = known[0], known[-1]
    trend = "up" if last[1] > first[1] else "down" if last[1] < first[1] else "flat"
    summary = (
        f"{label}: {exact(first[1])} on {_day_label(first[0])}, "
        f"{exact(last[1])} on {_day_label(last[0])}"
    )
    return format_html(
        '<svg class="spark spark-{}" viewBox="0 0 {} {}" width="{}" height="{}" role="img" '
        'aria-label="{}"><title>{}</title><polyline points="{}"/>'
        '<circle cx="{}" cy="{}" r="2"/></svg>',
        trend,
        width,
        height,
        width,
        height,
        summary,
        summary,
        coords,
        x(last[0]),
        y(last[1]),
    )


@register.simple_tag
def trend_chart(
    points: Sequence[Point],
    label: str,
    noun: str,
    start: datetime | None = None,
    end: datetime | None = None,
    invert: bool = False,
) -> SafeString:
    """A line chart of one series with labelled axes and a tooltip per day.

    `label` names the chart ("Downloads, rolling 30 days"); `noun` follows each
    value in the tooltips ("downloads"). `invert` puts small values on top,
    for ranks.
    """
    known = [(t, v) for t, v in daily(points) if v is not None]
    if not known:
        return format_html('<p class="chart-none">No {} recorded in this window.</p>', noun)
    width, height = 400, 210
    right, top, bottom = width - 14, 14, height - 26
    # The axis starts at the window's start or the model's first point,
    # whichever is later: a model first seen three days ago gets three
    # readable days, not a stub squeezed against the right edge.
    start = max(start, known[0][0]) if start else known[0][0]
    end = end or known[-1][0]
    if end <= start:
        start, end = known[0][0], known[-1][0]
    values = [v for _, v in known]
    integer = all(float(v).is_integer() for v in values)
    ticks = nice_ticks(min(values), max(values), integer=integer)
    if invert:
        ticks = [1] + [t for t in ticks if t > 1]  # rank 0 does not exist
    labels = tick_labels(ticks)
    left = max(40, round(6.8 * max(len(label) for label in labels)) + 10)  # room for the labels
    low, high = ticks[0], ticks[-1]
    span = (high - low) or 1
    x = _x_scale(start, end, left, right)

    def y(value: float) -> float:
        share = (value - low) / span
        if invert:
            share = 1 - share
        return round(bottom - share * (bottom - top), 1)

    grid = format_html_join(
        "",
        '<line x1="{}" x2="{}" y1="{}" y2="{}"/><text class="yt" x="{}" y="{}">{}</text>',
        (
            (left, right, y(t), y(t), left - 6, round(y(t) + 4, 1), text)
            for t, text in zip(ticks, labels, strict=True)
        ),
    )
    dates = format_html_join(
        "",
        '<line x1="{0}" x2="{0}" y1="{1}" y2="{2}"/><text class="xt" x="{0}" y="{3}">{4}</text>',
        ((x(t), bottom, bottom + 4, bottom + 18, text) for t, text in _x_ticks(start, end)),
    )
    line = " ".join(
        f"{'M' if i == 0 else 'L'}{x(t):.1f},{y(v):.1f}" for i, (t, v) in enumerate(known)
    )
    area = ""
    if not invert and len(known) > 1:
        area = format_html(
            '<path class="area" d="{} L{},{} L{},{} Z"/>',
            line,
            x(known[-1][0]),
            bottom,
            x(known[0][0]),
            bottom,
        )
    # Each day is a full-height band, so the tooltip answers anywhere above
    # the date rather than only on a 3-pixel dot.
    xs = [x(t) for t, _ in known]
    edges = [left] + [round((a + b) / 2, 1) for a, b in zip(xs, xs[1:], strict=False)] + [right]
    marks = format_html_join(
        "",
        '<g class="pt"><title>{}: {} {}</title>'
        '<rect x="{}" y="{}" width="{}" height="{}"/>'
        '<circle cx="{}" cy="{}" r="3"/></g>',
        (
            (
                _when(t),
                ("#" + exact(v)) if invert else exact(v),
                noun,
                edges[i],
                top,
                round(max(edges[i + 1] - edges[i], 1), 1),
                bottom - top,
                xs[i],
                y(v),
            )
            for i, (t, v) in enumerate(known)
        ),
    )
    first, last = known[0], known[-1]
    summary = (
        f"{label}: {exact(first[1])} on {_day_label(first[0])}, "
        f"{exact(last[1])} on {_day_label(last[0])}; "
        f"lowest {exact(min(values))}, highest {exact(max(values))}."
    )
    return format_html(
        '<svg class="chart{}" viewBox="0 0 {} {}" role="img" aria-label="{}">'
        "<title>{}</title>"
        '<g class="grid">{}</g><g class="xaxis">{}'
        '<line x1="{}" x2="{}" y1="{}" y2="{}"/></g>'
        '<text class="axis-title" x="{}" y="{}">{}</text>'
        '{}<path class="line" d="{}"/>{}</svg>',
        " chart-rank" if invert else "",
        width,
        height,
        summary,
        summary,
        grid,
        dates,
        left,
        right,
        bottom,
        bottom,
        2,
        height - 4,
        "UTC",
        area,
        line,
        marks,
    )


def _x_ticks(start: datetime, end: datetime) -> list[tuple[datetime, str]]:
    """Date ticks at UTC midnights, a whole number of days apart, at most about six."""
    span_days = (end - start).total_seconds() / 86400
    if span_days < 2:  # too short for day ticks: label both ends
        if span_days < 1:
            return [(t, f"{_day_label(t)} {t:%H:%M}") for t in dict.fromkeys((start, end))]
        return [(start, _day_label(start)), (end, _day_label(end))]
    step = timedelta(days=max(1, math.ceil(span_days / 5)))
    tick = start.replace(hour=0, minute=0, second=0, microsecond=0)
    if tick < start:
        tick += timedelta(days=1)
    ticks = []
    while tick <= end:
        ticks.append((tick, _day_label(tick)))
        tick += step
    return ticks


def _signed(value: int | float) -> str:
    return f"{value:+,}" if isinstance(value, int) else f"{value:+,.1f}"


@register.simple_tag
def delta_badge(value: int | None, is_new: bool = False, window: str = "24h") -> SafeString:
    """▲1.2k (green), ▼300 (red), "new", or "—" when unknown (never 0)."""
    if is_new:
        return format_html(
            '<span class="delta new" title="Not in the snapshot {} before">new</span>', window
        )
    if value is None:
        return format_html(
            '<span class="delta unknown" title="{}: no snapshot to compare with">—</span>', window
        )
    if value == 0:
        return format_html('<span class="delta flat" title="No change in {}">±0</span>', window)
    kind, arrow = ("up", "▲") if value > 0 else ("down", "▼")
    return format_html(
        '<span class="delta {}" title="{} in {}">{}{}</span>',
        kind,
        _signed(value),
        window,
        arrow,
        compact(abs(value)),
    )


@register.simple_tag
def rank_move(change: int | None, is_new: bool = False) -> SafeString:
    """Places gained since the 24h baseline: ▲3, ▼1, "new", "=" or "—"."""
    if is_new:
        return mark_safe('<span class="move new" title="New in the last 24 hours">new</span>')
    if change is None:
        return mark_safe('<span class="move unknown" title="No snapshot 24 hours before">—</span>')
    if change == 0:
        return mark_safe('<span class="move flat" title="Same rank as 24 hours before">=</span>')
    kind, arrow, verb = ("up", "▲", "Up") if change > 0 else ("down", "▼", "Down")
    places = abs(change)
    return format_html(
        '<span class="move {}" title="{} {} place{} in 24 hours">{}{}</span>',
        kind,
        verb,
        places,
        "" if places == 1 else "s",
        arrow,
        places,
    )
