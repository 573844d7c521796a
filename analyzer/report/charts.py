"""Geometry for the report's inline SVG charts.

These functions compute numbers and plain strings only; the HTML template draws the SVG elements
with autoescaping on, so no bundle text ever reaches the page unescaped. Nothing here emits markup.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

# Levels drawn in the per-minute chart, bottom to top of each stacked bar.
CHART_LEVELS = ("WARN", "ERROR", "FATAL")
MAX_BUCKETS = 240  # wider series are merged into coarser buckets so bars stay visible
TICKS = 4  # time labels along the x axis: start, three in between, end


@dataclass(slots=True)
class Rect:
    x: float
    y: float
    width: float
    height: float
    css_class: str
    title: str = ""


@dataclass(slots=True)
class Label:
    x: float
    y: float
    text: str
    anchor: str = "start"  # SVG text-anchor


@dataclass(slots=True)
class SeriesChart:
    """One container's WARN/ERROR/FATAL per time bucket as stacked bars."""

    container: str
    width: int
    height: int
    bars: list[Rect]
    labels: list[Label]
    window: Rect | None  # the incident window, shaded
    totals: dict[str, int]
    bucket_minutes: int
    peak: int


@dataclass(slots=True)
class BarRow:
    label: str
    fraction: float  # 0..1, clamped
    value_text: str
    level: str  # ok | warn | bad


@dataclass(slots=True)
class BarChart:
    """Horizontal bars: filesystem usage, container memory against its limit."""

    width: int
    height: int
    rows: list[BarRow] = field(default_factory=list)
    label_width: int = 210
    track_width: int = 300
    row_height: int = 26


def _bucket_minutes(span: timedelta) -> int:
    minutes = max(1, int(span.total_seconds() // 60) + 1)
    size = 1
    for candidate in (1, 2, 5, 10, 15, 30, 60, 120, 240, 480, 1440):
        size = candidate
        if minutes / candidate <= MAX_BUCKETS:
            break
    return size


def _time_label(moment: datetime, with_date: bool) -> str:
    return moment.strftime("%m-%d %H:%M" if with_date else "%H:%M")


def level_series_charts(
    series: dict[str, list[tuple[datetime, dict[str, int]]]],
    window: tuple[datetime, datetime] | None,
    width: int = 720,
    height: int = 120,
) -> list[SeriesChart]:
    """Stacked-bar charts on one shared time axis, so bursts line up across containers."""
    points = [(name, when, counts) for name, rows in series.items() for when, counts in rows]
    if not points:
        return []
    start = min(when for _, when, _ in points)
    end = max(when for _, when, _ in points) + timedelta(minutes=1)
    if window is not None:  # the axis always shows the whole incident window
        start, end = min(start, window[0]), max(end, window[1])
    bucket = _bucket_minutes(end - start)
    bucket_span = timedelta(minutes=bucket)
    slots = max(1, -(-(end - start) // bucket_span))
    left, right, top, bottom = 34.0, 8.0, 8.0, 20.0
    plot_w, plot_h = width - left - right, height - top - bottom
    bar_w = plot_w / slots
    with_date = (end - start) > timedelta(hours=20) or start.date() != end.date()

    charts = []
    for name in sorted(series):
        merged: dict[int, dict[str, int]] = {}
        totals = {level: 0 for level in CHART_LEVELS}
        for when, counts in series[name]:
            slot = merged.setdefault(int((when - start) // bucket_span), {})
            for level in CHART_LEVELS:
                n = int(counts.get(level, 0) or 0)
                slot[level] = slot.get(level, 0) + n
                totals[level] += n
        peak = max((sum(c.values()) for c in merged.values()), default=0)
        scale = plot_h / peak if peak else 0.0
        bars = []
        for index, counts in sorted(merged.items()):
            x = left + index * bar_w
            base = top + plot_h
            bucket_start = start + index * bucket_span
            title = f"{bucket_start:%Y-%m-%d %H:%M}Z " + ", ".join(
                f"{level} {counts[level]}" for level in CHART_LEVELS if counts.get(level)
            )
            for level in CHART_LEVELS:
                n = counts.get(level, 0)
                if not n:
                    continue
                h = max(n * scale, 1.0)
                base -= h
                bars.append(
                    Rect(round(x, 2), round(base, 2), round(max(bar_w - 0.4, 0.6), 2), round(h, 2),
                         f"lv-{level.lower()}", title)
                )
        labels = [Label(left - 4, top + 8, str(peak), "end"), Label(left - 4, top + plot_h, "0", "end")]
        for tick in range(TICKS + 1):
            anchor = "start" if tick == 0 else "end" if tick == TICKS else "middle"
            moment = start + (end - start) * tick / TICKS
            labels.append(Label(round(left + plot_w * tick / TICKS, 2), height - 5,
                                _time_label(moment, with_date) + ("Z" if tick in (0, TICKS) else ""), anchor))
        shade = None
        if window is not None:
            span = (end - start).total_seconds()
            x0 = left + max(0.0, (window[0] - start).total_seconds() / span) * plot_w
            x1 = left + min(1.0, max(0.0, (window[1] - start).total_seconds() / span)) * plot_w
            if x1 > x0 or window[0] == window[1]:
                shade = Rect(round(x0, 2), top, round(max(x1 - x0, 2.0), 2), plot_h, "window",
                             "incident window")
        charts.append(SeriesChart(name, width, height, bars, labels, shade, totals, bucket, peak))
    return charts


def usage_level(fraction: float) -> str:
    if fraction >= 0.9:
        return "bad"
    if fraction >= 0.8:
        return "warn"
    return "ok"


def bar_chart(rows: list[BarRow], width: int = 860) -> BarChart:
    chart = BarChart(width=width, height=0, rows=rows)
    chart.height = max(1, len(rows)) * chart.row_height + 4
    return chart


def bar_row(label: str, used: float, total: float, value_text: str) -> BarRow:
    fraction = min(1.0, max(0.0, used / total)) if total > 0 else 0.0
    return BarRow(label, fraction, value_text, usage_level(fraction))


# --- resources over time (the samples of `nodediag watch`) ------------------------------------

@dataclass(slots=True)
class Polyline:
    points: str  # "x,y x,y ..." for an SVG polyline
    css_class: str  # used | limit
    title: str


@dataclass(slots=True)
class LineChart:
    """One quantity over time against its ceiling: a container's memory and its limit, host memory,
    a filesystem's usage."""

    title: str
    caption: str
    width: int
    height: int
    lines: list[Polyline]
    labels: list[Label]
    marker: Rect | None = None  # the trigger's time, a thin bar
    points: int = 0


def line_chart(title: str, caption: str, values: list[tuple[datetime, float | None]], ceiling: float | None,
               span: tuple[datetime, datetime], value_text: Callable[[float], str], *,
               ceiling_title: str = "limit", marker: datetime | None = None,
               width: int = 720, height: int = 120) -> LineChart | None:
    """``values`` drawn on the shared time axis ``span``, scaled to ``ceiling`` (or the peak)."""
    known = [(when, v) for when, v in values if v is not None]
    if not known:
        return None
    start, end = span
    seconds = max((end - start).total_seconds(), 1.0)
    top_value = max(ceiling or 0.0, max(v for _, v in known)) or 1.0
    left, right, top, bottom = 60.0, 8.0, 8.0, 20.0
    plot_w, plot_h = width - left - right, height - top - bottom

    def x(when: datetime) -> float:
        return round(left + min(1.0, max(0.0, (when - start).total_seconds() / seconds)) * plot_w, 2)

    def y(value: float) -> float:
        return round(top + plot_h - min(1.0, max(0.0, value / top_value)) * plot_h, 2)

    lines = [Polyline(" ".join(f"{x(w)},{y(v)}" for w, v in known), "used",
                      f"peak {value_text(max(v for _, v in known))}, last {value_text(known[-1][1])}")]
    if ceiling:
        lines.insert(0, Polyline(f"{left},{y(ceiling)} {left + plot_w},{y(ceiling)}", "limit",
                                 f"{ceiling_title} {value_text(ceiling)}"))
    with_date = (end - start) > timedelta(hours=20) or start.date() != end.date()
    labels = [Label(left - 4, top + 8, value_text(top_value), "end"), Label(left - 4, top + plot_h, "0", "end")]
    for tick in range(TICKS + 1):
        anchor = "start" if tick == 0 else "end" if tick == TICKS else "middle"
        moment = start + (end - start) * tick / TICKS
        label = moment.strftime("%m-%d %H:%M:%S" if with_date else "%H:%M:%S") + ("Z" if tick in (0, TICKS) else "")
        labels.append(Label(round(left + plot_w * tick / TICKS, 2), height - 5, label, anchor))
    shade = Rect(x(marker), top, 2.0, plot_h, "trigger", f"trigger {marker:%H:%M:%S}Z") if marker else None
    return LineChart(title, caption, width, height, lines, labels, shade, len(known))
