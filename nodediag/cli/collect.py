"""`nodediag collect`: gather a redacted bundle on the operator's host (the collector's entry point)."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, NoReturn, TextIO

import click

from nodediag.cli.common import (
    KeyChoice,
    fail,
    key_options,
    operator_rules,
    parse_duration,
    parse_size,
    redaction_options,
)
from nodediag.units import human
from nodediag.version import __version__

EXIT_CODES = """\b
Exit codes:
  0  a complete bundle was written
  4  a bundle was written but it is partial: a source failed or timed out, Docker was not
     reachable (host only), the collection was interrupted or hit --timeout
  1  no bundle was written (no deployment found, disk full, unwritable folder, ...)
  2  usage error (bad option value, options that cannot be used together)"""

PROGRESS_FROM_BYTES = 20 * 1024 * 1024  # a log this large gets a live bytes/rate line on a terminal


class Progress:
    """One line per finished source; on a terminal, also a live line of what is running (with bytes
    read and rate for a log past 20 MB). Called from the source threads as well: serialised."""

    def __init__(self, stream: TextIO = sys.stderr) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.done = 0
        self._lock = threading.Lock()
        self._reading: dict[str, tuple[int, int, float]] = {}  # source -> (bytes read, at first report, when)
        self._running: list[str] = []

    def __call__(self, event: str, result: Any, running: list[str]) -> None:
        with self._lock:
            self._event(event, result, running)

    def _event(self, event: str, result: Any, running: list[str]) -> None:
        if event == "bytes":
            if not self.tty or result.bytes_read < PROGRESS_FROM_BYTES:
                return
            _, base, since = self._reading.get(result.name, (0, result.bytes_read, time.monotonic()))
            self._reading[result.name] = (result.bytes_read, base, since)
            self._live()
            return
        if self.tty:
            self.stream.write("\r\x1b[K")
        if event == "stage":  # a step before the sources run; ``running`` holds its description
            self.stream.write(f"  {running[0]}\n")
        elif event == "done" and result is not None:
            self.done += 1
            self._reading.pop(result.name, None)
            mark = {"ok": "ok", "truncated": "cut", "skipped": "skip", "timeout": "TIME", "failed": "FAIL"}
            line = f"  {mark.get(result.status, result.status):<4} {result.name}  ({result.duration_s:.1f}s"
            line += f", {human(result.bytes)})" if result.bytes else ")"
            if result.error and result.status != "ok":
                line += f": {result.error}"
            self.stream.write(line + "\n")
        if event in ("start", "done"):
            self._running = list(running)
        if self.tty and self._running:
            self._live()
        self.stream.flush()

    def _live(self) -> None:
        parts = []
        now = time.monotonic()
        for name in self._running:
            read = self._reading.get(name)
            if read and now - read[2] >= 1:  # the rate since the first report, once it means something
                rate = (read[0] - read[1]) / (now - read[2])
                parts.append(f"{name} {human(read[0])} read, {human(rate)}/s")
            elif read:
                parts.append(f"{name} {human(read[0])} read")
            else:
                parts.append(name)
        self.stream.write("\r\x1b[K" + f"  [{self.done} done] running: {', '.join(parts)}"[:200])
        self.stream.flush()


def parse_time(text: str, option: str) -> timedelta | datetime:
    """A duration back from now (``30m``, ``24h``, ``7d``) or an ISO-8601 time (UTC when no zone)."""
    value = text.strip()
    if value[:1].isdigit() and ("-" in value or "T" in value):
        try:
            when = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise click.BadParameter(f"{option} {text!r} is not an ISO-8601 time like 2026-12-01T08:00:00Z "
                                     "nor a duration like 6h") from None
        return when if when.tzinfo else when.replace(tzinfo=timezone.utc)
    try:
        return parse_duration(value)
    except click.BadParameter:
        raise click.BadParameter(f"{option} {text!r} is not a duration like 30m, 24h or 7d nor an ISO-8601 "
                                 "time like 2026-12-01T08:00:00Z") from None


def _on_sigterm(signum: int, frame: Any) -> None:
    from nodediag.collector.engine import Interrupted

    raise Interrupted("SIGTERM")


@click.command(epilog=EXIT_CODES)
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Bundle file to write "
              "(default ./nodediag-[<case id>-]<host>-<UTC time>.tar.zst). Never overwritten.")
@click.option("--since", "since", default="24h", show_default=True,
              help="Start of the window for logs and events: a duration back from now (6h, 2d) or an "
                   "ISO-8601 time (2026-12-01T08:00:00Z).")
@click.option("--until", "until", default=None,
              help="End of the window: an ISO-8601 time, or a duration back from now (default: now).")
@click.option("--log-cap", default="50MB", show_default=True,
              help="Most log bytes kept per container; the newest lines are kept.")
@click.option("--line-cap", default="1MB", show_default=True,
              help="Longest log line kept whole; a longer line is cut (still redacted) and marked.")
@click.option("--timeout", default="10m", show_default=True,
              help="Overall time limit for every source, config files included; a partial bundle is written "
                   "(a stopped source gets up to 5 s more to keep what it already read).")
@click.option("--project", "projects", multiple=True, help="Compose project to collect (repeatable).")
@click.option("--container", "containers", multiple=True, help="Container name or id to collect (repeatable).")
@click.option("--all", "all_containers", is_flag=True,
              help="Collect every container on the host when none looks like an Aztec prover role.")
@click.option("--env-file", "env_files", multiple=True, type=click.Path(path_type=Path),
              help="A .env file to include (redacted) when compose labels do not point to it.")
@click.option("--compose-file", "compose_files", multiple=True, type=click.Path(path_type=Path),
              help="A compose file to include (redacted).")
@redaction_options
@key_options
@click.option("--exclude", "excludes", multiple=True, metavar="SOURCE",
              help="Do not run this source: a family (container_logs, host_processes, probe_status, ...) or "
                   "one source (container_logs:NAME); recorded as skipped in the manifest. Repeatable.")
@click.option("--no-logs", is_flag=True, help="Collect no container logs (same as --exclude container_logs).")
@click.option("--case-id", default=None, metavar="ID",
              help="A support ticket number or name, put in the file name and the manifest.")
@click.option("--dry-run", is_flag=True, help="Show what would be collected, from where, and estimated sizes; "
                                                "write nothing.")
@click.option("--json", "as_json", is_flag=True,
              help="Print one JSON object on stdout at the end (the summary, or the plan with --dry-run).")
@click.option("-q", "--quiet", is_flag=True,
              help="Print only the bundle path (only the JSON object with --json); errors still go to stderr.")
def collect(output: Path | None, since: str, until: str | None, log_cap: str, line_cap: str, timeout: str,
            projects: tuple[str, ...], containers: tuple[str, ...], all_containers: bool,
            env_files: tuple[Path, ...], compose_files: tuple[Path, ...], secrets: tuple[str, ...],
            secrets_files: tuple[Path, ...], patterns: tuple[str, ...], redact_ips: bool,
            excludes: tuple[str, ...], no_logs: bool, case_id: str | None, dry_run: bool, as_json: bool,
            quiet: bool, key_choice: KeyChoice) -> None:
    """Gather logs, container state, host resources, config and probes into one redacted bundle.

    Redaction cannot be switched off: every byte written passes through it and the leak check."""
    from nodediag.collector.collect import CollectError, CollectOptions
    from nodediag.collector.collect import collect as run_collect

    operator_secrets, operator_patterns = operator_rules(secrets, secrets_files, patterns)
    try:
        overall = parse_duration(timeout).total_seconds()
        if overall <= 0:
            raise click.BadParameter("--timeout must be more than 0 (e.g. 30s, 10m)")
        until_at = parse_time(until, "--until") if until else None
        if isinstance(until_at, timedelta):
            until_at = datetime.now(timezone.utc) - until_at
        opts = CollectOptions(
            output=output, since=parse_time(since, "--since"), until=until_at, log_cap=parse_size(log_cap),
            line_cap=parse_size(line_cap), timeout=overall, projects=projects, containers=containers,
            all_containers=all_containers, env_files=env_files, compose_files=compose_files,
            command_line=["nodediag", *sys.argv[1:]], secrets=operator_secrets, patterns=operator_patterns,
            excludes=excludes, no_logs=no_logs, redact_ips=redact_ips, case_id=case_id,
        )
        opts.check()
        if dry_run and quiet:
            raise click.BadParameter("--quiet cannot be used with --dry-run, which only prints the plan "
                                     "(use --json for a plan to parse)")
    except click.BadParameter as exc:
        fail(str(exc))
    except CollectError as exc:
        _fail(str(exc), exc.exit_code, as_json)
    if dry_run:
        show_dry_run(opts, as_json)
        return
    say = _Say(quiet or as_json)
    window = f"logs since {since}" + (f" until {until}" if until else "")
    say(f"nodediag {__version__}: collecting ({window}, cap {log_cap} per container)")
    opts.redaction_key = key_choice.load()
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        outcome = run_collect(opts, progress=None if (quiet or as_json) else Progress())
    except CollectError as exc:
        _fail(str(exc), exc.exit_code, as_json)
    except KeyboardInterrupt:
        _fail("interrupted; no bundle was written", 1, as_json)
    finally:
        signal.signal(signal.SIGTERM, previous)
    for warning in outcome.warnings:
        say(f"warning: {warning}")
    counts: dict[str, int] = {}
    for r in outcome.results:
        counts[r.status] = counts.get(r.status, 0) + 1
    redacted = ", ".join(f"{k} {v}" for k, v in sorted(outcome.redaction_totals.items())) or "none found"
    say("")
    if outcome.complete:
        say(f"Bundle: {outcome.path}")
    else:
        say(f"Bundle: {outcome.path} (PARTIAL: {'; '.join(outcome.partial_reasons)})")
    say(f"  size {human(outcome.size)}, {outcome.duration_s:.1f}s; collected {outcome.chosen_how}")
    say("  sources: " + ", ".join(f"{v} {k}" for k, v in sorted(counts.items())))
    for r in outcome.results:
        if r.kept_range:
            say(f"  {r.name}: log cut by --log-cap, kept {r.kept_range['from']} to {r.kept_range['to']}")
    say(f"  redacted: {redacted}")
    say("Next: check it with `nodediag verify BUNDLE`, read it with `nodediag analyze BUNDLE`, "
        "and send the .tar.zst file to support. Secrets were replaced by [REDACTED:...] tags.")
    if as_json:
        click.echo(json.dumps(outcome.as_dict(), indent=2))
    else:
        click.echo(str(outcome.path))
    _exit(outcome.exit_code)


def _exit(code: int) -> NoReturn:
    """Exit with ``code``; a source thread abandoned in a hung call (a stalled Docker call, a FIFO)
    must not hold the process open, so then leave at once, after removing any temporary file."""
    sys.stdout.flush()
    sys.stderr.flush()
    if any(t.name.startswith("source") and t.is_alive() for t in threading.enumerate()):
        from nodediag.bundle.writer import remove_temporaries

        remove_temporaries()
        os._exit(code)
    sys.exit(code)


class _Say:
    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet

    def __call__(self, text: str) -> None:
        if not self.quiet:
            click.echo(text, err=True)


def _fail(message: str, code: int, as_json: bool) -> NoReturn:
    if as_json:
        click.echo(json.dumps({"bundle": None, "exit_code": code, "error": message}, indent=2))
    click.echo(f"nodediag: error: {message}", err=True)
    _exit(code)


def show_dry_run(opts: Any, as_json: bool) -> None:
    from nodediag.collector.collect import CollectError
    from nodediag.collector.discovery import DiscoveryError
    from nodediag.collector.dry_run import dry_run

    try:
        report = dry_run(opts)
    except CollectError as exc:
        _fail(str(exc), exc.exit_code, as_json)
    except DiscoveryError as exc:
        _fail(str(exc), 1, as_json)
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2))
        return
    click.echo(f"Dry run: nothing is written. Would collect {report.chosen}.")
    for c in report.containers:
        size = human(c["log_bytes"]) if c["log_bytes"] is not None else "log size unknown"
        click.echo(f"  container {c['name']}  role {c['role']}  image {c['image']}  {c['state']}  ({size} of logs)")
    for f in report.config_files:
        size = human(f["bytes"]) if f["bytes"] is not None else "not readable"
        click.echo(f"  config {f['path']} ({f['kind']}, {size}) -> {f['bundle_path']}")
    click.echo("Sources:")
    for src in report.sources:
        est = f"  ~{human(src.estimate_bytes)}" if src.estimate_bytes is not None else ""
        writes = f"  -> {', '.join(src.writes)}" if src.writes else ""
        click.echo(f"  {src.status:<9} {src.name}{est}{writes}{'  ' + src.note if src.note else ''}")
    for note in report.secret_files:
        click.echo(f"  secret file: {note}")
    for warning in report.warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(f"Estimated size before compression: at least {human(report.estimate_bytes)} of logs and config.")
