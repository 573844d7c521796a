"""`nodediag inspect`: what a bundle holds and what was redacted where (never a value)."""

from __future__ import annotations

from pathlib import Path

import click

from nodediag.cli.common import fail


@click.command()
@click.argument("bundle", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print as one JSON object.")
def inspect(bundle: Path, as_json: bool) -> None:
    """Show what BUNDLE holds: sources and their status, files, and per file the redaction counts by
    kind with the line numbers they were found on (never a value)."""
    import json

    from nodediag.bundle.inspect import InspectError, inspection, read_bundle_manifest, render_text

    try:
        info = inspection(read_bundle_manifest(bundle))
    except InspectError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"cannot read {bundle}: {exc.strerror or exc}")
    click.echo(json.dumps(info, indent=2) if as_json else render_text(bundle, info), nl=as_json)
