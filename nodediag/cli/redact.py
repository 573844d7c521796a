"""`nodediag redact`: re-redact a bundle, or convert the manual guide's archive, into a new bundle."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from nodediag.bundle.limits import Limits
from nodediag.cli.common import KeyChoice, fail, key_options, limit_options, operator_rules, redaction_options
from nodediag.cli.signals import cleanup_on_signals
from nodediag.units import human


@click.command()
@click.argument("source", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True,
              help="The new bundle (.tar.zst), or the redacted copy of a log file or folder. Never overwritten.")
@redaction_options
@key_options
@click.option("--allow-damaged", is_flag=True,
              help="Redact a bundle that fails `nodediag verify` (cut short, altered, a file twice): what can be "
                   "read is taken and the new manifest records what was wrong. Refused without this flag.")
@limit_options
def redact(source: Path, output: Path, secrets, secrets_files, patterns, redact_ips, allow_damaged: bool,
           limits: Limits, key_choice: KeyChoice) -> None:
    """Re-redact SOURCE (a bundle, or the manual guide's aztec_diagnostics.tar.gz or folder) with the
    current rules plus your own secrets and patterns, into a new bundle; or write a redacted copy of a
    log file (plain, .gz, .zst) or of any other folder to OUTPUT."""
    from nodediag.bundle.terminal import visible
    from nodediag.collector.collect import iso, utc_now
    from nodediag.redact import RedactError, RedactOptions, redact_input

    cleanup_on_signals()  # SIGTERM: the partial bundle and its spools are removed like on any error
    operator_secrets, operator_patterns = operator_rules(secrets, secrets_files, patterns)
    opts = RedactOptions(input=source, output=output, secrets=operator_secrets, patterns=operator_patterns,
                         redact_ips=redact_ips, command_line=["nodediag", *sys.argv[1:]],
                         allow_damaged=allow_damaged, limits=limits, redaction_key=key_choice.load())
    try:
        outcome = redact_input(opts, iso(utc_now()))
    except RedactError as exc:
        fail(str(exc), 1)
    except OSError as exc:
        fail(f"cannot read {source} or write {output}: {exc.strerror or exc}", 1)
    for problem in outcome.damage:
        click.echo(f"warning: the input was damaged (taken with --allow-damaged): {visible(problem)}", err=True)
    redacted = ", ".join(f"{k} {v}" for k, v in sorted(outcome.totals.items())) or "none"
    if outcome.kind in ("log", "folder"):
        click.echo(f"Redacted copy: {outcome.path} ({outcome.files} file(s), {human(outcome.size)}); "
                   f"redacted: {redacted}.", err=True)
    else:
        what = "the manual guide's archive converted" if outcome.kind == "manual-guide" else "bundle re-redacted"
        click.echo(f"Bundle: {outcome.path} ({what}, {outcome.files} files, {human(outcome.size)}); "
                   f"redacted: {redacted}. Check it with `nodediag inspect {outcome.path}`.", err=True)
    click.echo(str(outcome.path))
