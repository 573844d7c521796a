"""`nodediag verify`: every file of a bundle against its manifest."""

from __future__ import annotations

from pathlib import Path

import click

from nodediag.cli.common import fail


@click.command()
@click.argument("bundle", type=click.Path(path_type=Path))
def verify(bundle: Path) -> None:
    """Check every file of BUNDLE against the sha256 and size in its manifest."""
    from nodediag.bundle.verify import VerifyError, verify_bundle

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
