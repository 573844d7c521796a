"""Streaming log parser: physical lines -> ``Record`` objects, in file order.

``parse_log_lines`` runs the common line (an optional docker timestamp, then a pino pretty
record, no compose prefix) through an inlined fast path: one regex match, no per-line method
calls. Every other line goes through ``LineGrouper.feed`` (grouping.py), which knows all the
formats and how continuation lines attach to records. Memory stays flat: at most one record
per container is held back, waiting for its continuation lines.
"""

from __future__ import annotations

import pathlib
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime

from analyzer.model import ParseStats, Record
from analyzer.parsing import formats as fmt
from analyzer.parsing.grouping import LineGrouper
from analyzer.parsing.timestamps import UTC


def parse_log_lines(
    lines: Iterable[str],
    *,
    file: str,
    container: str = "",
    role: str = "other",
    stats: ParseStats | None = None,
    role_of: Callable[[str], str] | None = None,
) -> Iterator[Record]:
    """Parse log lines (with or without trailing newlines) into records, in file order.

    Line numbers are 1-based positions in ``lines``. With ``container == ""`` and
    ``docker compose logs`` prefixes, each record's container is the prefix's service name and
    its role ``role_of(name)`` (or ``role``). ``stats`` is complete once the iterator is exhausted.
    """
    if stats is None:
        stats = ParseStats(file=file)
    grouper = LineGrouper(file, container, role, stats, role_of)
    out = grouper.out
    open_now = grouper.open
    clock = grouper.clock
    slow = grouper.feed
    match_pretty = fmt.PRETTY_LINE_RE.match
    search_glued = fmt.GLUED_PRETTY_RE.search
    level_of = fmt.LEVEL_BY_NAME.get
    split_json = fmt.split_trailing_json
    split_bindings = fmt.split_bindings
    strip_ansi = fmt.strip_ansi
    fast_records = 0
    lineno = 0
    for lineno, line in enumerate(lines, 1):
        if line[-1:] == "\n":
            line = line[:-1]
            if line[-1:] == "\r":
                line = line[:-1]
        if "\x1b" in line:
            line = strip_ansi(line)
        m = match_pretty(line) if grouper.compose is not True else None
        if m is not None:
            rest = line[m.end() :]
            if "] " in rest and search_glued(rest) is not None:
                m = None  # two records on one line: the general path splits them
        if m is None:
            slow(lineno, line)
            if out:
                yield from out
                out.clear()
            if grouper.compose and not lineno & 1023:
                grouper.close_stale(lineno)
            continue

        # --- fast path: [docker ts ][HH:MM:SS.mmm] LEVEL: module[ actor][ instanceId] message[ {json}]
        if grouper.compose is None:
            grouper.compose = False
        sec, frac, hms, ms, label, module = m.groups()
        bindings = None
        if module is not None:
            space = rest.find(" ")
            if space > 0 and (rest[space - 1].isdigit() or rest.startswith("MAIN ")):
                rest, bindings = split_bindings(rest)
        data: dict = {}
        if rest[-1:] == "}":
            rest, found = split_json(rest)
            if found:
                data = found
        if bindings:
            data.update(bindings)
        when = None
        if sec is not None and (sec == clock.key or clock.set_second(sec)):
            if hms == clock.sec_hms:
                year, month, day, hour, minute, second = clock.parts
                when = datetime(year, month, day, hour, minute, second, int(ms) * 1000, UTC)
            else:
                when = clock.with_time_of_day(clock.sec, hms + "." + ms)  # type: ignore[arg-type]
        else:
            data["time_of_day"] = hms + "." + ms
        record = Record(
            container, role, file, lineno, lineno, when, level_of(label), module, rest, data, [], line, "pino"
        )
        fast_records += 1
        current = open_now.get("")
        if current is not None and len(open_now) == 1 and not grouper.heap:
            # the common case: the held-back record is complete; reuse its holder for this one
            yield current.record
            current.record = record  # (its seq only orders compose services: not needed here)
            current.last_epoch = None
            current.block = None
            current.last_sec = sec
            current.last_frac = frac
        else:
            grouper.seq += 1
            grouper.start_counted("", record, sec, frac)
            if out:
                yield from out
                out.clear()
    grouper.finish()
    stats.lines += lineno
    stats.records += fast_records
    if fast_records:
        stats.formats["pino"] = stats.formats.get("pino", 0) + fast_records
    yield from out
    out.clear()


def parse_log_file(
    path: pathlib.Path,
    *,
    file: str,
    container: str = "",
    role: str = "other",
    stats: ParseStats | None = None,
    role_of: Callable[[str], str] | None = None,
) -> Iterator[Record]:
    """Stream ``path`` (UTF-8, undecodable bytes replaced) through ``parse_log_lines``."""
    # newline="\n": split on LF only, so that line numbers match sed/grep -n (a stray CR stays).
    with open(path, encoding="utf-8", errors="replace", newline="\n") as handle:
        yield from parse_log_lines(
            handle, file=file, container=container, role=role, stats=stats, role_of=role_of
        )


__all__ = ["parse_log_file", "parse_log_lines"]
