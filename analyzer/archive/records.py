"""What the archive keeps of one analysis, read from its JSON report (docs/report-json-schema.md):
the bundle's metadata, one row per finding, the words full-text search indexes, and the report
itself, compressed."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import zstandard

from nodediag.analyzer.model import SEVERITY_RANK
from nodediag.analyzer.report.formatting import parse_iso

_EVIDENCE_LINES = 20  # per finding, in the search document


def naive_utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return moment


def _time(value: Any) -> datetime | None:
    return naive_utc(parse_iso(value))


def pack_report(report: dict[str, Any]) -> bytes:
    return zstandard.ZstdCompressor(level=6).compress(json.dumps(report, ensure_ascii=False).encode("utf-8"))


def unpack_report(packed: bytes) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(zstandard.ZstdDecompressor().decompress(packed))
    return data


@dataclass(frozen=True)
class BundleMeta:
    host: str
    deployment: str
    collected_at: datetime | None
    collector_version: str
    format_version: int | None
    kind: str


def bundle_meta(report: dict[str, Any]) -> BundleMeta:
    inp = report.get("input") or {}
    manifest = inp.get("manifest") or {}
    facts_host = ((report.get("facts") or {}).get("host") or {})
    host = str((manifest.get("host") or {}).get("hostname") or facts_host.get("hostname") or "")
    deployment = manifest.get("deployment") or {}
    projects = sorted({str(c.get("project")) for c in deployment.get("containers") or [] if c.get("project")})
    fmt = manifest.get("format_version")
    return BundleMeta(
        host=host[:255],
        deployment=",".join(projects)[:255],
        collected_at=_time(manifest.get("created_at")),
        collector_version=str((manifest.get("tool") or {}).get("version") or "")[:64],
        format_version=fmt if isinstance(fmt, int) else None,
        kind=str(inp.get("kind") or "")[:32],
    )


def incident_start(report: dict[str, Any]) -> datetime | None:
    return _time((report.get("verdict") or {}).get("started_at"))


def _roles(report: dict[str, Any]) -> dict[str, str]:
    containers = (report.get("facts") or {}).get("containers") or []
    return {str(c.get("name", "")).lstrip("/"): str(c.get("role") or "") for c in containers}


def finding_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    roles = _roles(report)
    rows = []
    for f in report.get("findings") or []:
        severity = str(f.get("severity") or "info")
        container = str(f.get("container") or "")
        rows.append({
            "rule_id": str(f.get("rule_id") or "")[:120],
            "title": str(f.get("title") or ""),
            "severity": severity[:16],
            "severity_rank": SEVERITY_RANK.get(severity, 0),
            "category": str(f.get("category") or "")[:16],
            "container": container[:255],
            "role": roles.get(container.lstrip("/"), "")[:32],
            "first_seen": _time(f.get("first_seen")),
            "last_seen": _time(f.get("last_seen")),
            "count": int(f.get("count") or 0),
        })
    return rows


def analysis_row(report: dict[str, Any]) -> dict[str, Any]:
    verdict = report.get("verdict") or {}
    found = report.get("findings") or []
    ranks = [SEVERITY_RANK.get(str(f.get("severity")), 0) for f in found]
    by_rank = {rank: name for name, rank in SEVERITY_RANK.items()}
    return {
        "analyzer_version": str(report.get("tool_version") or "")[:64],
        "analyzed_at": _time(report.get("analyzed_at")) or naive_utc(datetime.now(timezone.utc)),
        "verdict_rule": (str(verdict["rule_id"])[:120] if verdict.get("rule_id") else None),
        "verdict_headline": str(verdict.get("headline") or ""),
        "verdict_container": str(verdict.get("container") or "")[:255],
        "verdict_confidence": str(verdict.get("confidence") or "")[:16],
        "started_at": _time(verdict.get("started_at")),
        "max_severity": by_rank.get(max(ranks), "") if ranks else "",
        "findings_count": len(found),
        "report": pack_report(report),
        "error": "",
    }


def search_document(report: dict[str, Any]) -> str:
    """The words ``list --text`` finds: the verdict, and each finding's rule, title, meaning,
    container and first evidence lines."""
    verdict = report.get("verdict") or {}
    parts = [str(verdict.get("headline") or ""), str(verdict.get("rule_id") or "")]
    for f in report.get("findings") or []:
        parts += [str(f.get("rule_id") or ""), str(f.get("title") or ""), str(f.get("meaning") or ""),
                  str(f.get("container") or "")]
        lines: list[str] = []
        for ev in f.get("evidence") or []:
            lines.extend(str(line) for line in ev.get("lines") or [])
            if len(lines) >= _EVIDENCE_LINES:
                break
        parts.extend(lines[:_EVIDENCE_LINES])
    return "\n".join(p for p in parts if p)
