"""Log parsers: raw log files -> ``nodediag.analyzer.model.Record`` objects (see ``logs.py``)."""

from nodediag.analyzer.parsing.formats import strip_ansi
from nodediag.analyzer.parsing.logs import parse_log_file, parse_log_lines

__all__ = ["parse_log_file", "parse_log_lines", "strip_ansi"]
