"""`nodediag collect`: plan, learn the secrets, run every source, write the manifest last.

Order matters for redaction: every secret is learnt (config files, containers' Env and command
lines, host processes' command lines, the operator's own) BEFORE any source writes a byte, so that
propagation removes them from logs and everything else.

:func:`collect` is the one entry point (the CLI and ``watch`` call it): it returns a
:class:`CollectOutcome` (complete, or partial with the reasons) or raises :class:`CollectError`
(nothing was written; ``exit_code`` 1, or 2 for :class:`UsageError`). It installs no signal
handlers: a caller turns SIGTERM into :class:`nodediag.collector.engine.Interrupted`.
"""

from __future__ import annotations

import hashlib
import os
import platform
import re
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Literal

import psutil

from nodediag.bundle.format import FORMAT, FORMAT_VERSION
from nodediag.bundle.writer import BundleError, BundleWriter, DiskFullError
from nodediag.collector import discovery, secret_files
from nodediag.collector.engine import ProgressCallback, Runner, RunStatus, Source, SourceContext, SourceResult
from nodediag.collector.plan import Plan
from nodediag.collector.sources import config, containers, docker_state, host, kernel_oom, probes
from nodediag.redaction import RedactionCounts, Redactor
from nodediag.redaction.host_key import RedactionKey
from nodediag.version import __version__

SOURCE_MODULES = (host, kernel_oom, docker_state, config, containers, probes)
DOCKER_CONNECT = "docker_connect"
CASE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
CONFIG_READ_S = 10.0  # at most this long to read one config file while learning secrets

ExitCode = Literal[0, 1, 2, 4]


def source_families() -> list[str]:
    """Every source family (``--exclude`` takes one of these, or a full source name)."""
    families = [DOCKER_CONNECT]
    for module in SOURCE_MODULES:
        families.extend(module.FAMILIES)
    return families


class CollectError(Exception):
    """No bundle was written; the message says why and what to do."""

    exit_code: ExitCode = 1


class UsageError(CollectError):
    """The options cannot work (a name that matches nothing, options that exclude each other)."""

    exit_code: ExitCode = 2


@dataclass
class CollectOptions:
    output: Path | None = None
    since: timedelta | datetime = timedelta(hours=24)  # a duration back from ``until``, or a time
    until: datetime | None = None  # end of the window (default: now)
    log_cap: int = 50 * 1024 * 1024
    line_cap: int = 1024 * 1024  # longest log line kept whole; longer ones are cut and marked
    timeout: float = 600.0
    projects: tuple[str, ...] = ()
    containers: tuple[str, ...] = ()
    all_containers: bool = False  # --all: every container when no Aztec one is found
    env_files: tuple[Path, ...] = ()
    compose_files: tuple[Path, ...] = ()
    docker_timeout: float = 30.0  # one Docker API call; a log stream silent this long is "stalled"
    command_line: list[str] = field(default_factory=list)
    secrets: tuple[str, ...] = ()  # operator-supplied literals (--secret, --secrets-file)
    patterns: tuple[str, ...] = ()  # operator regexes (--pattern)
    excludes: tuple[str, ...] = ()  # source families or full names not to run (--exclude)
    no_logs: bool = False
    redact_ips: bool = False
    case_id: str | None = None
    # the placeholder key (the host's key file by the CLI; None: a fresh key for this run only)
    redaction_key: RedactionKey | None = None
    # hooks for callers that add to a collection (watch: its samples and its trigger)
    extra_sources: tuple[Callable[[Plan], list[Source]], ...] = ()  # more sources, run like the others
    manifest_extra: dict[str, Any] = field(default_factory=dict)  # top-level manifest fields, redacted

    def check(self) -> None:
        """Raise :class:`UsageError` for options that cannot work."""
        if self.timeout <= 0:
            raise UsageError("--timeout must be more than 0")
        if self.projects and self.containers:
            raise UsageError("--project and --container cannot be used together: pass one of them")
        if self.all_containers and (self.projects or self.containers):
            raise UsageError("--all cannot be used with --project or --container")
        if self.case_id is not None and not CASE_ID.match(self.case_id):
            raise UsageError(f"--case-id {self.case_id!r}: use 1 to 64 letters, digits, '.', '_' or '-', "
                             "starting with a letter or digit")
        families = source_families()
        for name in self.excludes:
            if ":" not in name and name not in families:
                raise UsageError(f"--exclude {name!r} is not a source; valid names: {', '.join(families)} "
                                 "(or one source such as container_logs:NAME, see --dry-run)")
        since, until = window(self, utc_now())
        if since >= until:
            raise UsageError(f"--since ({iso(since)}) must be before --until ({iso(until)})")


@dataclass
class CollectOutcome:
    path: Path
    size: int
    status: RunStatus
    results: list[SourceResult]
    redaction_totals: dict[str, int]
    warnings: list[str]
    chosen_how: str
    partial_reasons: list[str] = field(default_factory=list)
    sha256: str = ""
    case_id: str | None = None
    duration_s: float = 0.0

    @property
    def complete(self) -> bool:
        return not self.partial_reasons

    @property
    def exit_code(self) -> ExitCode:
        return 0 if self.complete else 4

    def as_dict(self) -> dict[str, Any]:
        return {
            "bundle": os.path.abspath(self.path), "size": self.size, "sha256": self.sha256, "case_id": self.case_id,
            "exit_code": self.exit_code, "complete": self.complete, "status": self.status,
            "partial_reasons": list(self.partial_reasons), "chosen": self.chosen_how,
            "duration_s": round(self.duration_s, 3),
            "sources": [{**r.as_manifest(), "bytes": r.bytes} for r in self.results],
            "redaction": dict(self.redaction_totals), "warnings": list(self.warnings),
        }


def utc_now() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)


def iso(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def window(options: CollectOptions, now: datetime) -> tuple[datetime, datetime]:
    """The (since, until) of logs and events."""
    until = min(options.until, now) if options.until is not None else now
    since = options.since if isinstance(options.since, datetime) else until - options.since
    return since, until


def default_output(now: datetime, case_id: str | None = None) -> Path:
    host = discovery.safe_name(socket.gethostname()) or "host"
    case = f"{case_id}-" if case_id else ""
    return Path(f"nodediag-{case}{host}-{now.strftime('%Y%m%dT%H%M%SZ')}.tar.zst")


def connect_docker(timeout: float) -> tuple[Any, str | None]:
    try:
        import docker
        client = docker.from_env(timeout=max(1, int(timeout)))
        client.ping()
        return client, None
    except Exception as exc:  # noqa: BLE001 - unreachable Docker means a host-only bundle
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return None, text[:300]


def make_plan(options: CollectOptions, now: datetime) -> tuple[Plan, list[str]]:
    warnings: list[str] = []
    client, error = connect_docker(min(options.docker_timeout, max(options.timeout, 1.0)))
    targets: list[discovery.Target] = []
    how = "host information only (Docker not reachable)"
    docker_root = ""
    if client is not None:
        summaries = client.api.containers(all=True)
        attrs = []
        for s in summaries:
            try:
                attrs.append(client.api.inspect_container(s["Id"]))
            except Exception:  # noqa: BLE001 - removed between list and inspect
                continue
        try:
            targets, how = discovery.choose_targets(attrs, projects=options.projects, containers=options.containers,
                                                    all_containers=options.all_containers)
        except discovery.DiscoveryError:
            client.close()
            raise
        try:
            docker_root = client.api.info().get("DockerRootDir", "")
        except Exception:  # noqa: BLE001 - only used to label a filesystem
            docker_root = ""
    else:
        if options.projects or options.containers:
            raise CollectError(f"Docker is not reachable ({error}), so --project/--container cannot be honoured. "
                               "Run as root or a member of the docker group, or set DOCKER_HOST")
        warnings.append(f"Docker is not reachable ({error}); collecting host information only. "
                        "Run as root or a member of the docker group, or set DOCKER_HOST.")
    configs = discovery.config_files(targets, options.env_files, options.compose_files, notes=warnings)
    since, until = window(options, now)
    plan = Plan(docker=client, docker_error=error, targets=targets, chosen_how=how, configs=configs,
                since=since, until=until, log_cap=options.log_cap,
                data_dirs=discovery.data_dirs(targets), docker_root=docker_root)
    return plan, warnings


def redaction_key(options: CollectOptions) -> RedactionKey:
    return options.redaction_key if options.redaction_key is not None else RedactionKey.fresh()


def make_redactor(options: CollectOptions) -> Redactor:
    redactor = Redactor(redaction_key(options).secret(), redact_ips=options.redact_ips, patterns=options.patterns)
    for value in options.secrets:
        redactor.add_secret(value, "literal")
    # the Docker endpoint may carry credentials (tcp://user:password@host) that error messages repeat
    redactor.harvest_env({name: os.environ[name] for name in ("DOCKER_HOST", "HTTPS_PROXY", "HTTP_PROXY",
                                                              "https_proxy", "http_proxy") if os.environ.get(name)})
    return redactor


def _read_bounded(cf: discovery.ConfigFile, timeout: float) -> str:
    """A config file's text, read in a helper thread so that a hung filesystem or a FIFO cannot
    hold collection past ``timeout``; OSError (or TimeoutError) when it cannot be read."""
    if not cf.path.is_file():
        raise OSError(f"{cf.path} is not a regular file")
    box: dict[str, Any] = {}

    def read() -> None:
        try:
            box["text"] = config.read_config(cf)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            box["error"] = exc

    reader = threading.Thread(target=read, name="config-read", daemon=True)
    reader.start()
    reader.join(max(timeout, 0.1))
    if reader.is_alive():
        raise TimeoutError(f"reading {cf.path} took longer than {max(timeout, 0.1):.0f}s")
    if "error" in box:
        raise box["error"]
    return str(box["text"])


def harvest_secrets(plan: Plan, redactor: Redactor, deadline: float | None = None,
                    warnings: list[str] | None = None) -> list[str]:
    """Learn every secret before anything is written; return notes on the secret files read.
    Reading each config file is bounded (by ``CONFIG_READ_S`` and the overall ``deadline``)."""
    notes: list[str] = []
    for cf in plan.configs:
        # half of what is left at most: the rest of the harvest must still fit before the deadline
        left = CONFIG_READ_S if deadline is None else min(CONFIG_READ_S, (deadline - time.monotonic()) / 2)
        try:
            text = _read_bounded(cf, left)
        except TimeoutError as exc:
            if warnings is not None:
                warnings.append(f"{exc}: its values are not known to the redactor and it is not collected")
            continue
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


def _harvest_within(plan: Plan, redactor: Redactor, deadline: float, warnings: list[str]) -> list[str]:
    """:func:`harvest_secrets` bounded by the overall deadline (a hung filesystem under a secret
    file): past it nothing can be redacted safely, so nothing is written."""
    box: dict[str, Any] = {}

    def harvest() -> None:
        try:
            box["notes"] = harvest_secrets(plan, redactor, deadline, warnings)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            box["error"] = exc

    worker = threading.Thread(target=harvest, name="secret-harvest", daemon=True)
    worker.start()
    worker.join(max(deadline - time.monotonic(), 0.1))
    if worker.is_alive():
        raise CollectError("reading the deployment's .env, compose and secret files did not finish within "
                           "--timeout; no bundle was written (its values could not be redacted). Raise --timeout "
                           "or check the filesystems those files are on")
    if "error" in box:
        raise box["error"]
    return list(box["notes"])


def excluded_by(source: Source, options: CollectOptions) -> str | None:
    """Why a source is not run (the option that dropped it), or None when it runs."""
    if options.no_logs and source.family == "container_logs":
        return "excluded with --no-logs"
    for name in options.excludes:
        if name in (source.name, source.family):
            return f"excluded with --exclude {name}"
    return None


def plan_sources(plan: Plan, options: CollectOptions) -> tuple[list[Source], list[Source]]:
    """(sources to run, sources excluded by the operator). Raises :class:`UsageError` for an
    ``--exclude`` naming one source (``family:subject``) that this plan does not have."""
    sources: list[Source] = [_discovery_source(plan)]
    for module in SOURCE_MODULES:
        sources.extend(module.sources(plan))
    for extra in options.extra_sources:
        sources.extend(extra(plan))
    names = {s.name for s in sources}
    for name in options.excludes:
        if ":" in name and name not in names:
            listed = ", ".join(sorted(n for n in names if ":" in n)) or "none"
            raise UsageError(f"--exclude {name!r} matches no source of this collection; sources with a subject: "
                             f"{listed}")
    kept = [s for s in sources if excluded_by(s, options) is None]
    skipped = [s for s in sources if excluded_by(s, options) is not None]
    return kept, skipped


def _discovery_source(plan: Plan) -> Source:
    def collect(ctx: SourceContext) -> None:
        if plan.docker is None:
            raise RuntimeError(f"Docker not reachable: {plan.docker_error}")

    return Source(DOCKER_CONNECT, collect, timeout=5)


def partial_reasons(status: RunStatus, stop_reason: str, results: list[SourceResult], plan: Plan) -> list[str]:
    """Why a written bundle is not complete (empty when it is)."""
    reasons = []
    if status == "interrupted":
        reasons.append(f"collection was {stop_reason or 'interrupted'}")
    elif status == "deadline":
        reasons.append("the overall --timeout ran out")
    if plan.docker is None:
        reasons.append(f"Docker was not reachable ({plan.docker_error}): host information only")
    bad = [r for r in results if r.status in ("failed", "timeout") and r.name != DOCKER_CONNECT]
    if bad:
        shown = ", ".join(f"{r.name} ({r.status})" for r in bad[:8])
        shown += f" and {len(bad) - 8} more" if len(bad) > 8 else ""
        reasons.append(f"{len(bad)} source(s) failed or timed out: {shown}")
    early = [r for r in results if r.ended_early and r.status == "truncated"]
    if early:
        reasons.append(f"{len(early)} source(s) ended early and kept what they had read: "
                       + ", ".join(r.name for r in early[:8]))
    return reasons


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def collect(options: CollectOptions, progress: ProgressCallback | None = None) -> CollectOutcome:
    """Write one bundle. Returns the outcome (``exit_code`` 0 complete, 4 partial); raises
    :class:`CollectError` when nothing was written (every temporary file is removed first)."""
    options.check()
    started = time.monotonic()
    deadline = started + options.timeout
    now = utc_now()
    output = options.output or default_output(now, options.case_id)

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
        sources, excluded = plan_sources(plan, options)
        writer = BundleWriter.create(output, unique=options.output is None)
    except (BundleError, CollectError) as exc:
        _close(plan)
        if isinstance(exc, CollectError):
            raise
        raise CollectError(str(exc)) from exc
    try:
        return _collect_into(writer, plan, sources, excluded, options, warnings, progress, stage, started, now,
                             deadline)
    except BaseException:
        writer.abort()  # nothing half-written stays behind, whatever stopped us
        raise
    finally:
        _close(plan)


def _close(plan: Plan) -> None:
    if plan.docker is not None:
        try:
            plan.docker.close()
        except Exception:  # noqa: BLE001 - closing is best effort
            pass


def _collect_into(writer: BundleWriter, plan: Plan, sources: list[Source], excluded: list[Source],
                  options: CollectOptions, warnings: list[str], progress: ProgressCallback | None,
                  stage: Any, started: float, now: datetime, deadline: float) -> CollectOutcome:
    warnings.extend(writer.warnings)
    stage(f"collecting {plan.chosen_how}; reading .env and compose files to know which values to redact ...")
    try:
        redactor = make_redactor(options)
        secret_notes = _harvest_within(plan, redactor, deadline, warnings)
    except KeyboardInterrupt as exc:  # nothing collected yet: nothing worth keeping
        raise CollectError("interrupted before any source ran; no bundle was written") from exc
    runner = Runner(writer, redactor, plan, deadline=deadline, progress=progress, line_cap=options.line_cap)
    results = runner.run(sources)
    results += [SourceResult(s.name, status="skipped", error=excluded_by(s, options)) for s in excluded]
    if runner.leak is not None:
        raise CollectError(str(runner.leak))
    if runner.disk_full is not None:
        raise CollectError(str(writer.disk_full_error(runner.disk_full)))
    totals: dict[str, int] = {}
    for rec in writer.records:
        for kind, n in rec.redactions.items():
            totals[kind] = totals.get(kind, 0) + n
    reasons = partial_reasons(runner.status, runner.stop_reason, results, plan)
    manifest = build_manifest(options, plan, now, runner.status, results, totals, redactor)
    manifest["partial_reasons"] = reasons
    manifest["redaction"]["redacted_lines"] = runner.redacted_lines
    manifest["redaction"]["late_rewritten_files"] = runner.late_rewritten
    manifest["redaction"]["secret_files"] = secret_notes  # which files were read (paths, never values)
    for key, value in redactor.redact_json(options.manifest_extra, RedactionCounts()).items():
        manifest.setdefault(key, value)  # never replaces a field collect itself writes
    try:
        path = writer.finish(manifest, redact=lambda text: redactor.redact_text(text, RedactionCounts()),
                             gate=lambda text: redactor.output_leak(text, "manifest.json"))
    except DiskFullError as exc:
        raise CollectError(str(writer.disk_full_error(exc))) from exc
    except (BundleError, OSError) as exc:
        raise CollectError(f"could not finish the bundle: {exc}") from exc
    except KeyboardInterrupt as exc:
        raise CollectError("interrupted while writing the bundle; nothing was kept") from exc
    warnings.extend(w for w in writer.warnings if w not in warnings)
    return CollectOutcome(path, path.stat().st_size, runner.status, results, totals, warnings, plan.chosen_how,
                          partial_reasons=reasons, sha256=_sha256(path), case_id=options.case_id,
                          duration_s=time.monotonic() - started)


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
        "host": {"hostname": socket.gethostname(), "host_id": host.host_id(), "os": platform.system(),
                 "kernel": platform.release(),
                 "cpus": psutil.cpu_count(logical=True), "memory_bytes": vm.total,
                 "python": sys.version.split()[0]},
        "deployment": {"chosen": plan.chosen_how, "docker_error": plan.docker_error,
                       "containers": [t.manifest() for t in plan.targets],
                       "config_files": [{"path": str(c.path), "bundle_path": c.bundle_path, "kind": c.kind}
                                        for c in plan.configs]},
        "case_id": options.case_id,
        "options": {"since_s": int((plan.until - plan.since).total_seconds()), "log_cap_bytes": options.log_cap,
                    "line_cap_bytes": options.line_cap, "all_containers": options.all_containers,
                    "timeout_s": options.timeout, "excluded": list(options.excludes), "no_logs": options.no_logs,
                    "redact_ips": options.redact_ips},
        "status": status,
        "sources": [r.as_manifest() for r in results],
        "redaction": {"placeholder": "[REDACTED:<kind>#<tag>]", "totals": totals,
                      "secrets_known": redactor.secrets_known, "leak_check": "passed",
                      "operator_secrets": len(options.secrets), "patterns": len(options.patterns),
                      "redact_ips": options.redact_ips, "unredacted": False,
                      **_key_entry(options, redactor)},
    }


def _key_entry(options: CollectOptions, redactor: Redactor) -> dict[str, str]:
    """The manifest's record of the placeholder key: its id and source, never the key."""
    entry = redaction_key(options).manifest() if options.redaction_key is not None else {"key_source": "fresh"}
    entry["key_id"] = redactor.key_id  # the key the placeholders were made with, whatever the options said
    return entry

