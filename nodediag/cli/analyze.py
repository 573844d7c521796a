"""`nodediag analyze`: an incident report from a bundle, anywhere (the analyzer's entry point)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import NoReturn

import click

from nodediag.cli.common import fail, parse_size
from nodediag.cli.progress import ProgressLine
from nodediag.version import __version__


@click.command()
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

    from nodediag.analyzer.analysis import EarlyScans, analyze_input
    from nodediag.analyzer.facts import load_facts
    from nodediag.analyzer.inputs import InputError, open_input
    from nodediag.analyzer.model import SEVERITY_RANK
    from nodediag.analyzer.report import ReportError, write_report
    from nodediag.analyzer.rules.catalog import load_rules

    try:
        cap = parse_size(max_bytes)
    except click.BadParameter as exc:
        fail(str(exc))
    if output is None and fmt == "html":
        output = Path(source.name.removesuffix(".tar.zst").removesuffix(".tar.gz").removesuffix(".tgz")
                      + ".report.html")
    if output is not None and output.exists() and output.is_dir():
        fail(f"{output} is a folder; pass a file name with -o")
    try:
        size = source.stat().st_size if source.is_file() else 0
    except OSError:
        size = 0
    progress = ProgressLine.for_terminal(size=size)  # on a terminal, for a large input
    # container logs are scanned by worker processes while the rest of a bundle is extracted

    def failed(message: str) -> NoReturn:
        if progress:
            progress.close()  # (the message on a line of its own)
        fail(message)

    with tempfile.TemporaryDirectory(prefix="nodediag-analyze-") as work, EarlyScans(load_rules()) as early:
        try:
            if progress:
                progress(f"reading {source.name}", -1, -1)
            inp = open_input(source, workdir=Path(work), max_bytes=cap, max_files=max_files, on_file=early.on_file,
                             on_frame=early.on_frame)
            facts = load_facts(inp)
            result = analyze_input(inp, facts, tool_version=__version__, early=early, progress=progress)
        except InputError as exc:  # (analyze_input: a log read straight from a damaged bundle)
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
    if written is not None:
        click.echo(f"{result.verdict.headline}", err=True)
        click.echo(f"Report: {written}", err=True)
    if fail_on and any(SEVERITY_RANK[f.severity] >= SEVERITY_RANK[fail_on] for f in result.findings):
        sys.exit(3)
