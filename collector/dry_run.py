"""`nodediag collect --dry-run`: what a collection would gather, from where, and about how much.

Talks to Docker (list and inspect only) and stats files; writes nothing. Each planned source says
itself what it writes (``Source.writes``) and, where it can tell, how much (``Source.estimate``):
log sizes come from the json-file log of each container (``LogPath`` in docker inspect, plus its
rotated ``.1``, ``.2`` ...) when this user can read it, an upper bound of what is kept, which is
also capped at ``--log-cap``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from nodediag.collector.collect import (
    CollectOptions,
    excluded_by,
    harvest_secrets,
    make_plan,
    make_redactor,
    plan_sources,
    utc_now,
)
from nodediag.collector.engine import Source
from nodediag.collector.sources.containers import log_file_size

__all__ = ["DryRunReport", "PlannedSource", "dry_run", "log_file_size"]


@dataclass
class PlannedSource:
    name: str
    status: Literal["will run", "excluded"]
    estimate_bytes: int | None = None
    note: str = ""
    writes: list[str] = field(default_factory=list)


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


def _planned(source: Source, status: Literal["will run", "excluded"], note: str = "") -> PlannedSource:
    estimate, said = source.estimate() if source.estimate is not None and status == "will run" else (None, "")
    return PlannedSource(source.name, status, estimate, note or said, list(source.writes))


def dry_run(options: CollectOptions) -> DryRunReport:
    options.check()
    plan, warnings = make_plan(options, utc_now())
    try:
        report = DryRunReport(chosen=plan.chosen_how, docker_error=plan.docker_error, warnings=list(warnings))
        report.containers = [{**t.manifest(), "log_bytes": log_file_size(t)} for t in plan.targets]
        for cf in plan.configs:
            try:
                size: int | None = cf.path.stat().st_size
            except OSError:
                size = None
            report.config_files.append({"path": str(cf.path), "kind": cf.kind, "bundle_path": cf.bundle_path,
                                        "bytes": size})
        kept, excluded = plan_sources(plan, options)
        report.sources = [_planned(s, "will run") for s in kept]
        report.sources += [_planned(s, "excluded", excluded_by(s, options) or "") for s in excluded]
        report.secret_files = harvest_secrets(plan, make_redactor(options))  # read in memory only
    finally:
        if plan.docker is not None:
            plan.docker.close()
    return report
