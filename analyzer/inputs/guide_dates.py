"""Dates for the manual guide's logs, which have none.

The guide runs ``docker logs X > file`` without ``-t``: its pino lines carry a time of day
(``[HH:MM:SS.mmm]``, UTC) and no date, so nothing would reach the timeline. The archive does know
when it was made: a ``date`` printed in its system information, else its files' times (the tar
members' mtimes). The last line of a log was written before the archive was made; going back,
each time the time of day jumps forward by hours a midnight was crossed. Each pino line is
given a docker timestamp (``YYYY-MM-DDTHH:MM:SS.mmm000000Z``) in front, as ``docker logs -t``
would have printed it; other lines are left as they are. Line numbers do not change.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path

from nodediag.analyzer.parsing.formats import DOCKER_TS_RE, is_pretty_start, strip_ansi

WRAP = timedelta(hours=1)  # a time of day this far below the previous one: the next day
SLACK = timedelta(minutes=10)  # clocks and the archive's time may differ this much
_MONTHS = {m: i for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct",
                                       "nov", "dec"), 1)}
# `date` as coreutils prints it in UTC: "Thu Nov 27 18:30:00 UTC 2026"
_DATE_OUTPUT = re.compile(
    r"\b[A-Z][a-z]{2},? +([A-Z][a-z]{2}) +(\d{1,2}) +(\d\d):(\d\d):(\d\d) +(?:UTC|GMT) +(\d{4})\b")
_ISO = re.compile(r"\b(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(?:\.\d+)?(Z|[+-]\d\d:?\d\d)\b")
MAX_INFO_BYTES = 1024 * 1024


def _from_text(text: str) -> datetime | None:
    m = _DATE_OUTPUT.search(text)
    if m and m.group(1).lower() in _MONTHS:
        try:
            return datetime(int(m.group(6)), _MONTHS[m.group(1).lower()], int(m.group(2)), int(m.group(3)),
                            int(m.group(4)), int(m.group(5)), tzinfo=timezone.utc)
        except ValueError:
            pass
    m = _ISO.search(text)
    if m:
        try:
            year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
            when = datetime(year, month, day, hour, minute, second, tzinfo=timezone.utc)
        except ValueError:
            return None
        zone = m.group(7)
        if zone != "Z":
            digits = zone[1:].replace(":", "")
            shift = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
            when = when - shift if zone[0] == "+" else when + shift
        return when
    return None


def archive_time(root: Path, files: Iterable[str]) -> tuple[datetime, str] | None:
    """When the archive was made, and how that is known: a date in its system information
    (a file other than a log), else the newest time of its files."""
    files = list(files)
    for rel in sorted(files):
        if rel.endswith(".log") or rel.endswith(".env"):
            continue
        try:
            with (root / rel).open("rb") as fh:
                text = fh.read(MAX_INFO_BYTES).decode("utf-8", "replace")
        except OSError:
            continue
        found = _from_text(text)
        if found is not None:
            return found, f"the date in {rel}"
    newest = None
    for rel in files:
        try:
            mtime = os.stat(root / rel).st_mtime
        except OSError:
            continue
        if mtime > 86400 and (newest is None or mtime > newest[0]):
            newest = (mtime, rel)
    if newest is None:
        return None
    return datetime.fromtimestamp(newest[0], tz=timezone.utc), "the time the archive's files were written"


def _time_of_day(line: str) -> time | None:
    body = strip_ansi(line)
    if not is_pretty_start(body) or DOCKER_TS_RE.match(body):
        return None
    try:
        return time(int(body[1:3]), int(body[4:6]), int(body[7:9]), int(body[10:13]) * 1000)
    except ValueError:
        return None


def _seconds(moment: time) -> float:
    return moment.hour * 3600 + moment.minute * 60 + moment.second + moment.microsecond / 1e6


def date_log(path: Path, made: datetime) -> int:
    """Put a docker timestamp in front of each pino line of ``path`` (rewritten in place), the
    last one dated on or before ``made``; return how many lines were dated."""
    wraps = 0
    previous: time | None = None
    last: time | None = None
    with path.open(encoding="utf-8", errors="replace", newline="") as fh:
        for line in fh:
            moment = _time_of_day(line)
            if moment is None:
                continue
            if previous is not None and _seconds(moment) < _seconds(previous) - WRAP.total_seconds():
                wraps += 1
            previous = last = moment
    if last is None:
        return 0
    made = made.astimezone(timezone.utc)
    day: date = made.date()
    if _seconds(last) > _seconds(made.time()) + SLACK.total_seconds():
        day -= timedelta(days=1)  # the last line was written before midnight
    day -= timedelta(days=wraps)
    temp = path.with_name(path.name + ".dating")
    dated = 0
    previous = None
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    with path.open(encoding="utf-8", errors="replace", newline="") as fh, \
            os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
        for line in fh:
            moment = _time_of_day(line)
            if moment is None:
                out.write(line)
                continue
            if previous is not None and _seconds(moment) < _seconds(previous) - WRAP.total_seconds():
                day += timedelta(days=1)
            previous = moment
            out.write(f"{day.isoformat()}T{moment.strftime('%H:%M:%S')}.{moment.microsecond // 1000:03d}000000Z {line}")
            dated += 1
    os.replace(temp, path)
    return dated


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
    return [f"the guide's logs carry times of day only (docker logs without -t): they were dated from {how} "
            f"({made:%Y-%m-%d %H:%M}Z), counting back over midnights; {sum(dated.values())} line(s) dated"], made
