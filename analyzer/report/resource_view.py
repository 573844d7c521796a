"""Charts of the watcher's samples (facts.resources): each container's memory over time against its
limit, the host's memory, each filesystem's usage; all on one time axis, with the trigger marked."""

from __future__ import annotations

from datetime import datetime, timedelta

from nodediag.analyzer.model import AnalysisResult
from nodediag.analyzer.report import charts
from nodediag.analyzer.report.formatting import fmt_bytes, parse_iso
from nodediag.analyzer.resource_series import ROLE_ORDER


def _percent(value: float) -> str:
    return f"{value:.0f}%"


def resource_charts(result: AnalysisResult) -> list[charts.LineChart]:
    series = result.facts.resources
    if series is None:
        return []
    moments = [p.time for points in series.containers.values() for p in points] + [p.time for p in series.host] + \
        [p.time for points in series.filesystems.values() for p in points]
    if not moments:
        return []
    start, end = min(moments), max(moments)
    if end - start < timedelta(seconds=10):
        end = start + timedelta(seconds=10)
    trigger_at: datetime | None = None
    if series.trigger and isinstance(series.trigger.get("time"), str):
        trigger_at = parse_iso(series.trigger["time"])
        if trigger_at is not None:
            start, end = min(start, trigger_at), max(end, trigger_at)
    span = (start, end)
    out: list[charts.LineChart] = []
    order = sorted(series.containers, key=lambda n: (ROLE_ORDER.get(series.roles.get(n, ""), 3), n))
    for name in order:
        points = series.containers[name]
        limits = [p.mem_limit for p in points if p.mem_limit and p.mem_limited]
        ceiling = float(max(limits)) if limits else None
        used = [(p.time, float(p.mem_used) if p.mem_used is not None else None) for p in points]
        peak = max((v for _, v in used if v is not None), default=None)
        caption = f"memory, {sum(1 for _, v in used if v is not None)} samples"
        if peak is not None:
            caption += f", peak {fmt_bytes(peak)}"
            caption += f" of its {fmt_bytes(ceiling)} limit ({peak / ceiling * 100:.0f}%)" if ceiling else " (no limit)"
        chart = charts.line_chart(name, caption, used, ceiling, span, fmt_bytes, marker=trigger_at)
        if chart:
            out.append(chart)
    if series.host:
        totals = [p.mem_total for p in series.host if p.mem_total]
        ceiling = float(max(totals)) if totals else None
        used = [(p.time, float(p.mem_total - p.mem_available) if p.mem_total and p.mem_available is not None else None)
                for p in series.host]
        low = min((p.mem_available for p in series.host if p.mem_available is not None), default=None)
        caption = "memory in use" + (f", lowest available {fmt_bytes(low)}" if low is not None else "")
        chart = charts.line_chart("host", caption, used, ceiling, span, fmt_bytes, ceiling_title="RAM",
                                  marker=trigger_at)
        if chart:
            out.append(chart)
    for name, disk in sorted(series.filesystems.items()):
        values = [(p.time, p.percent) for p in disk]
        peak = max((v for _, v in values if v is not None), default=None)
        role = series.filesystem_roles.get(name, "")
        caption = "disk usage" + (f" ({role})" if role else "") + (f", peak {peak:.0f}%" if peak is not None else "")
        chart = charts.line_chart(name, caption, values, 100.0, span, _percent, ceiling_title="full",
                                  marker=trigger_at)
        if chart:
            out.append(chart)
    return out
