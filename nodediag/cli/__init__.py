"""The `nodediag` command: one module per subcommand, each a thin layer that parses options and
wires the parts together; no diagnosis or collection logic lives here.

This package is the only place that imports both the collector and the analyzer. Every error a
user can cause ends as one plain line on stderr and a non-zero exit, never a traceback. Docker is
imported only by `collect` and `watch`; the analyzer only by the commands that read bundles and
reports (`analyze`, `archive`, `diff`) and by `watch` (its rule pack), and only when they run.
"""

from __future__ import annotations

import click

from nodediag.cli.analyze import analyze
from nodediag.cli.archive import archive
from nodediag.cli.collect import collect
from nodediag.cli.diff import diff
from nodediag.cli.inspect import inspect
from nodediag.cli.redact import redact
from nodediag.cli.verify import verify
from nodediag.cli.watch import watch
from nodediag.version import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="nodediag")
def main() -> None:
    """Diagnose Aztec prover deployments: collect a redacted bundle on the host, analyze it anywhere."""


for _command in (collect, analyze, verify, inspect, redact, watch, archive, diff):
    main.add_command(_command)
