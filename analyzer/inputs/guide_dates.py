"""Dating the manual guide's logs as the analyzer reads its archive (the rules are in the shared
core, nodediag/guide_dates.py, which `nodediag redact` also follows when it converts the archive)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from nodediag.guide_dates import archive_time, date_log, dating_note


def date_guide_logs(source_root: Path, files: list[str], dest: Path,
                    stored: list[str]) -> tuple[list[str], datetime | None]:
    """Date the guide's stored logs (under ``dest``) from the archive's time (read under
    ``source_root``): the warnings that say so, and that time (None when unknown)."""
    found = archive_time(source_root, files)
    if found is None:
        return [], None
    made, how = found
    dated = {rel: date_log(dest / rel, made) for rel in stored if rel.endswith(".log")}
    if not any(dated.values()):
        return [], made
    return [dating_note(how, made, sum(dated.values()))], made
