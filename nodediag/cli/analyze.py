"""`nodediag analyze`: an incident report from a bundle, anywhere (the analyzer's entry point)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import NoReturn

import click

from nodediag.bundle.limits import Limits, set_current_limits
from nodediag.bundle.terminal import visible
from nodediag.cli.common import fail, limit_options
from nodediag.cli.progress import ProgressLine
from nodediag.cli.signals import cleanup_on_signals


@click.command()
@click.argument("sources", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-f", "--format", "fmt", type=click.Choice(["html", "json", "md"]), default="html", show_default=True)
@click.option("-o", "--output", type=click.Path(path_type=Path),
              help="Report file (default: <input name>.report.html for html, <first input>.merged.report.html "
                   "for several inputs; stdout for json and md).")
@click.option("--fail-on", type=click.Choice(["info", "low", "medium", "high", "critical"]),
              help="Exit 3 when a finding of this severity or worse is present (for automation).")
@limit_options
def analyze(sources: tuple[Path, ...], fmt: str, output: Path | None, fail_on: str | None, limits: Limits) -> None:
    """Read a bundle (or an extracted bundle, the manual guide's archive, or one log file) and write
    an incident report: the root cause first, with its evidence.

    Several inputs (the bundles of one deployment's hosts) are analysed as one deployment: one
    timeline, causes linked across hosts, each host's clock set against the broker's host."""
    from nodediag.analyzer.inputs import InputError
    from nodediag.analyzer.model import SEVERITY_RANK
    from nodediag.analyzer.pipeline import analyze_paths
    from nodediag.analyzer.report import ReportError, write_report

    cleanup_on_signals()  # SIGTERM: the private temp folder (an unredacted guide's copy) is removed
    set_current_limits(limits)  # (the worker processes that scan logs read the caps from here)
    source = sources[0]
    if output is None and fmt == "html":
        output = Path(source.name.removesuffix(".tar.zst").removesuffix(".tar.gz").removesuffix(".tgz")
                      + (".merged" if len(sources) > 1 else "") + ".report.html")
    if output is not None and output.exists() and output.is_dir():
        fail(f"{output} is a folder; pass a file name with -o")
    try:
        size = sum(each.stat().st_size for each in sources if each.is_file())
    except OSError:
        size = 0
    progress = ProgressLine.for_terminal(size=size)  # on a terminal, for a large input

    def failed(message: str) -> NoReturn:
        if progress:
            progress.close()  # (the message on a line of its own)
        fail(message)

    notices: list[str] = []
    try:
        result = analyze_paths(sources, max_bytes=limits.max_bytes, max_files=limits.max_files,
                               header_limit=limits.max_header_bytes, progress=progress, notices=notices)
    except InputError as exc:  # (also a log read straight from a damaged bundle)
        failed(str(exc))
    except BaseException:
        if progress:
            progress.close()
        raise
    try:
        if progress:
            progress("writing the report", -1, -1)
        written = write_report(result, fmt, output)
    except ReportError as exc:
        failed(str(exc))
    except OSError as exc:
        failed(f"cannot write the report: {exc.strerror or exc}")
    finally:
        if progress:
            progress.close()
    for notice in notices:  # (after the progress line is gone)
        click.echo(f"warning: {visible(notice)}", err=True)
    if written is not None:
        click.echo(visible(result.verdict.headline), err=True)  # (it may quote a container name from the bundle)
        click.echo(f"Report: {written}", err=True)
    if fail_on and any(SEVERITY_RANK[f.severity] >= SEVERITY_RANK[fail_on] for f in result.findings):
        sys.exit(3)
