"""`nodediag analyze`: an incident report from a bundle, anywhere (the analyzer's entry point)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from nodediag.cli.common import fail, parse_size
from nodediag.version import __version__


@click.command()
@click.argument("sources", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-f", "--format", "fmt", type=click.Choice(["html", "json", "md"]), default="html", show_default=True)
@click.option("-o", "--output", type=click.Path(path_type=Path),
              help="Report file (default: <input name>.report.html for html, <first input>.merged.report.html "
                   "for several inputs; stdout for json and md).")
@click.option("--fail-on", type=click.Choice(["info", "low", "medium", "high", "critical"]),
              help="Exit 3 when a finding of this severity or worse is present (for automation).")
@click.option("--max-bytes", default="4GB", show_default=True,
              help="Refuse inputs larger than this uncompressed (each input).")
@click.option("--max-files", default=20000, show_default=True,
              help="Refuse inputs with more files than this (each input).")
def analyze(sources: tuple[Path, ...], fmt: str, output: Path | None, fail_on: str | None, max_bytes: str,
            max_files: int) -> None:
    """Read a bundle (or an extracted bundle, the manual guide's archive, or one log file) and write
    an incident report: the root cause first, with its evidence.

    Several inputs (the bundles of one deployment's hosts) are analysed as one deployment: one
    timeline, causes linked across hosts, each host's clock set against the broker's host."""
    import tempfile

    from nodediag.analyzer.analysis import EarlyScans, analyze_input
    from nodediag.analyzer.facts import load_facts
    from nodediag.analyzer.inputs import InputError, open_input
    from nodediag.analyzer.merge import add_evidence_gaps, evidence_gaps, merge_inputs, scan_jobs
    from nodediag.analyzer.model import SEVERITY_RANK
    from nodediag.analyzer.report import ReportError, write_report
    from nodediag.analyzer.rules.catalog import load_rules

    try:
        cap = parse_size(max_bytes)
    except click.BadParameter as exc:
        fail(str(exc))
    source = sources[0]
    if output is None and fmt == "html":
        output = Path(source.name.removesuffix(".tar.zst").removesuffix(".tar.gz").removesuffix(".tgz")
                      + (".merged" if len(sources) > 1 else "") + ".report.html")
    if output is not None and output.exists() and output.is_dir():
        fail(f"{output} is a folder; pass a file name with -o")
    # container logs are scanned by worker processes while the rest of a bundle is extracted
    with tempfile.TemporaryDirectory(prefix="nodediag-analyze-") as work, EarlyScans(load_rules()) as early:
        try:
            if len(sources) == 1:
                inp = open_input(source, workdir=Path(work), max_bytes=cap, max_files=max_files,
                                 on_file=early.on_file, on_frame=early.on_frame)
                facts = load_facts(inp)
                job_lines = scan_jobs(inp, facts)
            else:
                parts = []
                for index, each in enumerate(sources):
                    opened = open_input(each, workdir=Path(work) / f"input-{index}", max_bytes=cap,
                                        max_files=max_files)
                    parts.append((opened, load_facts(opened)))
                try:
                    merged = merge_inputs(parts, Path(work))
                except OSError as exc:
                    fail(f"cannot join the inputs in {work} ({exc.strerror or exc}): free space there")
                for notice in merged.notices:
                    click.echo(f"warning: {notice}", err=True)
                inp, facts, job_lines = merged.input, merged.facts, merged.jobs
            result = analyze_input(inp, facts, tool_version=__version__, early=early)
            gaps = evidence_gaps(facts, result.findings, job_lines)
            result.findings = add_evidence_gaps(result.findings, gaps)
            if gaps and result.verdict.confidence != "high":  # the verdict says what it could not see
                result.verdict.headline += " " + " ".join(f"{g.title}." for g in gaps)
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
