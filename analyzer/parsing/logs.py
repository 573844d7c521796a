"""Streaming log parser: physical lines -> ``Record`` objects, in file order.

Every line goes through one per-line parser (``_line_parser``): the common line (an optional
docker timestamp, then a pino pretty record, no compose prefix) through an inlined fast path, one
regex match and no method calls; every other line through ``LineGrouper.feed`` (grouping.py),
which knows all the formats and how continuation lines attach to records. Memory stays flat: at
most one record per container is held back, waiting for its continuation lines.

With a ``SkipPlan`` (skipping.py), a fast-path line that can match no rule is not turned into a
Record at all unless a continuation line follows it: it is only counted in ``ParseStats``.
``parse_log_file`` then reads the file in blocks of bytes: ``LineSieve`` finds the few lines of a
block that need a look of their own, and each run of lines between them is counted in one step,
without being decoded. ``parse_log_lines`` decides the same thing line by line: it is what the
block path is tested against.
"""

from __future__ import annotations

import pathlib
import re
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import BinaryIO

from analyzer.model import ParseStats, Record
from analyzer.parsing import formats as fmt
from analyzer.parsing.grouping import LineGrouper
from analyzer.parsing.skipping import LineSieve, SkipPlan, has_anchor, strip_eol
from analyzer.parsing.timestamps import UTC

BLOCK_BYTES = 4 * 2**20  # read and sieved at once by parse_log_file

Feed = Callable[[int, str], None]
SkipRun = Callable[[int, int, bytes], bool]


def _line_parser(
    file: str, container: str, role: str, stats: ParseStats, role_of: Callable[[str], str] | None,
    skip: SkipPlan | None,
) -> tuple[Feed, SkipRun, Callable[[int], None], list[Record]]:
    """The parser's state and its three steps: ``feed(lineno, line)`` parses one line (as read,
    with its newline); ``skip_run(count, last_lineno, last_line)`` counts a run of lines the
    sieve found skippable, or returns False when the parser's state does not allow it (the
    caller then feeds them); ``finish(lines)`` ends the input. Finished records are appended
    to the returned list, in file order: the caller yields and clears it."""
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

    # A skipped line is held back (line number, line as read): only when a continuation line
    # follows it does it become the open record the general path extends.
    skipped: tuple[int, str | bytes] | None = None
    fast_records = 0

    def quiet() -> bool:
        """Nothing but the one container's record is pending: a skipped line can complete it."""
        return grouper.compose is False and not grouper.heap and (not open_now or (len(open_now) == 1
                                                                                   and "" in open_now))

    def feed(lineno: int, line: str) -> None:
        nonlocal skipped, fast_records
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
                held = skipped[1]
                held = strip_eol(held.decode("utf-8", "replace") if isinstance(held, bytes) else held)
                held_match = match_pretty(held)
                assert held_match is not None
                record, sec, frac = build(skipped[0], held, held_match, held[held_match.end() :])
                skipped = None
                grouper.seq += 1
                grouper.start_counted("", record, sec, frac)
            slow(lineno, line)
            if grouper.compose and not lineno & 1023:
                grouper.close_stale(lineno)
            return

        # --- fast path: [docker ts ][HH:MM:SS.mmm] LEVEL: module[ actor][ instanceId] message[ {json}]
        if grouper.compose is None:
            grouper.compose = False
        fast_records += 1
        if m.group(5) in skip_labels and not ansi and quiet() and not has_anchor(line, anchors):
            current = open_now.pop("", None)
            if current is not None:
                out.append(current.record)
            skipped = (lineno, line)
            return
        skipped = None  # complete, and it cannot matter
        record, sec, frac = build(lineno, line, m, rest)
        current = open_now.get("")
        if current is not None and len(open_now) == 1 and not grouper.heap:
            # the common case: the held-back record is complete; reuse its holder for this one
            out.append(current.record)
            current.record = record  # (its seq only orders compose services: not needed here)
            current.last_epoch = None
            current.block = None
            current.last_sec = sec
            current.last_frac = frac
        else:
            grouper.seq += 1
            grouper.start_counted("", record, sec, frac)

    def skip_run(count: int, last_lineno: int, last_line: bytes) -> bool:
        nonlocal skipped, fast_records
        if not quiet():
            return False
        fast_records += count
        if open_now:
            out.append(open_now.pop("").record)
        skipped = (last_lineno, last_line)
        return True

    def finish(lines: int) -> None:
        grouper.finish()
        stats.lines += lines
        stats.records += fast_records
        if fast_records:
            stats.formats["pino"] = stats.formats.get("pino", 0) + fast_records

    return feed, skip_run, finish, out


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
    feed, _, finish, out = _line_parser(file, container, role, stats or ParseStats(file=file), role_of, skip)
    lineno = 0
    for lineno, line in enumerate(lines, 1):  # noqa: B007 (the count is used after the loop)
        feed(lineno, line)
        if out:
            yield from out
            out.clear()
    finish(lineno)
    yield from out
    out.clear()


def _blocks(handle: BinaryIO, size: int) -> Iterator[bytes]:
    """``handle``'s bytes in blocks of whole lines of about ``size`` bytes (the last line may
    have no newline)."""
    carry = b""
    while True:
        data = handle.read(size)
        if not data:
            if carry:
                yield carry
            return
        block = carry + data if carry else data
        cut = block.rfind(b"\n") + 1
        if cut == 0:
            carry = block  # one long line so far
            continue
        carry = block[cut:]
        yield block[:cut] if carry else block


def parse_log_blocks(
    handle: BinaryIO,
    skip: SkipPlan,
    *,
    file: str,
    container: str = "",
    role: str = "other",
    stats: ParseStats | None = None,
    role_of: Callable[[str], str] | None = None,
    block_bytes: int = BLOCK_BYTES,
) -> Iterator[Record]:
    """``parse_log_lines(lines of handle, skip=skip)``, reading UTF-8 bytes (undecodable bytes
    replaced) a block at a time: only the lines the sieve marks are decoded and parsed."""
    feed, skip_run, finish, out = _line_parser(file, container, role, stats or ParseStats(file=file), role_of, skip)
    sieve = LineSieve(skip, frozenset(k for k, v in fmt.LEVEL_BY_NAME.items() if v in skip.levels))
    lineno = 0
    for block in _blocks(handle, block_bytes):
        size = len(block)
        count, find, rfind = block.count, block.find, block.rfind
        pos = 0
        for start, end in (*sieve.lines_to_check(block), (size, size)):
            while pos < start:  # a run of skippable lines
                lines = count(b"\n", pos, start) + (start == size and block[-1:] != b"\n")
                last = max(rfind(b"\n", pos, start - 1) + 1, pos)  # the run's last line
                if skip_run(lines, lineno + lines, block[last:start]):
                    lineno += lines
                    break
                stop = find(b"\n", pos, start) + 1 or start  # not now: its first line, then again
                lineno += 1
                feed(lineno, block[pos:stop].decode("utf-8", "replace"))
                if out:
                    yield from out
                    out.clear()
                pos = stop
            if start < size:
                lineno += 1
                feed(lineno, block[start:end].decode("utf-8", "replace"))
                if out:
                    yield from out
                    out.clear()
            pos = end
    finish(lineno)
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
    """Stream ``path`` (UTF-8, undecodable bytes replaced) through the parser: in blocks with a
    skip plan (``parse_log_blocks``), else line by line (``parse_log_lines``)."""
    if skip is not None and skip.levels:
        with open(path, "rb") as raw:
            yield from parse_log_blocks(raw, skip, file=file, container=container, role=role, stats=stats,
                                        role_of=role_of)
        return
    # newline="\n": split on LF only, so that line numbers match sed/grep -n (a stray CR stays).
    with open(path, encoding="utf-8", errors="replace", newline="\n") as handle:
        yield from parse_log_lines(
            handle, file=file, container=container, role=role, stats=stats, role_of=role_of, skip=skip
        )


__all__ = ["parse_log_blocks", "parse_log_file", "parse_log_lines"]
