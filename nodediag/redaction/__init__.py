"""Redaction engine: everything nodediag writes to a bundle passes through a Redactor.

Pure Python (no Docker or psutil), so the analyzer can import it too.
"""

from .counts import RedactionCounts
from .literals import PLACEHOLDER_RE
from .names import secret_kind_for_name
from .redactor import LogStream, Redactor

__all__ = ["PLACEHOLDER_RE", "LogStream", "RedactionCounts", "Redactor", "secret_kind_for_name"]
