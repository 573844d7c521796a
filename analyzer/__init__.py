"""nodediag analyzer: reads a bundle (no Docker needed) and renders an incident report."""
