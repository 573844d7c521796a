"""`nodediag collect`: gather a redacted bundle on the operator's host (the collector's entry point)."""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

import click

from nodediag.cli.common import fail, human, operator_rules, parse_duration, parse_size, redaction_options
from nodediag.version import __version__


class Progress:
    """One line per finished source; on a terminal, also a live line of what is running."""

    def __init__(self, stream=sys.stderr) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.done = 0
        self.total = 0

    def __call__(self, event: str, result, running: list[str]) -> None:
        if self.tty:
            self.stream.write("\r\x1b[K")
        if event == "stage":  # a step before the sources run; ``running`` holds its description
            self.stream.write(f"  {running[0]}\n")
        elif event == "done" and result is not None:
            self.done += 1
            mark = {"ok": "ok", "truncated": "cut", "skipped": "skip", "timeout": "TIME", "failed": "FAIL"}
            line = f"  {mark.get(result.status, result.status):<4} {result.name}  ({result.duration_s:.1f}s"
            line += f", {human(result.bytes)})" if result.bytes else ")"
            if result.error and result.status != "ok":
                line += f": {result.error}"
            self.stream.write(line + "\n")
        if self.tty and running:
            names = ", ".join(running)
            self.stream.write(f"  [{self.done} done] running: {names}"[:200])
        self.stream.flush()



@click.command()
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Bundle file to write "
              "(default ./nodediag-<host>-<UTC time>.tar.zst). Never overwritten.")
@click.option("--since", "since", default="24h", show_default=True, help="How far back to take logs and events.")
@click.option("--log-cap", default="50MB", show_default=True,
              help="Most log bytes kept per container; the newest lines are kept.")
@click.option("--timeout", default="10m", show_default=True, help="Overall time limit; a partial bundle is written.")
@click.option("--project", "projects", multiple=True, help="Compose project to collect (repeatable).")
@click.option("--container", "containers", multiple=True, help="Container name or id to collect (repeatable).")
@click.option("--env-file", "env_files", multiple=True, type=click.Path(path_type=Path),
              help="A .env file to include (redacted) when compose labels do not point to it.")
@click.option("--compose-file", "compose_files", multiple=True, type=click.Path(path_type=Path),
              help="A compose file to include (redacted).")
@redaction_options
@click.option("--exclude", "excludes", multiple=True, metavar="SOURCE",
              help="Do not run this source, by name or prefix (container_logs, host_processes, "
                   "probe_status, ...); recorded as skipped in the manifest. Repeatable.")
@click.option("--no-logs", is_flag=True, help="Collect no container logs (same as --exclude container_logs).")
@click.option("--dry-run", is_flag=True, help="Show what would be collected, from where, and estimated sizes; "
                                                "write nothing.")
@click.option("--json", "as_json", is_flag=True, help="With --dry-run: print the plan as JSON.")
def collect(output, since, log_cap, timeout, projects, containers, env_files, compose_files, secrets,
            secrets_files, patterns, redact_ips, excludes, no_logs, dry_run, as_json) -> None:
    """Gather logs, container state, host resources, config and probes into one redacted bundle.

    Redaction cannot be switched off: every byte written passes through it and the leak check."""
    from nodediag.collector.collect import CollectError, CollectOptions
    from nodediag.collector.collect import collect as run_collect

    operator_secrets, operator_patterns = operator_rules(secrets, secrets_files, patterns)
    try:
        opts = CollectOptions(
            output=output, since=parse_duration(since), log_cap=parse_size(log_cap),
            timeout=parse_duration(timeout).total_seconds(), projects=projects, containers=containers,
            env_files=env_files, compose_files=compose_files, command_line=["nodediag", *sys.argv[1:]],
            secrets=operator_secrets, patterns=operator_patterns, excludes=excludes, no_logs=no_logs,
            redact_ips=redact_ips,
        )
    except click.BadParameter as exc:
        fail(str(exc))
    if dry_run:
        show_dry_run(opts, as_json)
        return
    click.echo(f"nodediag {__version__}: collecting (logs since {since}, cap {log_cap} per container)", err=True)
    start = time.monotonic()
    try:
        outcome = run_collect(opts, progress=Progress())
    except CollectError as exc:
        fail(str(exc), 1)
    for warning in outcome.warnings:
        click.echo(f"warning: {warning}", err=True)
    counts: dict[str, int] = {}
    for r in outcome.results:
        counts[r.status] = counts.get(r.status, 0) + 1
    redacted = ", ".join(f"{k} {v}" for k, v in sorted(outcome.redaction_totals.items())) or "none found"
    status = {"complete": "", "interrupted": " (INTERRUPTED: partial)", "deadline": " (TIME LIMIT: partial)"}
    click.echo("", err=True)
    click.echo(f"Bundle: {outcome.path}{status.get(outcome.status, '')}", err=True)
    click.echo(f"  size {human(outcome.size)}, {time.monotonic() - start:.1f}s; chose {outcome.chosen_how}", err=True)
    click.echo("  sources: " + ", ".join(f"{v} {k}" for k, v in sorted(counts.items())), err=True)
    click.echo(f"  redacted: {redacted}", err=True)
    click.echo("Next: check it with `nodediag verify BUNDLE`, read it with `nodediag analyze BUNDLE`, "
               "and send the .tar.zst file to support. Secrets were replaced by [REDACTED:...] tags.", err=True)
    click.echo(str(outcome.path))
    sys.stdout.flush()
    sys.stderr.flush()
    # a source thread abandoned in a hung Docker call must not hold the process open once the bundle is written
    if any(t.name.startswith("source") and t.is_alive() for t in threading.enumerate()):
        os._exit(0)


def show_dry_run(opts, as_json: bool) -> None:
    import json

    from nodediag.collector.collect import CollectError
    from nodediag.collector.discovery import DiscoveryError
    from nodediag.collector.dry_run import dry_run

    try:
        report = dry_run(opts)
    except (CollectError, DiscoveryError) as exc:
        fail(str(exc), 1)
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
        click.echo(f"  {src.status:<9} {src.name}{est}{'  ' + src.note if src.note else ''}")
    for note in report.secret_files:
        click.echo(f"  secret file: {note}")
    for warning in report.warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(f"Estimated size before compression: at least {human(report.estimate_bytes)} of logs and config.")
