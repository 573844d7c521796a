"""Log parsers: raw log files -> ``analyzer.model.Record`` objects (see ``logs.py``)."""

from analyzer.parsing.formats import strip_ansi
from analyzer.parsing.logs import parse_log_file, parse_log_lines

__all__ = ["parse_log_file", "parse_log_lines", "strip_ansi"]
