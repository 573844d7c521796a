"""nodediag.collector: gathers a redacted diagnostic bundle from a Docker deployment.

The only layer that touches Docker (``engine``, ``sources``) and the host. It writes through the
shared core (``nodediag.bundle``, ``nodediag.redaction``) and never imports the analyzer.
"""
