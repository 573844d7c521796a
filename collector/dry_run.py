"""`nodediag collect --dry-run`: what a collection would gather, from where, and about how much.

Talks to Docker (list and inspect only) and stats files; writes nothing. Log sizes come from the
json-file log of each container (``LogPath`` in docker inspect, plus its rotated ``.1``, ``.2`` ...)
when this user can read it: that is the raw JSON-wrapped log, an upper bound of what is kept,
which is also capped at ``--log-cap``.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from nodediag.collector.collect import (
    CollectOptions,
    excluded_by,
    harvest_secrets,
    make_plan,
    make_redactor,
    plan_sources,
    utc_now,
)
from nodediag.collector.discovery import Target
from nodediag.collector.plan import Plan


@dataclass
class PlannedSource:
    name: str
    status: str  # "will run" | "excluded"
    estimate_bytes: int | None = None
    note: str = ""


@dataclass
class DryRunReport:
    chosen: str
    docker_error: str | None
    containers: list[dict[str, Any]] = field(default_factory=list)
    config_files: list[dict[str, Any]] = field(default_factory=list)
    sources: list[PlannedSource] = field(default_factory=list)
    secret_files: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def estimate_bytes(self) -> int:
        return sum(s.estimate_bytes or 0 for s in self.sources if s.status == "will run")

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["estimate_bytes"] = self.estimate_bytes
        return data


def log_file_size(target: Target) -> int | None:
    """Bytes of the container's json-file log and its rotated files, or None when not readable."""
    log_path = target.attrs.get("LogPath") or ""
    if not log_path:
        return None
    base = Path(log_path)
    try:
        total = base.stat().st_size
    except OSError:
        return None
    if not os.access(base, os.R_OK):
        return None
    for n in range(1, 100):
        try:
            total += base.with_name(f"{base.name}.{n}").stat().st_size
        except OSError:
            break
    return total


def _estimate(name: str, plan: Plan) -> tuple[int | None, str]:
    if name.startswith("container_logs:"):
        target = next((t for t in plan.targets if f"container_logs:{t.name}" == name), None)
        size = log_file_size(target) if target else None
        if size is None:
            return None, "log size unknown (json-file log not readable here)"
        kept = min(size, plan.log_cap)
        return kept, (f"json-file log {size} bytes (all of its history; the --since window takes part), "
                      f"at most {plan.log_cap} kept")
    if name.startswith("config:"):
        cf = next((c for c in plan.configs if f"config:{c.path}" == name), None)
        try:
            return (cf.path.stat().st_size, f"-> {cf.bundle_path}") if cf else (None, "")
        except OSError as exc:
            return None, f"not readable: {exc.strerror}"
    return None, ""


def dry_run(options: CollectOptions) -> DryRunReport:
    plan, warnings = make_plan(options, utc_now())
    report = DryRunReport(chosen=plan.chosen_how, docker_error=plan.docker_error, warnings=list(warnings))
    report.containers = [{**t.manifest(), "log_bytes": log_file_size(t)} for t in plan.targets]
    for cf in plan.configs:
        try:
            size: int | None = cf.path.stat().st_size
        except OSError:
            size = None
        report.config_files.append({"path": str(cf.path), "kind": cf.kind, "bundle_path": cf.bundle_path,
                                    "bytes": size})
    kept, skipped, exclude_warnings = plan_sources(plan, options)
    report.warnings.extend(exclude_warnings)
    for source in kept:
        estimate, note = _estimate(source.name, plan)
        report.sources.append(PlannedSource(source.name, "will run", estimate, note))
    for result in skipped:
        report.sources.append(PlannedSource(result.name, "excluded", None,
                                             excluded_by(result.name, options) or ""))
    report.secret_files = harvest_secrets(plan, make_redactor(options))  # read in memory only
    if plan.docker is not None:
        plan.docker.close()
    return report
