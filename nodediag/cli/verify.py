"""`nodediag verify`: the archive's structure and every file of a bundle against its manifest."""

from __future__ import annotations

from pathlib import Path

import click

from nodediag.bundle.limits import Limits
from nodediag.cli.common import fail, limit_options
from nodediag.cli.signals import cleanup_on_signals


@click.command()
@click.argument("bundle", type=click.Path(path_type=Path))
@limit_options
def verify(bundle: Path, limits: Limits) -> None:
    """Check BUNDLE's structure (whole, one top folder, no member twice, nothing appended) and every
    file against the sha256 and size in its manifest."""
    from nodediag.bundle.terminal import visible
    from nodediag.bundle.verify import VerifyError, verify_bundle

    cleanup_on_signals()
    try:
        report = verify_bundle(bundle, limits)
    except VerifyError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"cannot read {bundle}: {exc.strerror or exc}")
    if report.ok:
        m = report.manifest
        click.echo(visible(f"OK: {report.files_checked} files match the manifest "
                           f"(format v{m.get('format_version')}, nodediag {(m.get('tool') or {}).get('version')}, "
                           f"created {m.get('created_at')}, status {m.get('status')})"))
        return
    for problem in report.problems:
        click.echo(f"  {visible(problem)}", err=True)
    fail(f"{len(report.problems)} problem(s) in {bundle}: it was changed or damaged after collection", 1)
