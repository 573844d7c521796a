"""The postmortem archive (`nodediag archive`): every bundle kept by content, its analysis, one
row per finding and the verdict history, searchable; SQLite by default, PostgreSQL for a team.

A support-side store over the analyzer's JSON report: it never imports the collector.
"""

from nodediag.analyzer.archive.archive import AddOutcome, Archive, Entry, Filters, HistoryEntry
from nodediag.analyzer.archive.location import DB_ENV, STORE_ENV, ArchiveError, resolve

__all__ = ["DB_ENV", "STORE_ENV", "AddOutcome", "Archive", "ArchiveError", "Entry", "Filters", "HistoryEntry",
           "resolve"]
