"""`nodediag diff A B`: what changed between two bundles, reports or archive entries."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import click

from nodediag.cli.common import fail

_ARCHIVE_ID = re.compile(r"^#?\d+$")


def load_side(ref: str, db: str | None, store: Path | None) -> tuple[dict[str, Any], str]:
    """A JSON report as a dict, from a report file, anything `analyze` reads, or an archive id."""
    from nodediag.analyzer.inputs import InputError
    from nodediag.analyzer.report.json_report import SCHEMA

    path = Path(ref)
    if path.exists():
        if path.is_file():
            with path.open("rb") as fh:
                head = fh.read(1)
            if head == b"{":
                try:
                    data = json.loads(path.read_text(encoding="utf-8"))
                except (ValueError, UnicodeDecodeError) as exc:
                    fail(f"{ref} is not valid JSON ({exc})")
                if not isinstance(data, dict) or data.get("schema") != SCHEMA:
                    fail(f"{ref} is JSON but not a nodediag report (`nodediag analyze -f json` writes one)")
                return data, path.name
        from nodediag.cli.archive import analyze_to_json

        try:
            return analyze_to_json(path, path.name), path.name
        except InputError as exc:
            fail(str(exc))
    if _ARCHIVE_ID.match(ref):
        from nodediag.analyzer.archive import ArchiveError
        from nodediag.cli.archive import open_archive

        number = int(ref.lstrip("#"))
        with open_archive(db, store) as arc:
            try:
                entry = arc.entry(number)
                return arc.report(number), f"#{number} {entry.original_name}"
            except ArchiveError as exc:
                fail(str(exc))
    fail(f"{ref} is neither a file (bundle, report, log) nor an archive id")


@click.command()
@click.argument("a")
@click.argument("b")
@click.option("-f", "--format", "fmt", type=click.Choice(["md", "json", "html"]), default="md", show_default=True)
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Write here instead of stdout.")
@click.option("--db", metavar="URL", help="Archive database for archive ids (as `nodediag archive`).")
@click.option("--store", type=click.Path(path_type=Path), metavar="DIR", help="The archive's store folder.")
def diff(a: str, b: str, fmt: str, output: Path | None, db: str | None, store: Path | None) -> None:
    """What changed from A to B (each a bundle, a JSON report, a log or an archive id): findings,
    verdict, image tags, restart counts, configuration keys and host resources."""
    from nodediag.analyzer import diff as differ

    left, left_name = load_side(a, db, store)
    right, right_name = load_side(b, db, store)
    result = differ.diff_reports(left, right, left_name, right_name)
    text = {"md": differ.render_markdown, "json": differ.render_json, "html": differ.render_html}[fmt](result)
    if output is None:
        click.echo(text, nl=False)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        fail(f"cannot write {output}: {exc.strerror or exc}")
    click.echo(f"Diff: {output}", err=True)
