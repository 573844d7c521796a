"""nodediag: diagnose Aztec prover deployments.

One import package, four layers:

- ``nodediag`` (this folder): the shared core both sides use and that imports neither: the bundle
  format (``nodediag.bundle``), redaction (``nodediag.redaction``), ``.env`` and compose reading,
  roles, and the command line (``nodediag.cli``, the only place that wires the two sides together).
- ``nodediag.collector`` (``collector/``): Docker and the host; the only code that touches them.
- ``nodediag.analyzer`` (``analyzer/``): reads a bundle anywhere, without Docker; never imports the
  collector.
- ``nodediag.report_templates`` (``report_templates/``): the report's Jinja templates.
"""

from nodediag.version import __version__

__all__ = ["__version__"]
