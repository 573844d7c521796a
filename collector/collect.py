"""`nodediag collect`: plan, learn the secrets, run every source, write the manifest last.

Order matters for redaction: every secret is learnt (config files, containers' Env and command
lines, host processes' command lines, the operator's own) BEFORE any source writes a byte, so that
propagation removes them from logs and everything else.
"""

from __future__ import annotations

import platform
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import psutil

from nodediag.bundle.format import FORMAT, FORMAT_VERSION
from nodediag.bundle.writer import BundleError, BundleWriter
from nodediag.collector import discovery, secret_files
from nodediag.collector.engine import Runner, Source, SourceContext, SourceResult
from nodediag.collector.plan import Plan
from nodediag.collector.sources import config, containers, docker_state, host, kernel_oom, probes
from nodediag.redaction import RedactionCounts, Redactor
from nodediag.version import __version__

SOURCE_MODULES = (host, kernel_oom, docker_state, config, containers, probes)


class CollectError(Exception):
    """No bundle could be written; the message says why and what to do."""


@dataclass
class CollectOptions:
    output: Path | None = None
    since: timedelta = timedelta(hours=24)
    log_cap: int = 50 * 1024 * 1024
    timeout: float = 600.0
    projects: tuple[str, ...] = ()
    containers: tuple[str, ...] = ()
    env_files: tuple[Path, ...] = ()
    compose_files: tuple[Path, ...] = ()
    docker_timeout: float = 30.0
    command_line: list[str] = field(default_factory=list)
    secrets: tuple[str, ...] = ()  # operator-supplied literals (--secret, --secrets-file)
    patterns: tuple[str, ...] = ()  # operator regexes (--pattern)
    excludes: tuple[str, ...] = ()  # source names or prefixes not to run (--exclude)
    no_logs: bool = False
    redact_ips: bool = False
    # hooks for callers that add to a collection (watch: its samples and its trigger)
    extra_sources: tuple[Callable[[Plan], list[Source]], ...] = ()  # more sources, run like the others
    manifest_extra: dict[str, Any] = field(default_factory=dict)  # top-level manifest fields, redacted


@dataclass
class CollectOutcome:
    path: Path
    size: int
    status: str
    results: list[SourceResult]
    redaction_totals: dict[str, int]
    warnings: list[str]
    chosen_how: str


def utc_now() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)


def iso(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def default_output(now: datetime) -> Path:
    host = discovery.safe_name(socket.gethostname()) or "host"
    return Path(f"nodediag-{host}-{now.strftime('%Y%m%dT%H%M%SZ')}.tar.zst")


def connect_docker(timeout: float) -> tuple[Any, str | None]:
    try:
        import docker
        client = docker.from_env(timeout=int(timeout))
        client.ping()
        return client, None
    except Exception as exc:  # noqa: BLE001 - unreachable Docker means a host-only bundle
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return None, text[:300]


def make_plan(options: CollectOptions, now: datetime) -> tuple[Plan, list[str]]:
    warnings: list[str] = []
    client, error = connect_docker(options.docker_timeout)
    targets: list[discovery.Target] = []
    how = "Docker not reachable: host only"
    docker_root = ""
    if client is not None:
        summaries = client.api.containers(all=True)
        attrs = []
        for s in summaries:
            try:
                attrs.append(client.api.inspect_container(s["Id"]))
            except Exception:  # noqa: BLE001,S112 - removed between list and inspect
                continue
        targets, how = discovery.choose_targets(attrs, projects=options.projects, containers=options.containers)
        try:
            docker_root = client.api.info().get("DockerRootDir", "")
        except Exception:  # noqa: BLE001 - only used to label a filesystem
            docker_root = ""
    else:
        if options.projects or options.containers:
            raise CollectError(f"Docker is not reachable ({error}), so --project/--container cannot be honoured")
        warnings.append(f"Docker is not reachable ({error}); collecting host information only. "
                        "Run as root or a member of the docker group, or set DOCKER_HOST.")
    configs = discovery.config_files(targets, options.env_files, options.compose_files)
    plan = Plan(docker=client, docker_error=error, targets=targets, chosen_how=how, configs=configs,
                since=now - options.since, until=now, log_cap=options.log_cap,
                data_dirs=discovery.data_dirs(targets), docker_root=docker_root)
    return plan, warnings


def make_redactor(options: CollectOptions) -> Redactor:
    redactor = Redactor(redact_ips=options.redact_ips, patterns=options.patterns)
    for value in options.secrets:
        redactor.add_secret(value, "literal")
    return redactor


def harvest_secrets(plan: Plan, redactor: Redactor) -> list[str]:
    """Learn every secret before anything is written; return notes on the secret files read."""
    notes: list[str] = []
    for cf in plan.configs:
        try:
            text = config.read_config(cf)
        except OSError:
            continue
        if cf.kind == "env":
            redactor.harvest_env_file(text)
        else:
            redactor.harvest_compose(text)
            notes.extend(secret_files.harvest_compose_secrets(cf, text, redactor))
    for t in plan.targets:
        notes.extend(secret_files.harvest_target(t, redactor))
        cfg = t.attrs.get("Config") or {}
        redactor.harvest_env(cfg.get("Env") or [])
        redactor.harvest_command(list(cfg.get("Entrypoint") or []) + list(cfg.get("Cmd") or []))
        redactor.harvest_command(list(t.attrs.get("Args") or []))
    for p in psutil.process_iter(["cmdline"]):
        cmdline = p.info.get("cmdline")
        if cmdline:
            redactor.harvest_command(cmdline)
    return notes


def excluded_by(name: str, options: CollectOptions) -> str | None:
    """Why a source is not run (the option that dropped it), or None when it runs."""
    if options.no_logs and name.startswith("container_logs"):
        return "excluded with --no-logs"
    for prefix in options.excludes:
        if name == prefix or name.startswith(prefix):
            return f"excluded with --exclude {prefix}"
    return None


def plan_sources(plan: Plan, options: CollectOptions) -> tuple[list[Source], list[SourceResult], list[str]]:
    """(sources to run, skipped results for the excluded ones, warnings for --exclude matching nothing)."""
    sources: list[Source] = [_discovery_source(plan)]
    for module in SOURCE_MODULES:
        sources.extend(module.sources(plan))
    for extra in options.extra_sources:
        sources.extend(extra(plan))
    kept, skipped = [], []
    for source in sources:
        why = excluded_by(source.name, options)
        if why is None:
            kept.append(source)
        else:
            skipped.append(SourceResult(source.name, status="skipped", error=why))
    warnings = [f"--exclude {prefix} matched no source (names are like container_logs, host_processes)"
                for prefix in options.excludes
                if not any(s.name == prefix or s.name.startswith(prefix) for s in sources)]
    return kept, skipped, warnings


def _discovery_source(plan: Plan) -> Source:
    def collect(ctx: SourceContext) -> None:
        if plan.docker is None:
            raise RuntimeError(f"Docker not reachable: {plan.docker_error}")

    return Source("docker_connect", collect, timeout=5)


def collect(options: CollectOptions, progress=None) -> CollectOutcome:
    started = time.monotonic()
    now = utc_now()
    output = options.output or default_output(now)

    def stage(text: str) -> None:
        if progress is not None:
            progress("stage", None, [text])

    stage("finding the deployment ...")
    try:
        plan, warnings = make_plan(options, now)
    except discovery.DiscoveryError as exc:
        raise CollectError(str(exc)) from exc
    except KeyboardInterrupt as exc:
        raise CollectError("interrupted while finding the deployment; no bundle was written") from exc
    try:
        writer = BundleWriter.create(output)
    except BundleError as exc:
        raise CollectError(str(exc)) from exc
    stage(f"found {plan.chosen_how}; learning its secrets before anything is written ...")
    try:
        redactor = make_redactor(options)
        secret_notes = harvest_secrets(plan, redactor)
    except KeyboardInterrupt as exc:  # nothing collected yet: nothing worth keeping
        writer.abort()
        raise CollectError("interrupted before any source ran; no bundle was written") from exc
    sources, skipped, exclude_warnings = plan_sources(plan, options)
    warnings.extend(exclude_warnings)
    runner = Runner(writer, redactor, plan, deadline=started + options.timeout, progress=progress)
    results = runner.run(sources) + skipped
    if runner.leak is not None:
        writer.abort()
        raise CollectError(str(runner.leak))
    totals: dict[str, int] = {}
    for rec in writer.records:
        for kind, n in rec.redactions.items():
            totals[kind] = totals.get(kind, 0) + n
    manifest = build_manifest(options, plan, now, runner.status, results, totals, redactor)
    manifest["redaction"]["redacted_lines"] = runner.redacted_lines
    manifest["redaction"]["secret_files"] = secret_notes  # which files were read (paths, never values)
    for key, value in redactor.redact_json(options.manifest_extra, RedactionCounts()).items():
        manifest.setdefault(key, value)  # never replaces a field collect itself writes
    try:
        path = writer.finish(manifest)
    except (BundleError, OSError) as exc:
        writer.abort()
        raise CollectError(f"could not finish the bundle: {exc}") from exc
    return CollectOutcome(path, path.stat().st_size, runner.status, results, totals, warnings, plan.chosen_how)


def build_manifest(options: CollectOptions, plan: Plan, now: datetime, status: str,
                   results: list[SourceResult], totals: dict[str, int], redactor: Redactor) -> dict[str, Any]:
    vm = psutil.virtual_memory()
    counts_cmd: Any = redactor.redact_json({"Cmd": options.command_line}, RedactionCounts())
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "tool": {"name": "nodediag", "version": __version__},
        "created_at": iso(now),
        "finished_at": iso(utc_now()),
        "command_line": counts_cmd["Cmd"],
        "window": {"since": iso(plan.since), "until": iso(plan.until)},
        "host": {"hostname": socket.gethostname(), "os": platform.system(), "kernel": platform.release(),
                 "cpus": psutil.cpu_count(logical=True), "memory_bytes": vm.total,
                 "python": sys.version.split()[0]},
        "deployment": {"chosen": plan.chosen_how, "docker_error": plan.docker_error,
                       "containers": [t.manifest() for t in plan.targets],
                       "config_files": [{"path": str(c.path), "bundle_path": c.bundle_path, "kind": c.kind}
                                        for c in plan.configs]},
        "options": {"since_s": int(options.since.total_seconds()), "log_cap_bytes": options.log_cap,
                    "timeout_s": options.timeout, "excluded": list(options.excludes), "no_logs": options.no_logs,
                    "redact_ips": options.redact_ips},
        "status": status,
        "sources": [r.as_manifest() for r in results],
        "redaction": {"placeholder": "[REDACTED:<kind>#<tag>]", "totals": totals,
                      "secrets_known": redactor.secrets_known, "leak_check": "passed",
                      "operator_secrets": len(options.secrets), "patterns": len(options.patterns),
                      "redact_ips": options.redact_ips, "unredacted": False},
    }

