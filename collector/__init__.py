"""nodediag collector: gathers a redacted diagnostic bundle from a Docker deployment.

Modules that touch Docker or psutil live under ``collector.sources`` and ``collector.engine``;
``collector.redaction`` and ``collector.bundle_format`` are pure Python so that the analyzer
(which must run without Docker) may import them.
"""
