"""What the HTML and Markdown templates show, computed from an AnalysisResult.

Ordering, capping, anchors, cross-links and summaries live here so the templates only lay out.
Every string passed on is plain text; escaping is the templates' job.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from nodediag.analyzer.model import (
    LEVEL_RANK,
    SEVERITY_RANK,
    AnalysisResult,
    ContainerInfo,
    DataGap,
    Evidence,
    Finding,
    HostFacts,
    TimelineEntry,
)
from nodediag.analyzer.report import charts
from nodediag.analyzer.report.formatting import anchor_slug, fmt_bytes, fmt_time, parse_iso, plain_value, utc
from nodediag.analyzer.report.resource_view import resource_charts
from nodediag.analyzer.timeline import kernel_oom_scope

MAX_TIMELINE_ROWS = 2000
MAX_EVIDENCE_PER_FINDING = 8
MAX_EVIDENCE_LINES = 60
MAX_TIMELINE_TEXT = 2000
# Docker event actions that mean a container went down: shown as alarming in the timeline.
ALARMING_EVENTS = ("die", "oom", "kill", "health_status: unhealthy", "restart")


@dataclass(slots=True)
class EvidenceView:
    evidence: Evidence
    numbered: list[tuple[int | None, str]]  # (line number or None when lines do not map 1:1, text)
    hidden_lines: int
    before: list[tuple[int, str]] = field(default_factory=list)  # context lines (grep -B), numbered
    after: list[tuple[int, str]] = field(default_factory=list)  # (grep -A)


@dataclass(slots=True)
class FindingView:
    finding: Finding
    anchor: str
    rank: int  # 0 info/low, 1 medium, 2 high/critical: what the severity filter compares
    evidence: list[EvidenceView]
    hidden_evidence: int
    causes: list[tuple[str, str, str]]  # (rule id, anchor or "", title or "")
    explains: list[tuple[str, str]]  # (anchor, title) of the symptoms this finding explains
    details: list[tuple[str, str]]


@dataclass(slots=True)
class TimelineRow:
    entry: TimelineEntry | None  # None for an incident-window marker
    rank: int  # 0 quiet, 1 warning, 2 error
    in_window: bool
    text: str
    marker: str = ""  # "start" | "end" for the incident window markers
    anchor: str = ""  # the finding's anchor, for kind == "finding"


@dataclass(slots=True)
class ContainerRow:
    info: ContainerInfo
    uptime_s: float | None
    down_for_s: float | None


@dataclass(slots=True)
class RedactionView:
    placeholder: str
    totals: list[tuple[str, int]]
    secrets_known: Any
    leak_check: str
    per_file: list[tuple[str, list[tuple[str, int]]]]


@dataclass(slots=True)
class ReportView:
    result: AnalysisResult
    verdict_anchor: str
    verdict_finding: Finding | None
    severity_counts: list[tuple[str, int]]
    findings: list[FindingView]
    containers_in_view: list[str]
    timeline: list[TimelineRow]
    timeline_hidden: int
    containers: list[ContainerRow]
    level_charts: list[charts.SeriesChart]
    hosts: list[HostBlock]  # the resources section: one block per host (one, unlabelled, for one host)
    redaction: RedactionView | None
    manifest_rows: list[tuple[str, str]]
    failed_sources: list[dict[str, Any]]
    parse_totals: dict[str, int]
    warnings: list[str] = field(default_factory=list)
    reference_time: datetime | None = None
    next_steps: list[str] = field(default_factory=list)
    top_findings: list[FindingView] = field(default_factory=list)  # what the ticket summary names
    gap_groups: list[tuple[str, list[DataGap]]] = field(default_factory=list)  # data gaps by host ("" for one)
    resource_charts: list[charts.LineChart] = field(default_factory=list)  # watch samples over time


def severity_rank(severity: str) -> int:
    rank = SEVERITY_RANK.get(severity, 0)
    return 2 if rank >= SEVERITY_RANK["high"] else 1 if rank == SEVERITY_RANK["medium"] else 0


def timeline_rank(entry: TimelineEntry) -> int:
    if entry.kind == "finding":
        return severity_rank(entry.level)
    if entry.kind == "event":
        action = entry.text.lower()
        return 2 if any(action.startswith(a) or f" {a}" in action for a in ALARMING_EVENTS) else 0
    rank = LEVEL_RANK.get((entry.level or "").upper(), 0)
    return 2 if rank >= LEVEL_RANK["ERROR"] else 1 if rank == LEVEL_RANK["WARN"] else 0


def _finding_anchors(findings: list[Finding]) -> list[str]:
    anchors, used = [], set()
    for finding in findings:
        base = "finding-" + anchor_slug(finding.rule_id + ("-" + finding.container if finding.container else ""))
        anchor, n = base, 2
        while anchor in used:
            anchor, n = f"{base}-{n}", n + 1
        used.add(anchor)
        anchors.append(anchor)
    return anchors


def _evidence_view(evidence: Evidence) -> EvidenceView:
    lines = evidence.lines[:MAX_EVIDENCE_LINES]
    maps_one_to_one = len(evidence.lines) == evidence.line_end - evidence.line_start + 1
    numbered = [(evidence.line_start + i if maps_one_to_one else None, line) for i, line in enumerate(lines)]
    before = [(evidence.line_start - len(evidence.before) + i, line) for i, line in enumerate(evidence.before)]
    after = [(evidence.line_end + 1 + i, line) for i, line in enumerate(evidence.after)]
    return EvidenceView(evidence, numbered, len(evidence.lines) - len(lines), before, after)


def finding_views(findings: list[Finding]) -> list[FindingView]:
    anchors = _finding_anchors(findings)
    first_by_rule: dict[str, int] = {}
    for index, finding in enumerate(findings):
        first_by_rule.setdefault(finding.rule_id, index)
    explains: dict[int, list[tuple[str, str]]] = {}
    views = []
    for index, finding in enumerate(findings):
        causes = []
        for rule_id in finding.caused_by:
            target = first_by_rule.get(rule_id)
            if target is None:
                causes.append((rule_id, "", ""))
                continue
            causes.append((rule_id, anchors[target], findings[target].title))
            where = f" ({finding.container})" if finding.container else ""
            explains.setdefault(target, []).append((anchors[index], finding.title + where))
        shown = finding.evidence[:MAX_EVIDENCE_PER_FINDING]
        views.append(
            FindingView(
                finding=finding,
                anchor=anchors[index],
                rank=severity_rank(finding.severity),
                evidence=[_evidence_view(e) for e in shown],
                hidden_evidence=len(finding.evidence) - len(shown),
                causes=causes,
                explains=[],
                details=[(str(k), plain_value(v)) for k, v in finding.details.items()],
            )
        )
    for index, symptoms in explains.items():
        views[index].explains = symptoms
    return views


def timeline_rows(
    entries: list[TimelineEntry],
    window: tuple[datetime, datetime] | None,
    finding_anchor_by_rule: dict[str, str],
    limit: int = MAX_TIMELINE_ROWS,
    finding_anchor_by_container: dict[tuple[str, str], str] | None = None,
) -> tuple[list[TimelineRow], int]:
    """Chronological rows with incident-window markers; beyond ``limit`` the quietest are dropped.
    A row a rule matched links to that rule's finding in the row's own container
    (``finding_anchor_by_container``: (rule id, container) -> anchor), else to its first one."""
    own = finding_anchor_by_container or {}
    ordered = sorted(entries, key=lambda e: utc(e.time))

    def in_window(entry: TimelineEntry) -> bool:
        return window is not None and utc(window[0]) <= utc(entry.time) <= utc(window[1])

    keep = ordered
    if len(ordered) > limit:
        def priority(item: tuple[int, TimelineEntry]) -> tuple[int, int, int]:
            entry = item[1]
            kind = 1 if entry.kind in ("finding", "event") else 0
            return (-kind, -timeline_rank(entry), 0 if in_window(entry) else 1)

        chosen = sorted(enumerate(ordered), key=priority)[:limit]
        keep = [entry for _, entry in sorted(chosen, key=lambda item: item[0])]
    rows: list[TimelineRow] = []
    started = ended = window is None
    for entry in keep:
        if window is not None and not started and utc(entry.time) >= utc(window[0]):
            rows.append(TimelineRow(None, 2, True, f"Incident window starts {fmt_time(window[0])}", "start"))
            started = True
        if window is not None and started and not ended and utc(entry.time) > utc(window[1]):
            rows.append(TimelineRow(None, 2, True, f"Incident window ends {fmt_time(window[1])}", "end"))
            ended = True
        text = entry.text if len(entry.text) <= MAX_TIMELINE_TEXT else entry.text[:MAX_TIMELINE_TEXT] + " …"
        anchor = (own.get((entry.rule_id, entry.container)) or finding_anchor_by_rule.get(entry.rule_id, "")
                  if entry.rule_id else "")
        rows.append(TimelineRow(entry, timeline_rank(entry), in_window(entry), text, anchor=anchor))
    if window is not None and not started:
        rows.append(TimelineRow(None, 2, True, f"Incident window starts {fmt_time(window[0])}", "start"))
    if window is not None and not ended:
        rows.append(TimelineRow(None, 2, True, f"Incident window ends {fmt_time(window[1])}", "end"))
    return rows, len(ordered) - len(keep)


def _stat_number(stats: dict[str, Any], *keys: str) -> float | None:
    for key in keys:
        value = stats.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    return None


@dataclass(slots=True)
class HostBlock:
    """One host's resources in the report: its facts, charts and kernel OOM kills."""

    label: str  # "" when the input is one host
    facts: HostFacts
    filesystem_chart: charts.BarChart | None = None
    memory_chart: charts.BarChart | None = None
    kernel_oom: list[tuple[Evidence, str]] = field(default_factory=list)  # each kill and whom it hit


def memory_chart(host: HostFacts, containers: list[ContainerInfo]) -> charts.BarChart | None:
    """Each container's memory use against its limit (or its host's RAM when it has none)."""
    limits = {c.name: c.memory_limit for c in containers}
    rows = []
    for name, stats in sorted(host.container_stats.items()):
        used = _stat_number(stats, "memory_usage", "mem_usage", "memory_used", "memory_bytes")
        if used is None:
            continue
        limit = _stat_number(stats, "memory_limit", "mem_limit") or limits.get(name)
        limit_label = "limit"
        if not limit:
            limit, limit_label = host.memory_total, "host RAM"
        if not limit:
            continue
        text = f"{fmt_bytes(used)} of {fmt_bytes(limit)} {limit_label} ({100 * used / limit:.0f}%)"
        rows.append(charts.bar_row(name, used, float(limit), text))
    return charts.bar_chart(rows) if rows else None


def filesystem_chart(host: HostFacts) -> charts.BarChart | None:
    rows = []
    for fs in host.filesystems:
        label = fs.mountpoint + (f" ({fs.role})" if fs.role else "")
        text = f"{fmt_bytes(fs.used)} of {fmt_bytes(fs.total)} ({fs.percent:.0f}%), {fmt_bytes(fs.free)} free"
        row = charts.bar_row(label, fs.used, fs.total, text)
        row.fraction = min(1.0, max(0.0, fs.percent / 100)) if fs.percent else row.fraction
        row.level = charts.usage_level(row.fraction)
        rows.append(row)
    return charts.bar_chart(rows) if rows else None


def host_blocks(result: AnalysisResult) -> list[HostBlock]:
    """The resources by host: each host of several its own facts, filesystems, container memory
    (against that host's RAM) and kernel OOM kills; one input, its one host."""
    containers = result.facts.containers
    if len(result.facts.hosts) > 1:
        hosts = [(h.label, h.facts) for h in result.facts.hosts]
    else:
        hosts = [("", result.facts.host)]
    return [HostBlock(label, facts, filesystem_chart(facts), memory_chart(facts, containers),
                      [(e, kernel_oom_scope(e, containers)[1]) for e in facts.kernel_oom]) for label, facts in hosts]


def gap_groups(result: AnalysisResult) -> list[tuple[str, list[DataGap]]]:
    """The data gaps by host when there are several (a gap names its host first, ``<label>: ``,
    or lies in its files, ``<label>/``); else one group."""
    labels = [h.label for h in result.facts.hosts] if len(result.facts.hosts) > 1 else []
    if not labels:
        return [("", list(result.input.gaps))] if result.input.gaps else []
    groups: dict[str, list[DataGap]] = {label: [] for label in [*labels, ""]}
    for gap in result.input.gaps:
        owner = next((label for label in labels if gap.source.startswith(f"{label}: ") or gap.source.startswith(
            f"{label}/") or any(f.startswith(f"{label}/") or f.startswith(f"containers/{label}_") for f in gap.files)),
            "")
        groups[owner].append(gap)
    return [(label, gaps) for label, gaps in groups.items() if gaps]


def redaction_view(manifest: dict[str, Any] | None) -> RedactionView | None:
    if not manifest:
        return None
    redaction = manifest.get("redaction") if isinstance(manifest.get("redaction"), dict) else None
    per_file = []
    for entry in manifest.get("files") or []:
        counts = entry.get("redactions") if isinstance(entry, dict) else None
        if isinstance(counts, dict) and counts:
            per_file.append((str(entry.get("path", "")), sorted((str(k), _int(v)) for k, v in counts.items())))
    if redaction is None and not per_file:
        return None
    redaction = redaction or {}
    totals_value = redaction.get("totals")
    totals: dict[str, Any] = totals_value if isinstance(totals_value, dict) else {}
    return RedactionView(
        placeholder=str(redaction.get("placeholder", "")),
        totals=sorted((str(k), _int(v)) for k, v in totals.items()),
        secrets_known=redaction.get("secrets_known"),
        leak_check=str(redaction.get("leak_check", "")),
        per_file=sorted(per_file),
    )


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def manifest_rows(manifest: dict[str, Any] | None) -> list[tuple[str, str]]:
    if not manifest:
        return []
    rows = []
    tool = manifest.get("tool") if isinstance(manifest.get("tool"), dict) else {}
    if tool:
        rows.append(("Collected by", f"{tool.get('name', '')} {tool.get('version', '')}".strip()))
    if "format_version" in manifest:
        rows.append(("Bundle format", f"{manifest.get('format', '')} v{manifest.get('format_version')}"))
    for key, label in (("created_at", "Collected at"), ("finished_at", "Finished at")):
        moment = parse_iso(manifest.get(key))
        if moment is not None or manifest.get(key):
            rows.append((label, fmt_time(moment) if moment else str(manifest.get(key))))
    command = manifest.get("command_line")
    if isinstance(command, list):
        rows.append(("Command line", shlex.join(str(part) for part in command)))
    window = manifest.get("window") if isinstance(manifest.get("window"), dict) else None
    if window:
        since, until = parse_iso(window.get("since")), parse_iso(window.get("until"))
        rows.append(("Log window", f"{fmt_time(since)} to {fmt_time(until)}"))
    if manifest.get("status"):
        rows.append(("Collection status", str(manifest["status"])))
    host = manifest.get("host") if isinstance(manifest.get("host"), dict) else {}
    if host:
        rows.append(("Host", plain_value(host)))
    return rows


def reference_time(result: AnalysisResult) -> datetime | None:
    """When the snapshot was taken: the bundle's creation time, else the analysis time."""
    created = parse_iso((result.input.manifest or {}).get("created_at"))
    return created or (utc(result.analyzed_at) if result.analyzed_at else None)


def container_rows(result: AnalysisResult, now: datetime | None) -> list[ContainerRow]:
    rows = []
    for info in result.facts.containers:
        uptime = down = None
        if now is not None and info.started_at is not None and info.state in ("running", "restarting"):
            uptime = (now - utc(info.started_at)).total_seconds()
        if now is not None and info.finished_at is not None and info.state not in ("running", "restarting"):
            down = (now - utc(info.finished_at)).total_seconds()
        rows.append(ContainerRow(info, uptime, down))
    return rows


def next_steps(findings: list[Finding], limit: int = 6) -> list[str]:
    """The distinct actions of the findings that matter, causes first (findings are ordered)."""
    steps: list[str] = []
    for finding in findings:
        if finding.category == "cause" or SEVERITY_RANK.get(finding.severity, 0) >= SEVERITY_RANK["medium"]:
            action = " ".join(finding.action.split())
            if action and action not in steps:
                steps.append(action)
    return steps[:limit]


def top_findings(views: list[FindingView], limit: int = 3) -> list[FindingView]:
    """The few findings a ticket summary names: causes and medium-or-worse findings, in report
    order (causes first), one per rule."""
    chosen: list[FindingView] = []
    rules: set[str] = set()
    for view in views:
        finding = view.finding
        if finding.rule_id in rules or finding.category == "info":
            continue
        if finding.category == "cause" or SEVERITY_RANK.get(finding.severity, 0) >= SEVERITY_RANK["medium"]:
            chosen.append(view)
            rules.add(finding.rule_id)
    return chosen[:limit]


def _named_containers(finding: Finding) -> list[str]:
    """The containers a finding names besides its own (one finding for several containers)."""
    named = finding.details.get("containers")
    if isinstance(named, str):
        return [n.strip() for n in named.split(",") if n.strip()]
    if isinstance(named, (list, tuple)):
        return [str(n) for n in named]
    return []


def build_view(result: AnalysisResult) -> ReportView:
    findings = finding_views(result.findings)
    first_anchor: dict[str, str] = {}
    own_anchor: dict[tuple[str, str], str] = {}
    for view in findings:
        first_anchor.setdefault(view.finding.rule_id, view.anchor)
        for name in [view.finding.container, *_named_containers(view.finding)]:
            own_anchor.setdefault((view.finding.rule_id, name), view.anchor)
    timeline, hidden = timeline_rows(result.timeline, result.incident_window, first_anchor,
                                     finding_anchor_by_container=own_anchor)
    names = {c.name for c in result.facts.containers}
    names.update(e.container for e in result.timeline if e.container)
    names.update(f.container for f in result.findings if f.container)
    counts: dict[str, int] = {}
    for finding in result.findings:
        counts[finding.severity] = counts.get(finding.severity, 0) + 1
    manifest = result.input.manifest
    failed = [
        s for s in (manifest or {}).get("sources") or [] if isinstance(s, dict) and s.get("status") not in ("ok", None)
    ]
    warnings = list(result.input.warnings)
    status = (manifest or {}).get("status")
    if status and status != "complete":
        warnings.insert(0, f"Collection did not complete (status: {status}): the bundle holds only what was "
                           "gathered before it stopped.")
    now = reference_time(result)
    verdict_finding = next((f for f in result.findings if f.rule_id == result.verdict.rule_id), None)
    return ReportView(
        result=result,
        verdict_anchor=first_anchor.get(result.verdict.rule_id or "", ""),
        verdict_finding=verdict_finding,
        severity_counts=sorted(counts.items(), key=lambda kv: -SEVERITY_RANK.get(kv[0], 0)),
        findings=findings,
        containers_in_view=sorted(n for n in names if n),
        timeline=timeline,
        timeline_hidden=hidden,
        containers=container_rows(result, now),
        level_charts=charts.level_series_charts(result.level_series, result.incident_window),
        hosts=host_blocks(result),
        redaction=redaction_view(manifest),
        manifest_rows=manifest_rows(manifest),
        failed_sources=failed,
        parse_totals={
            "files": len(result.parse_stats),
            "lines": sum(s.lines for s in result.parse_stats),
            "records": sum(s.records for s in result.parse_stats),
            "unrecognized": sum(s.unrecognized for s in result.parse_stats),
        },
        warnings=warnings,
        reference_time=now,
        next_steps=next_steps(result.findings),
        top_findings=top_findings(findings),
        gap_groups=gap_groups(result),
        resource_charts=resource_charts(result),
    )
