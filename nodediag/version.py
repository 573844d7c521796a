"""The tool's version and the bundle format version it writes."""

__version__ = "0.1.0"
