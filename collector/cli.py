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
        if event == "done" and result is not None:
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
def collect(output, since, log_cap, timeout, projects, containers, env_files, compose_files) -> None:
    """Gather logs, container state, host resources, config and probes into one redacted bundle."""
    from collector.collect import CollectError, CollectOptions
    from collector.collect import collect as run_collect

    try:
        opts = CollectOptions(
            output=output, since=parse_duration(since), log_cap=parse_size(log_cap),
            timeout=parse_duration(timeout).total_seconds(), projects=projects, containers=containers,
            env_files=env_files, compose_files=compose_files, command_line=["nodediag", *sys.argv[1:]],
        )
    except click.BadParameter as exc:
        fail(str(exc))
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

    from analyzer.analysis import analyze_input
    from analyzer.facts import load_facts
    from analyzer.inputs import InputError, open_input
    from analyzer.model import SEVERITY_RANK
    from analyzer.report import ReportError, write_report

    try:
        cap = parse_size(max_bytes)
    except click.BadParameter as exc:
        fail(str(exc))
    if output is None and fmt == "html":
        output = Path(source.name.removesuffix(".tar.zst").removesuffix(".tar.gz").removesuffix(".tgz")
                      + ".report.html")
    if output is not None and output.exists() and output.is_dir():
        fail(f"{output} is a folder; pass a file name with -o")
    with tempfile.TemporaryDirectory(prefix="nodediag-analyze-") as work:
        try:
            inp = open_input(source, workdir=Path(work), max_bytes=cap, max_files=max_files)
        except InputError as exc:
            fail(str(exc))
        facts = load_facts(inp)
        result = analyze_input(inp, facts, tool_version=__version__)
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
