"""`nodediag analyze`: an incident report from a bundle, anywhere (the analyzer's entry point)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from nodediag.cli.common import fail, parse_size


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
    from nodediag.analyzer.inputs import InputError
    from nodediag.analyzer.model import SEVERITY_RANK
    from nodediag.analyzer.pipeline import analyze_path
    from nodediag.analyzer.report import ReportError, write_report

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
        result = analyze_path(source, max_bytes=cap, max_files=max_files)
    except InputError as exc:  # (also a log read straight from a damaged bundle)
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
