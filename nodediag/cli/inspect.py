"""`nodediag inspect`: what a bundle holds and what was redacted where (never a value)."""

from __future__ import annotations

from pathlib import Path

import click

from nodediag.bundle.limits import Limits
from nodediag.cli.common import fail, limit_options
from nodediag.cli.signals import cleanup_on_signals


@click.command()
@click.argument("bundle", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print as one JSON object.")
@limit_options
def inspect(bundle: Path, as_json: bool, limits: Limits) -> None:
    """Show what BUNDLE holds: sources and their status, files, and per file the redaction counts by
    kind with the line numbers they were found on (never a value)."""
    import json

    from nodediag.bundle.inspect import InspectError, inspection, read_bundle_manifest, render_text

    cleanup_on_signals()
    try:
        info = inspection(read_bundle_manifest(bundle, limits))
    except InspectError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"cannot read {bundle}: {exc.strerror or exc}")
    # JSON escapes every control and non-ASCII character (ensure_ascii): nothing reaches the terminal raw
    click.echo(json.dumps(info, indent=2) if as_json else render_text(bundle, info), nl=as_json)
