"""Streaming log parser: physical lines -> ``Record`` objects, in file order.

``parse_log_lines`` runs the common line (an optional docker timestamp, then a pino pretty
record, no compose prefix) through an inlined fast path: one regex match, no per-line method
calls. Every other line goes through ``LineGrouper.feed`` (grouping.py), which knows all the
formats and how continuation lines attach to records. Memory stays flat: at most one record
per container is held back, waiting for its continuation lines.

With a ``SkipPlan`` (skipping.py), a fast-path line that can match no rule is not turned into a
Record at all unless a continuation line follows it: it is only counted in ``ParseStats``. Lines
are then read BATCH_LINES at a time; ``lines_to_check`` finds, for the whole batch at once, the
lines that need a look of their own, and each run of lines between them is counted in one step.
"""

from __future__ import annotations

import pathlib
import re
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from itertools import islice

from analyzer.model import ParseStats, Record
from analyzer.parsing import formats as fmt
from analyzer.parsing.grouping import LineGrouper
from analyzer.parsing.skipping import (
    SkipPlan,
    has_anchor,
    lines_to_check,
    lines_with_anchor,
    not_plain_re,
    skip_prefix_re,
    strip_eol,
)
from analyzer.parsing.timestamps import UTC

BATCH_LINES = 4096  # lines searched for skip anchors at once


def parse_log_lines(
    lines: Iterable[str],
    *,
    file: str,
    container: str = "",
    role: str = "other",
    stats: ParseStats | None = None,
    role_of: Callable[[str], str] | None = None,
    skip: SkipPlan | None = None,
) -> Iterator[Record]:
    """Parse log lines (with or without trailing newlines) into records, in file order.

    Line numbers are 1-based positions in ``lines``. With ``container == ""`` and
    ``docker compose logs`` prefixes, each record's container is the prefix's service name and
    its role ``role_of(name)`` (or ``role``). ``stats`` is complete once the iterator is exhausted.
    With ``skip``, pino records at ``skip.levels`` that have no continuation lines and whose line
    contains none of ``skip.anchors`` are counted in ``stats`` but not yielded.
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
    skip_labels = frozenset(k for k, v in fmt.LEVEL_BY_NAME.items() if skip and v in skip.levels)
    anchors = skip.anchors if skip else ()
    # lines holding an anchor or an ANSI escape take the general path (which may skip them still)
    marks = (*anchors, "\x1b")
    skip_head = skip_prefix_re(skip_labels).match if skip_labels else None
    not_plain = not_plain_re(skip_labels) if skip_labels else None

    def build(lineno: int, line: str, m: re.Match[str], rest: str) -> tuple[Record, str | None, str | None]:
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
        return record, sec, frac

    # A skipped line (see skipping.py) is held back as its arguments to build(): only when a
    # continuation line follows it does it become the open record the general path extends.
    skipped: tuple[int, str] | None = None  # (line number, line as read)
    fast_records = 0
    lineno = 0
    it = iter(lines)
    # with a skip plan, lines are read BATCH_LINES at a time; without one, each line is parsed
    # as soon as it is read
    batches = iter(lambda: list(islice(it, BATCH_LINES)), []) if skip_labels else ((line,) for line in it)

    def visit(batch: list[str], check: set[int] | None, base: int) -> Iterator[int]:
        """The indexes of the lines in ``batch`` to parse one by one. Each run of lines between
        them that can all be skipped is skipped here at once (the record it completes goes to
        ``out``), provided nothing but the one container's record is pending when it starts."""
        nonlocal skipped, fast_records
        if check is None:
            yield from range(len(batch))
            return
        start = 0
        for stop in (*sorted(check), len(batch)):
            if stop > start:
                if (grouper.compose is False and not grouper.heap
                        and (not open_now or (len(open_now) == 1 and "" in open_now))):
                    fast_records += stop - start
                    if open_now:
                        out.append(open_now.pop("").record)
                    skipped = (base + stop, batch[stop - 1])
                else:
                    yield from range(start, stop)
            if stop < len(batch):
                yield stop
            start = stop + 1

    for batch in batches:
        check = lines_to_check(batch, anchors, not_plain) if skip_labels else None  # type: ignore[arg-type]
        marked = lines_with_anchor(batch, marks) if skip_labels and check is None else None  # type: ignore[arg-type]
        base = lineno
        for index in visit(batch, check, base):  # type: ignore[arg-type]
            if out:
                yield from out
                out.clear()
            line = batch[index]
            lineno = base + index + 1
            # --- skip path: a plain pino line at a skipped level, with no anchor, no escape and no
            # second record glued on, while no other record is pending: only counted
            if (
                check is not None
                and index not in check
                and grouper.compose is False
                and not grouper.heap
                and (not open_now or (len(open_now) == 1 and "" in open_now))
            ):
                fast_records += 1
                if open_now:
                    yield open_now.pop("").record
                skipped = (lineno, line)
                continue
            if (
                check is None
                and skip_head is not None
                and grouper.compose is False
                and not grouper.heap
                and (not open_now or (len(open_now) == 1 and "" in open_now))
                and (index not in marked if marked is not None else not has_anchor(line, marks))
            ):
                head = skip_head(line)
                if head is not None and line.find("] ", head.end()) == -1:
                    fast_records += 1
                    if open_now:
                        yield open_now.pop("").record
                    skipped = (lineno, line)
                    continue
            if line[-1:] == "\n":
                line = line[:-1]
                if line[-1:] == "\r":
                    line = line[:-1]
            ansi = "\x1b" in line
            if ansi:
                line = strip_ansi(line)
            m = match_pretty(line) if grouper.compose is not True else None
            if m is not None:
                rest = line[m.end() :]
                if "] " in rest and search_glued(rest) is not None:
                    m = None  # two records on one line: the general path splits them
            if m is None:
                if skipped is not None:  # it gets continuation lines, or is the last of a service
                    held = strip_eol(skipped[1])
                    held_match = match_pretty(held)
                    assert held_match is not None
                    record, sec, frac = build(skipped[0], held, held_match, held[held_match.end() :])
                    skipped = None
                    grouper.seq += 1
                    grouper.start_counted("", record, sec, frac)
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
            fast_records += 1
            if (
                m.group(5) in skip_labels
                and not ansi
                and not grouper.heap
                and (not open_now or (len(open_now) == 1 and "" in open_now))
                and not (index in marked if marked is not None else has_anchor(line, anchors))
            ):
                current = open_now.pop("", None)
                if current is not None:
                    yield current.record
                skipped = (lineno, line)
                continue
            skipped = None  # complete, and it cannot matter
            record, sec, frac = build(lineno, line, m, rest)
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
        lineno = base + len(batch)
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
    skip: SkipPlan | None = None,
) -> Iterator[Record]:
    """Stream ``path`` (UTF-8, undecodable bytes replaced) through ``parse_log_lines``."""
    # newline="\n": split on LF only, so that line numbers match sed/grep -n (a stray CR stays).
    with open(path, encoding="utf-8", errors="replace", newline="\n") as handle:
        yield from parse_log_lines(
            handle, file=file, container=container, role=role, stats=stats, role_of=role_of, skip=skip
        )


__all__ = ["parse_log_file", "parse_log_lines"]
