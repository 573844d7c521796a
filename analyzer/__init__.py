"""nodediag.analyzer: reads a bundle (no Docker needed) and renders an incident report.

It reads bundles through the shared core (``nodediag.bundle``) and never imports the collector.
"""
