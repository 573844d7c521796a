"""The `nodediag` command: collect, verify, analyze.

Every error a user can cause ends as one plain line on stderr and a non-zero exit, never a
traceback. The analyzer is imported only by `analyze`, and Docker only by `collect`.
"""

from __future__ import annotations

import os
import re
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import click

from collector.version import __version__

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?i?b?)?\s*$", re.I)


def parse_duration(text: str) -> timedelta:
    m = _DURATION.match(text)
    if not m:
        raise click.BadParameter(f"{text!r} is not a duration like 30m, 24h or 7d")
    n, unit = float(m.group(1)), m.group(2) or "s"
    return timedelta(seconds=n * {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[unit])


def parse_size(text: str) -> int:
    m = _SIZE.match(text)
    if not m:
        raise click.BadParameter(f"{text!r} is not a size like 50MB or 1GB")
    unit = (m.group(2) or "").lower().rstrip("b").rstrip("i")
    size = int(float(m.group(1)) * {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}[unit])
    if size <= 0:
        raise click.BadParameter("must be more than 0")
    return size


def fail(message: str, code: int = 2) -> None:
    click.echo(f"nodediag: error: {message}", err=True)
    sys.exit(code)


def human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="nodediag")
def main() -> None:
    """Diagnose Aztec prover deployments: collect a redacted bundle on the host, analyze it anywhere."""


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


def operator_rules(secrets: tuple[str, ...], secrets_files: tuple[Path, ...],
                   patterns: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Check --secret / --secrets-file / --pattern; return (secrets, patterns) or fail in one line."""
    from collector.redaction.literals import MIN_LITERAL_LENGTH
    from collector.secret_files import read_operator_secrets

    values = [s.strip() for s in secrets]
    for path in secrets_files:
        try:
            values.extend(read_operator_secrets(path))
        except FileNotFoundError:
            fail(f"--secrets-file {path} does not exist")
        except IsADirectoryError:
            fail(f"--secrets-file {path} is a folder; pass a file with one secret per line")
        except OSError as exc:
            fail(f"--secrets-file {path} cannot be read: {exc.strerror or exc}")
    for value in values:
        if len(value.removeprefix("0x")) < MIN_LITERAL_LENGTH:
            fail(f"a secret given with --secret/--secrets-file is shorter than {MIN_LITERAL_LENGTH} characters: "
                 "too short to search for without destroying the logs")
    for pattern in patterns:
        try:
            compiled = re.compile(pattern)
        except re.error as exc:
            fail(f"--pattern {pattern!r} is not a valid regular expression ({exc})")
        if compiled.search("") is not None:
            fail(f"--pattern {pattern!r} matches the empty string; give a pattern that matches the secret itself")
    return tuple(dict.fromkeys(v for v in values if v)), tuple(patterns)


def redaction_options(func):
    """--secret, --secrets-file, --pattern and --redact-ips, shared by collect and redact."""
    func = click.option("--redact-ips", is_flag=True,
                        help="Also replace public IP addresses by pseudonyms (private ranges are kept).")(func)
    func = click.option("--pattern", "patterns", multiple=True, metavar="REGEX",
                        help="A regular expression whose matches are secrets (group 1 when it has a group). "
                             "Repeatable.")(func)
    func = click.option("--secrets-file", "secrets_files", multiple=True, type=click.Path(path_type=Path),
                        help="A file with one secret per line (# comments) to remove everywhere. Repeatable.")(func)
    func = click.option("--secret", "secrets", multiple=True, metavar="VALUE",
                        help="A value to remove everywhere (any case, with or without 0x). Repeatable.")(func)
    return func


@main.command()
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
    from collector.collect import CollectError, CollectOptions
    from collector.collect import collect as run_collect

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

    from collector.collect import CollectError
    from collector.discovery import DiscoveryError
    from collector.dry_run import dry_run

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


@main.command()
@click.argument("bundle", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print as one JSON object.")
def inspect(bundle: Path, as_json: bool) -> None:
    """Show what BUNDLE holds: sources and their status, files, and per file the redaction counts by
    kind with the line numbers they were found on (never a value)."""
    import json

    from collector.inspect_bundle import InspectError, inspection, read_bundle_manifest, render_text

    try:
        info = inspection(read_bundle_manifest(bundle))
    except InspectError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"cannot read {bundle}: {exc.strerror or exc}")
    click.echo(json.dumps(info, indent=2) if as_json else render_text(bundle, info), nl=as_json)


@main.command()
@click.argument("source", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True,
              help="The new bundle (.tar.zst). Never overwritten; never the input.")
@redaction_options
def redact(source: Path, output: Path, secrets, secrets_files, patterns, redact_ips) -> None:
    """Re-redact SOURCE (a bundle, or the manual guide's aztec_diagnostics.tar.gz) with the current
    rules plus your own secrets and patterns, into a new bundle."""
    from collector.collect import iso, utc_now
    from collector.reredact import RedactError, RedactOptions, redact_input

    operator_secrets, operator_patterns = operator_rules(secrets, secrets_files, patterns)
    opts = RedactOptions(input=source, output=output, secrets=operator_secrets, patterns=operator_patterns,
                         redact_ips=redact_ips, command_line=["nodediag", *sys.argv[1:]])
    try:
        outcome = redact_input(opts, iso(utc_now()))
    except RedactError as exc:
        fail(str(exc), 1)
    except OSError as exc:
        fail(f"cannot read {source} or write {output}: {exc.strerror or exc}", 1)
    redacted = ", ".join(f"{k} {v}" for k, v in sorted(outcome.totals.items())) or "none"
    what = "the manual guide's archive converted" if outcome.kind == "manual-guide" else "bundle re-redacted"
    click.echo(f"Bundle: {outcome.path} ({what}, {outcome.files} files, {human(outcome.size)}); "
               f"redacted: {redacted}. Check it with `nodediag inspect {outcome.path}`.", err=True)
    click.echo(str(outcome.path))


@main.command()
@click.argument("bundle", type=click.Path(path_type=Path))
def verify(bundle: Path) -> None:
    """Check every file of BUNDLE against the sha256 and size in its manifest."""
    from collector.verify import VerifyError, verify_bundle

    try:
        report = verify_bundle(bundle)
    except VerifyError as exc:
        fail(str(exc))
    if report.ok:
        m = report.manifest
        click.echo(f"OK: {report.files_checked} files match the manifest "
                   f"(format v{m.get('format_version')}, nodediag {m.get('tool', {}).get('version')}, "
                   f"created {m.get('created_at')}, status {m.get('status')})")
        return
    for problem in report.problems:
        click.echo(f"  {problem}", err=True)
    fail(f"{len(report.problems)} problem(s) in {bundle}: it was changed or damaged after collection", 1)


@main.command()
@click.argument("source", type=click.Path(path_type=Path))
@click.option("-f", "--format", "fmt", type=click.Choice(["html", "json", "md"]), default="html", show_default=True)
@click.option("-o", "--output", type=click.Path(path_type=Path),
              help="Report file (default: <input name>.report.html for html; stdout for json and md).")
@click.option("--fail-on", type=click.Choice(["info", "low", "medium", "high", "critical"]),
              help="Exit 3 when a finding of this severity or worse is present (for automation).")
@click.option("--max-bytes", default="4GB", show_default=True, help="Refuse inputs larger than this uncompressed.")
@click.option("--max-files", default=20000, show_default=True, help="Refuse inputs with more files than this.")
def analyze(source: Path, fmt: str, output: Path | None, fail_on: str | None, max_bytes: str, max_files: int) -> None:
    """Read a bundle (or an extracted bundle, the manual guide's archive, or one log file) and write
    an incident report: the root cause first, with its evidence."""
    import tempfile

    from analyzer.analysis import EarlyScans, analyze_input
    from analyzer.facts import load_facts
    from analyzer.inputs import InputError, open_input
    from analyzer.model import SEVERITY_RANK
    from analyzer.report import ReportError, write_report
    from analyzer.rules.catalog import load_rules

    try:
        cap = parse_size(max_bytes)
    except click.BadParameter as exc:
        fail(str(exc))
    if output is None and fmt == "html":
        output = Path(source.name.removesuffix(".tar.zst").removesuffix(".tar.gz").removesuffix(".tgz")
                      + ".report.html")
    if output is not None and output.exists() and output.is_dir():
        fail(f"{output} is a folder; pass a file name with -o")
    # container logs are scanned by worker processes while the rest of a bundle is extracted
    with tempfile.TemporaryDirectory(prefix="nodediag-analyze-") as work, EarlyScans(load_rules()) as early:
        try:
            inp = open_input(source, workdir=Path(work), max_bytes=cap, max_files=max_files, on_file=early.on_file,
                             on_frame=early.on_frame)
            facts = load_facts(inp)
            result = analyze_input(inp, facts, tool_version=__version__, early=early)
        except InputError as exc:  # (analyze_input: a log read straight from a damaged bundle)
            fail(str(exc))
        try:
            written = write_report(result, fmt, output)
        except ReportError as exc:
            fail(str(exc))
        except OSError as exc:
            fail(f"cannot write the report: {exc.strerror or exc}")
    if written is not None:
        click.echo(f"{result.verdict.headline}", err=True)
        click.echo(f"Report: {written}", err=True)
    if fail_on and any(SEVERITY_RANK[f.severity] >= SEVERITY_RANK[fail_on] for f in result.findings):
        sys.exit(3)
