"""The watcher's samples (``watch/samples.jsonl`` in a bundle taken by `nodediag watch`) as series.

One JSON object per line: ``{"t": unix seconds, "kind": "container"|"host"|"fs"|"status", "name": ...,
...}`` (docs/bundle-format.md). Tolerant like the rest of the facts: a line that does not parse or
a field of the wrong type is skipped and counted in a warning, never a crash.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from nodediag.analyzer.model import (
    ContainerPoint,
    DiskPoint,
    HostPoint,
    ResourceSeries,
    ResourceSummary,
    StatusPoint,
)

SAMPLES_FILE = "watch/samples.jsonl"
MAX_POINTS_PER_SERIES = 5000  # a longer series keeps its newest points


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def parse_samples(text: str, manifest: dict[str, Any] | None = None, file: str = SAMPLES_FILE
                  ) -> tuple[ResourceSeries, int]:
    """(the series, how many lines were skipped)."""
    series = ResourceSeries(file=file)
    bad = 0
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            bad += 1
            continue
        t = _float(row.get("t")) if isinstance(row, dict) else None
        if t is None:
            bad += 1
            continue
        try:
            when = datetime.fromtimestamp(t, tz=timezone.utc)
        except (OverflowError, OSError, ValueError):
            bad += 1
            continue
        kind, name = row.get("kind"), str(row.get("name") or "")
        if kind == "container" and name:
            series.containers.setdefault(name, []).append(ContainerPoint(
                time=when, state=str(row.get("state") or ""), mem_used=_int(row.get("mem_used")),
                mem_limit=_int(row.get("mem_limit")), mem_limited=row.get("mem_limited") is True,
                cpu_percent=_float(row.get("cpu_percent")), restart_count=_int(row.get("restart_count"))))
            if row.get("role"):
                series.roles[name] = str(row["role"])
        elif kind == "host":
            series.host.append(HostPoint(time=when, mem_total=_int(row.get("mem_total")),
                                         mem_available=_int(row.get("mem_available")),
                                         swap_total=_int(row.get("swap_total")), swap_used=_int(row.get("swap_used")),
                                         load1=_float(row.get("load1"))))
        elif kind == "fs" and name:
            series.filesystems.setdefault(name, []).append(DiskPoint(
                time=when, used=_int(row.get("used")), total=_int(row.get("total")),
                percent=_float(row.get("percent"))))
            if row.get("role"):
                series.filesystem_roles[name] = str(row["role"])
        elif kind == "status" and name:
            series.status.setdefault(name, []).append(StatusPoint(time=when, status=_int(row.get("status")),
                                                                  error=str(row.get("error") or "")))
        else:
            bad += 1
    groups: list[dict[str, Any]] = [series.containers, series.filesystems, series.status]
    for group in groups:
        for points in group.values():
            points.sort(key=lambda p: p.time)
            del points[:-MAX_POINTS_PER_SERIES]
    series.host.sort(key=lambda p: p.time)
    del series.host[:-MAX_POINTS_PER_SERIES]
    manifest = manifest if isinstance(manifest, dict) else {}
    trigger = manifest.get("trigger")
    series.trigger = trigger if isinstance(trigger, dict) else None
    watch = manifest.get("watch")
    series.interval_s = _float(watch.get("interval_s")) if isinstance(watch, dict) else None
    series.summary = summarize(series)
    return series, bad


ROLE_ORDER = {"prover-agent": 0, "prover-broker": 1, "prover-node": 2}


def _trigger_time(series: ResourceSeries) -> datetime | None:
    when = (series.trigger or {}).get("time")
    if not isinstance(when, str):
        return None
    try:
        moment = datetime.fromisoformat(when.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def summarize(series: ResourceSeries) -> list[ResourceSummary]:
    """Each container's samples up to the trigger in a few numbers (agents, broker, node, others)."""
    until = _trigger_time(series)
    out: list[ResourceSummary] = []
    order = sorted(series.containers, key=lambda n: (ROLE_ORDER.get(series.roles.get(n, ""), 3), n))
    for name in order:
        points = [p for p in series.containers[name] if until is None or p.time <= until] or series.containers[name]
        if not points:
            continue
        mem = [p for p in points if p.mem_used is not None]
        cpu = [p for p in points if p.cpu_percent is not None]
        limit = next((p.mem_limit for p in reversed(points) if p.mem_limit and p.mem_limited), None)
        host = next((p.mem_limit for p in reversed(points) if p.mem_limit and not p.mem_limited), None)
        out.append(ResourceSummary(
            container=name, role=series.roles.get(name, ""), samples=len(points), first_time=points[0].time,
            last_time=points[-1].time,
            mem_start=mem[0].mem_used if mem else None, mem_peak=max(p.mem_used or 0 for p in mem) if mem else None,
            mem_last=mem[-1].mem_used if mem else None, mem_limit=limit, host_memory=None if limit else host,
            cpu_start=cpu[0].cpu_percent if cpu else None,
            cpu_peak=max(p.cpu_percent or 0.0 for p in cpu) if cpu else None,
            cpu_last=cpu[-1].cpu_percent if cpu else None, state_last=points[-1].state))
    return out


def memory_before(series: ResourceSeries, container: str) -> str | None:
    """One sentence on a container's memory in the watch samples: first, peak and last use against
    its limit over the time they cover. None without samples of its memory."""
    points = [p for p in series.containers.get(container, []) if p.mem_used is not None]
    if not points:
        return None

    def mib(n: int) -> str:
        return f"{n / 2**20:.1f} MiB"

    first, last = points[0], points[-1]
    peak = max(points, key=lambda p: p.mem_used or 0)
    limit = next((p.mem_limit for p in reversed(points) if p.mem_limit and p.mem_limited), None)
    against = f" of its {mib(limit)} limit ({(peak.mem_used or 0) / limit * 100:.0f}% at the peak)" if limit else ""
    span = (last.time - first.time).total_seconds()
    return (f"{mib(first.mem_used or 0)} -> {mib(last.mem_used or 0)}{against}, peak {mib(peak.mem_used or 0)}, "
            f"over {span:.0f} s in {len(points)} samples ({series.file})")


def add_memory_context(findings: list[Any], series: ResourceSeries | None, kill_rules: set[str]) -> None:
    """Give the findings of a memory kill (``kill_rules``: the rules tagged memory-kill) what the
    watcher saw of that container's memory before it."""
    if series is None:
        return
    for finding in findings:
        if finding.rule_id in kill_rules and finding.container:
            text = memory_before(series, finding.container)
            if text:
                finding.details["memory before (watch samples)"] = text
