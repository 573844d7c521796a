"""Evidence for findings that come from facts rather than log records: find the line of the
bundle file that shows the fact (``"OOMKilled": true`` in inspect.json, ``KEY=`` in a .env)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from nodediag.analyzer.model import ContainerInfo, Evidence, Finding, LoadedInput, Severity
from nodediag.analyzer.rules.catalog import Rule

MAX_SCAN_BYTES = 8 * 1024 * 1024  # fact files are small; never scan a huge file for a fact


def bundle_name(container: str) -> str:
    """The container's folder name in a bundle (see docs/bundle-format.md)."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", container.lstrip("/"))


def inspect_path(container: str) -> str:
    return f"containers/{bundle_name(container)}/inspect.json"


def locate(
    inp: LoadedInput | None, path: str, needles: Iterable[str], *, container: str = "", note: str = ""
) -> Evidence | None:
    """The first line of bundle file ``path`` containing any of ``needles`` (case-insensitive),
    as evidence; None when the input lacks the file or no line matches."""
    if inp is None or path not in inp.files:
        return None
    wanted = [n.lower() for n in needles]
    try:
        full = Path(inp.root) / path
        if full.stat().st_size > MAX_SCAN_BYTES:
            return None
        with full.open(encoding="utf-8", errors="replace") as handle:
            for number, line in enumerate(handle, start=1):
                lowered = line.lower()
                if any(n in lowered for n in wanted):
                    return Evidence(path, number, number, [line.rstrip("\n")], container=container, note=note)
    except OSError:
        return None
    return None


def text_evidence(path: str, text: str, needles: Iterable[str], *, container: str = "") -> Evidence | None:
    """Like :func:`locate`, for a file whose text is already in memory (config files)."""
    wanted = [n.lower() for n in needles]
    for number, line in enumerate(text.splitlines(), start=1):
        if any(n in line.lower() for n in wanted):
            return Evidence(path, number, number, [line], container=container)
    return None


def env_evidence(inp: LoadedInput | None, container: ContainerInfo, key: str) -> Evidence | None:
    return locate(inp, inspect_path(container.name), [f'"{key}='], container=container.name)


def fact_evidence(path: str, line: str, *, container: str = "", when: datetime | None = None) -> Evidence:
    """Evidence when no file line can be pointed at: the fact stated as one line."""
    return Evidence(path, 0, 0, [line], container=container, time=when)


def make_finding(
    rule: Rule,
    *,
    container: str = "",
    evidence: Iterable[Evidence | None] = (),
    count: int = 1,
    first_seen: datetime | None = None,
    last_seen: datetime | None = None,
    title: str = "",
    severity: Severity | None = None,
    details: dict[str, Any] | None = None,
) -> Finding:
    kept = [e for e in evidence if e is not None]
    return Finding(
        rule_id=rule.id,
        title=title or rule.title,
        severity=severity or rule.severity,
        category=rule.category,
        meaning=rule.meaning,
        action=rule.action,
        container=container,
        first_seen=first_seen,
        last_seen=last_seen or first_seen,
        count=count,
        evidence=kept[:5],
        details={"rule file": rule.source, **(details or {})},
    )
