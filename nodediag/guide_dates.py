"""Dates for the manual guide's logs, which have none; shared by the analyzer (which reads the
guide's archive) and `nodediag redact` (which converts it into a bundle), so both date alike.

The guide runs ``docker logs X > file`` without ``-t``: its pino lines carry a time of day
(``[HH:MM:SS.mmm]``, UTC) and no date, so nothing would reach the timeline. The archive does know
when it was made: a ``date`` printed in its system information, else its files' times (the tar
members' mtimes). The last line of a log was written before the archive was made; going back,
each time the time of day jumps forward by hours a midnight was crossed. Each pino line is
given a docker timestamp (``YYYY-MM-DDTHH:MM:SS.mmm000000Z``) in front, as ``docker logs -t``
would have printed it; other lines are left as they are. Line numbers do not change.

Dating takes two passes over a log: :class:`LogDating` reads it once (the last time of day and
the midnights crossed) and gives the first line's day; :func:`stamp_line` then prefixes each line.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import IO

from nodediag.log_lines import DOCKER_TS_RE, is_pretty_start, strip_ansi

WRAP = timedelta(hours=1)  # a time of day this far below the previous one: the next day
SLACK = timedelta(minutes=10)  # clocks and the archive's time may differ this much
MAX_INFO_BYTES = 1024 * 1024  # what is read of a system-information file to find its date
_MONTHS = {m: i for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct",
                                       "nov", "dec"), 1)}
# `date` as coreutils prints it in UTC: "Thu Nov 27 18:30:00 UTC 2026"
_DATE_OUTPUT = re.compile(
    r"\b[A-Z][a-z]{2},? +([A-Z][a-z]{2}) +(\d{1,2}) +(\d\d):(\d\d):(\d\d) +(?:UTC|GMT) +(\d{4})\b")
_ISO = re.compile(r"\b(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(?:\.\d+)?(Z|[+-]\d\d:?\d\d)\b")
_PEEK = 64 * 1024  # of a line, enough to tell whether it starts a pino record


def date_from_text(text: str) -> datetime | None:
    """The first ``date`` output (or ISO time with a zone) in ``text``, in UTC."""
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


def dates_info_file(rel: str) -> bool:
    """Whether a file of the guide's folder may hold the archive's date (not a log, not a .env)."""
    return not (rel.endswith(".log") or rel.endswith(".env"))


class ArchiveTime:
    """When an archive was made, learnt member by member: a date in a system-information file
    (the first such file by name wins), else the newest member time."""

    def __init__(self) -> None:
        self._texts: dict[str, datetime] = {}
        self._newest: float | None = None

    def member(self, rel: str, mtime: float | None, head: bytes | None = None) -> None:
        """A member of the archive: its time, and (for a file that may date it) its first bytes."""
        if mtime is not None and mtime > 86400 and (self._newest is None or mtime > self._newest):
            self._newest = mtime
        if head is not None and dates_info_file(rel):
            found = date_from_text(head[:MAX_INFO_BYTES].decode("utf-8", "replace"))
            if found is not None:
                self._texts[rel] = found

    def result(self) -> tuple[datetime, str] | None:
        """(when, how that is known), or None."""
        if self._texts:
            rel = min(self._texts)
            return self._texts[rel], f"the date in {rel}"
        if self._newest is None:
            return None
        return datetime.fromtimestamp(self._newest, tz=timezone.utc), "the time the archive's files were written"


def archive_time(root: Path, files: Iterable[str]) -> tuple[datetime, str] | None:
    """When the archive extracted under ``root`` was made, and how that is known."""
    found = ArchiveTime()
    for rel in files:
        try:
            mtime: float | None = os.stat(root / rel).st_mtime
        except OSError:
            mtime = None
        head = None
        if dates_info_file(rel):
            try:
                with (root / rel).open("rb") as fh:
                    head = fh.read(MAX_INFO_BYTES)
            except OSError:
                head = None
        found.member(rel, mtime, head)
    return found.result()


def time_of_day(line: str) -> time | None:
    """The ``[HH:MM:SS.mmm]`` of a pino line that has no docker timestamp, else None."""
    body = strip_ansi(line)
    if not is_pretty_start(body) or DOCKER_TS_RE.match(body):
        return None
    try:
        return time(int(body[1:3]), int(body[4:6]), int(body[7:9]), int(body[10:13]) * 1000)
    except ValueError:
        return None


def _seconds(moment: time) -> float:
    return moment.hour * 3600 + moment.minute * 60 + moment.second + moment.microsecond / 1e6


class LogDating:
    """The first pass over a log: feed every line; ``first_day(made)`` is the day of its first
    dated line (None when no line has a time of day)."""

    def __init__(self) -> None:
        self.wraps = 0
        self._previous: time | None = None

    def feed(self, line: str) -> None:
        moment = time_of_day(line)
        if moment is None:
            return
        if self._previous is not None and _seconds(moment) < _seconds(self._previous) - WRAP.total_seconds():
            self.wraps += 1
        self._previous = moment

    def first_day(self, made: datetime) -> date | None:
        last = self._previous
        if last is None:
            return None
        made = made.astimezone(timezone.utc)
        day: date = made.date()
        if _seconds(last) > _seconds(made.time()) + SLACK.total_seconds():
            day -= timedelta(days=1)  # the last line was written before midnight
        return day - timedelta(days=self.wraps)


class LineStamper:
    """The second pass: ``stamp(line)`` is the line with a docker timestamp in front when it is a
    pino line without a date, else the line unchanged; ``dated`` counts the lines stamped."""

    def __init__(self, first_day: date) -> None:
        self.day = first_day
        self.dated = 0
        self._previous: time | None = None

    def prefix(self, line: str) -> str:
        """The text to put in front of ``line`` ("" for none)."""
        moment = time_of_day(line)
        if moment is None:
            return ""
        if self._previous is not None and _seconds(moment) < _seconds(self._previous) - WRAP.total_seconds():
            self.day += timedelta(days=1)
        self._previous = moment
        self.dated += 1
        return f"{self.day.isoformat()}T{moment.strftime('%H:%M:%S')}.{moment.microsecond // 1000:03d}000000Z "


def date_log(path: Path, made: datetime) -> int:
    """Put a docker timestamp in front of each pino line of ``path`` (rewritten in place), the
    last one dated on or before ``made``; return how many lines were dated."""
    dating = LogDating()
    with path.open(encoding="utf-8", errors="replace", newline="") as fh:
        for line in fh:
            dating.feed(line)
    first = dating.first_day(made)
    if first is None:
        return 0
    stamper = LineStamper(first)
    temp = path.with_name(path.name + ".dating")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    with path.open(encoding="utf-8", errors="replace", newline="") as fh, \
            os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
        for line in fh:
            out.write(stamper.prefix(line) + line)
    os.replace(temp, path)
    return stamper.dated


def dating_note(how: str, made: datetime, dated: int) -> str:
    """The warning that says the guide's logs were dated, and from what."""
    return (f"the guide's logs carry times of day only (docker logs without -t): they were dated from {how} "
            f"({made:%Y-%m-%d %H:%M}Z), counting back over midnights; {dated} line(s) dated")


def read_lines(fh: IO[bytes], peek: int = _PEEK) -> Iterable[tuple[bytes, bool]]:
    """The lines of a binary stream as (piece, starts a line) pairs; a line longer than ``peek``
    comes in several pieces, only the first of which starts a line (bounded memory)."""
    at_start = True
    while True:
        piece = fh.readline(peek)
        if not piece:
            return
        yield piece, at_start
        at_start = piece.endswith(b"\n")


class DatingReader:
    """A binary stream of a guide log with each undated pino line stamped (the second pass), for
    a reader that calls ``read(n)``."""

    def __init__(self, fh: IO[bytes], first_day: date) -> None:
        self._lines = iter(read_lines(fh))
        self.stamper = LineStamper(first_day)
        self._buffer = bytearray()

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self._buffer) < size:
            piece = next(self._lines, None)
            if piece is None:
                break
            data, starts = piece
            if starts:
                self._buffer += self.stamper.prefix(data.decode("utf-8", "replace")).encode("ascii")
            self._buffer += data
        if size < 0:
            size = len(self._buffer)
        out = bytes(self._buffer[:size])
        del self._buffer[:size]
        return out


def log_dating(fh: IO[bytes]) -> LogDating:
    """The first pass over a binary stream of a guide log."""
    dating = LogDating()
    for data, starts in read_lines(fh):
        if starts:
            dating.feed(data.decode("utf-8", "replace"))
    return dating
