"""Streaming log parser: physical lines -> ``Record`` objects, in file order.

Every line goes through one per-line parser (``LineParser``): the common line (an optional
docker timestamp, then a pino pretty record, no compose prefix) through an inlined fast path, one
regex match and no method calls; every other line through ``LineGrouper.feed`` (grouping.py),
which knows all the formats and how continuation lines attach to records. Memory stays flat: at
most one record per container is held back, waiting for its continuation lines.

With a ``SkipPlan`` (skipping.py), a fast-path line that can match no rule is not turned into a
Record at all unless a continuation line follows it: it is only counted in ``ParseStats``.
``parse_log_file`` then reads the file in blocks of bytes: ``LineSieve`` finds the few lines of a
block that need a look of their own, and each run of lines between them is counted in one step,
without being decoded. A WARN or ERROR line whose text after its timestamps repeats an earlier
one-line record is not parsed again: it stands for a copy of that record with its own line number,
time and raw line, and the analysis takes such repeats in bulk (``Repeats``). ``parse_log_lines``
decides everything line by line: it is what the block path is tested against.
"""

from __future__ import annotations

import io
import pathlib
import re
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timedelta
from typing import BinaryIO, cast

from nodediag.analyzer.model import ParseStats, Record
from nodediag.analyzer.parsing import formats as fmt
from nodediag.analyzer.parsing.grouping import LineGrouper, Pending
from nodediag.analyzer.parsing.skipping import LineSieve, SkipPlan, anchor_test, strip_eol
from nodediag.analyzer.parsing.timestamps import UTC, from_epoch_ms, parse_rfc3339

BLOCK_BYTES = 4 * 2**20  # read and sieved at once by parse_log_file
BODY_CACHE_SIZE = 4096  # distinct message texts whose split into message and data is remembered
BODY_CACHE_TEXT = 512  # ... for texts up to this long
PROTO_CACHE_SIZE = 4096  # distinct one-line record texts that later lines may repeat
REPEAT_LEVELS = frozenset(("WARN", "ERROR", "FATAL"))  # (below WARN, an anchor could span the time)

_JSON_LEVEL = re.compile(r'\{"level":(\d+)[,}]')  # a pino JSON line's level, read before its JSON is
_CONTINUATION_FIRST = ("", " ", "\t", "}", ")", "]")  # a line starting so may continue any record

# a pino time's three millisecond digits -> the timedelta they add to its second
MILLISECONDS = {f"{ms:03d}".encode(): timedelta(milliseconds=ms) for ms in range(1000)}

# a repeated record: (the record it repeats, its line number, its time, start, stop of its raw line)
RepeatItem = tuple[Record, int, datetime, int, int]
# a skipped line held back: (line number, the line as read), or (line number, block, start, end)
# for the last line of a run of skipped lines block[start:end]
Held = tuple[int, str] | tuple[int, bytes, int, int]


def _body_of(rest: str, module: str | None) -> tuple[str, dict]:
    """A pretty line's message and data (bindings, trailing JSON) from the text after its head."""
    bindings = None
    if module is not None:
        space = rest.find(" ")
        if space > 0 and (rest[space - 1].isdigit() or rest.startswith("MAIN ")):
            rest, bindings = fmt.split_bindings(rest)
    data: dict = {}
    if rest[-1:] == "}":
        rest, found = fmt.split_trailing_json(rest)
        if found:
            data = found
    if bindings:
        data.update(bindings)
    return rest, data


class LineParser:
    """The parser's state and its steps, one input at a time:

    - ``feed(lineno, line)`` parses one line (as read, with its newline): the common pretty line
      through the fast path (``build``), a line that can match nothing counted and held back
      (``skip_json`` decides JSON lines), every other line through ``LineGrouper.feed``;
    - ``skip_run(count, json_count, last_lineno, block, pos, end)`` counts the run of lines
      ``block[pos:end]`` that the sieve found skippable (``json_count`` of them JSON), or returns
      False when the parser's state does not allow it (the caller then feeds them);
    - ``repeat(lineno, block, start, end, cut)`` and ``learn(record)``: a line repeating an
      earlier record's text, taken as a copy of it;
    - ``finish(lines)`` ends the input.

    Finished records are appended to ``out``, in file order: the caller yields and clears it.
    A skipped line is held back (``held``): only when a line that may continue it follows does
    it become the open record the general path extends (``release``)."""

    def __init__(self, file: str, container: str, role: str, stats: ParseStats,
                 role_of: Callable[[str], str] | None, skip: SkipPlan | None) -> None:
        self.file, self.container, self.role, self.stats = file, container, role, stats
        self.grouper = grouper = LineGrouper(file, container, role, stats, role_of)
        self.out = grouper.out
        self.skip_levels: frozenset[str] = skip.levels if skip else frozenset()
        self.skip_labels = frozenset(k for k, v in fmt.LEVEL_BY_NAME.items() if v in self.skip_levels)
        self.anchors = skip.anchors if skip else ()
        self.has_anchor = anchor_test(self.anchors)  # has_anchor(text, self.anchors)
        # the message and data of the text after a pretty line's module, by that text (repeated
        # messages are split once); the data is copied for each record
        self.bodies: dict[tuple[str, bool], tuple[str, dict] | None] = {}
        self.held: Held | None = None
        self.fast_records = 0  # pretty records counted by the fast path (held, skipped or built)
        self.fast_json = 0  # JSON records skipped
        self.spare: list[Pending] = []  # the holder a run of skipped lines emptied, for the next record
        # one-line records at WARN and above by their text after the time (a docker timestamp,
        # then pino's): the first record of each, which later lines with that text repeat
        self.protos: dict[bytes, Record] = {}
        self.proto_key = b""  # the text of the line repeat() looked at last
        # the docker second repeat() read last: its bytes, its time, and its time of day as pino writes it
        self.second: tuple[bytes, datetime | None, bytes] = (b"", None, b"")

    # --- the state ----------------------------------------------------------------------------

    def quiet(self) -> bool:
        """Nothing but the one container's record is pending: a skipped line can complete it."""
        grouper = self.grouper
        open_now = grouper.open
        return grouper.compose is False and not grouper.heap and (not open_now or (len(open_now) == 1
                                                                                   and "" in open_now))

    def _complete_open(self) -> None:
        """The open record (of the one container) is complete: out with it; its holder is spare."""
        holder = self.grouper.open.pop("", None)
        if holder is not None:
            self.out.append(holder.record)
            self.spare[:] = (holder,)

    # --- pretty lines ---------------------------------------------------------------------------

    def when_of(self, sec: str, hms: str, ms: str) -> datetime | None:
        """The time of a line: its docker second's date, its pino time of day; None when the
        docker second is not a valid time."""
        clock = self.grouper.clock
        if sec != clock.key and not clock.set_second(sec):
            return None
        if hms == clock.sec_hms:
            year, month, day, hour, minute, second = clock.parts
            return datetime(year, month, day, hour, minute, second, int(ms) * 1000, UTC)
        assert clock.sec is not None  # (set_second set it)
        return clock.with_time_of_day(clock.sec, hms + "." + ms)

    def build(self, lineno: int, line: str, m: re.Match[str], rest: str) -> tuple[Record, str | None, str | None]:
        """The record of a fast-path pretty line; its docker second and fraction."""
        sec, frac, hms, ms, label, module = m.groups()
        bodies = self.bodies
        key = (rest, module is not None)
        if key in bodies:
            known = bodies[key]
        else:
            if len(bodies) >= BODY_CACHE_SIZE:
                bodies.clear()
            known = bodies[key] = _body_of(rest, module) if len(rest) <= BODY_CACHE_TEXT else None
        message, data = known if known is not None else _body_of(rest, module)
        data = dict(data) if data else {}
        when = self.when_of(sec, hms, ms) if sec is not None else None
        if when is None:
            data["time_of_day"] = hms + "." + ms
        record = Record(self.container, self.role, self.file, lineno, lineno, when, fmt.LEVEL_BY_NAME.get(label),
                        module, message, data, [], line, "pino")
        return record, sec, frac

    def _open(self, record: Record, sec: str | None, frac: str | None) -> None:
        """Make ``record`` (a fast-path pretty record) the open one."""
        grouper = self.grouper
        open_now = grouper.open
        current = open_now.get("")
        if current is not None and len(open_now) == 1 and not grouper.heap:
            # the common case: the held-back record is complete; reuse its holder for this one
            self.out.append(current.record)
            current.record = record  # (its seq only orders compose services: not needed here)
            current.last_epoch = None
            current.block = None
            current.last_sec = sec
            current.last_frac = frac
        elif self.spare and not open_now and not grouper.heap:
            grouper.seq += 1
            holder = self.spare.pop()  # grouper.start_counted, without making a new holder
            holder.record = record
            holder.seq = grouper.seq
            holder.last_epoch = None
            holder.block = None
            holder.last_sec = sec
            holder.last_frac = frac
            open_now[""] = holder
        else:
            grouper.seq += 1
            grouper.start_counted("", record, sec, frac)

    # --- JSON lines ------------------------------------------------------------------------------

    def skip_json(self, line: str, ts: re.Match[str] | None) -> bool:
        """Whether ``line`` (without its newline and ANSI codes; ``ts`` its docker timestamp,
        ``fmt.DOCKER_TS_RE.match(line)``) is, as the general path reads it, one pino JSON record
        at a skipped level whose text holds no anchor."""
        start = ts.end() if ts is not None else 0
        head = _JSON_LEVEL.match(line, start)  # the level first: most lines read here are at other levels
        skip_levels = self.skip_levels
        if head is None or fmt.level_from_number(int(head.group(1))) not in skip_levels:
            return False
        body = line[start:]
        if ts is not None and self.grouper.clock.docker(ts.group(1)) is None:
            return False  # (the general path reads the line as no JSON record)
        pieces = fmt.split_json_objects(body)
        obj = pieces[0][0] if len(pieces) == 1 else None
        fields = fmt.json_record_fields(obj) if obj is not None else None
        if fields is None or fields["kind"] != "pino-json" or fields["level"] not in skip_levels:
            return False
        return not self.has_anchor("\n".join((fields["message"], *fields["stack"])))

    def json_record(self, lineno: int, line: str, ts: re.Match[str] | None) -> bool:
        """What ``LineGrouper.feed`` does with a line (not from compose) that is one whole pino or
        2024 JSON object after an optional docker timestamp (``ts``, as skip_json takes it),
        without its general dispatch; False (nothing done) for any other line."""
        if line[:1] == "{":
            docker_time, epoch, body = None, None, line
        else:
            if ts is None or line[ts.end():ts.end() + 1] != "{":
                return False
            got = self.grouper.clock.docker(ts.group(1))
            if got is None:
                return False
            (docker_time, epoch), body = got, line[ts.end():]
        obj = fmt.json_object_at(body)
        fields = fmt.json_record_fields(obj) if obj is not None else None
        if fields is None:
            return False
        when = None
        if fields["epoch_ms"] is not None:
            when = from_epoch_ms(fields["epoch_ms"])
        elif fields["timestamp"] is not None:
            when = parse_rfc3339(fields["timestamp"])
        if when is None:
            when = docker_time
        record = Record(self.container, self.role, self.file, lineno, lineno, when, fields["level"], fields["module"],
                        fields["message"], fields["data"], fields["stack"], line, fields["kind"])
        self.grouper.start("", record, epoch)
        return True

    @staticmethod
    def continues_json(line: str) -> bool:
        """Whether ``line`` may continue a pino JSON record (else that record is complete)."""
        ts = fmt.DOCKER_TS_RE.match(line) if line[:1].isdigit() else None
        rest = line[ts.end():] if ts is not None else line
        return rest[:1] in _CONTINUATION_FIRST or rest.startswith("[cause]")

    # --- the steps -------------------------------------------------------------------------------

    def release(self, line: str) -> None:
        """``line`` is not a fast-path pretty line: the line held back becomes the open record,
        unless ``line`` cannot continue it."""
        held = self.held
        assert held is not None
        self.held = None
        if len(held) == 2:
            held_no, text = held[0], strip_eol(held[1])
        else:  # the last line of a run
            held_no, block, pos, end = held
            text = strip_eol(block[max(block.rfind(b"\n", pos, end - 1) + 1, pos) : end].decode("utf-8", "replace"))
        held_match = fmt.PRETTY_LINE_RE.match(text)
        if held_match is None:  # a JSON record
            if self.continues_json(line):
                self.fast_json -= 1  # counted again as the general path reads it
                self.grouper.feed(held_no, text)
            return
        record, sec, frac = self.build(held_no, text, held_match, text[held_match.end() :])
        self.grouper.seq += 1
        self.grouper.start_counted("", record, sec, frac)

    def feed(self, lineno: int, line: str) -> Record | None:
        """Parse one line; the record it starts when that went through the fast path."""
        if line[-1:] == "\n":
            line = line[:-1]
            if line[-1:] == "\r":
                line = line[:-1]
        ansi = "\x1b" in line
        if ansi:
            line = fmt.strip_ansi(line)
        grouper = self.grouper
        m = fmt.PRETTY_LINE_RE.match(line) if grouper.compose is not True else None
        if m is not None:
            rest = line[m.end() :]
            if "] " in rest and fmt.GLUED_PRETTY_RE.search(rest) is not None:
                m = None  # two records on one line: the general path splits them
        if m is None:
            if self.held is not None:  # it gets continuation lines, or is the last of a service
                self.release(line)
            # (read once for both: a digit first, as the pattern needs)
            ts = fmt.DOCKER_TS_RE.match(line) if line[:1].isdigit() else None
            # both need a "{" first, or after a docker timestamp: not a stack trace's line
            may_be_json = ts is not None or line[:1] == "{"
            if may_be_json and self.skip_levels and not ansi and self.quiet() and self.skip_json(line, ts):
                current = grouper.open.pop("", None)
                if current is not None:
                    self.out.append(current.record)
                self.fast_json += 1
                self.held = (lineno, line)
                return None
            if may_be_json and grouper.compose is False and self.json_record(lineno, line, ts):
                return None
            if grouper.compose is True and self.skip_labels and not ansi and grouper.skip_compose(
                    lineno, line, self.skip_labels, self.anchors):
                if not lineno & 1023:
                    grouper.close_stale(lineno)
                return None
            grouper.feed(lineno, line)
            if grouper.compose and not lineno & 1023:
                grouper.close_stale(lineno)
            return None

        # --- fast path: [docker ts ][HH:MM:SS.mmm] LEVEL: module[ actor][ instanceId] message[ {json}]
        if grouper.compose is None:
            grouper.compose = False
        self.fast_records += 1
        if m.group(5) in self.skip_labels and not ansi and self.quiet() and not self.has_anchor(line):
            current = grouper.open.pop("", None)
            if current is not None:
                self.out.append(current.record)
            self.held = (lineno, line)
            return None
        self.held = None  # complete, and it cannot matter
        record, sec, frac = self.build(lineno, line, m, rest)
        self._open(record, sec, frac)
        return record

    def repeat(self, lineno: int, block: bytes, start: int, end: int, cut: int) -> RepeatItem | None:
        """``block[start:end]`` (line ``lineno``, whole, the next line starting a record of its
        own), whose docker timestamp and pino time end at ``cut`` (0: it has no such head), as a
        repeat of the record whose text it repeats (see Repeats); None when it repeats no known
        record or the state does not allow it: the caller then feeds it, and offers the record
        feed returns to ``learn``."""
        if not cut:
            self.proto_key = b""
            return None
        key = self.proto_key = block[cut:end]
        proto = self.protos.get(key)
        grouper = self.grouper
        open_now = grouper.open
        if proto is None or grouper.compose is not False or grouper.heap or (
                open_now and (len(open_now) > 1 or "" not in open_now)):
            return None
        # the time, as when_of gives it: block[start:cut] is "YYYY-MM-DDTHH:MM:SS[.f]Z [HH:MM:SS.mmm] "
        clock = grouper.clock
        second = block[start:start + 19]
        if second != self.second[0]:
            sec = second.decode("ascii")
            if sec != clock.key and not clock.set_second(sec):
                return None
            self.second = (second, clock.sec, second[11:])
        base = self.second[1]
        when: datetime | None
        if block[cut - 14:cut - 6] == self.second[2] and base is not None:  # the pino time is in the docker second
            when = base + MILLISECONDS[block[cut - 5:cut - 2]]
        else:
            stamp = block[start:cut].decode("ascii")
            when = self.when_of(stamp[:19], stamp[-14:-6], stamp[-5:-2])
            if when is None:
                return None
        if open_now:  # the record held back is complete
            self._complete_open()
        else:
            grouper.seq += 1
        self.held = None
        self.fast_records += 1
        stop = end - 1  # the line without its newline (it has one: another line follows) and a CR
        if block[stop - 1] == 13 and stop > start:
            stop -= 1
        return proto, lineno, when, start, stop

    def learn(self, record: Record | None) -> None:
        """Remember ``record`` (what feed returned for the line repeat() declined last) when later
        lines with its text can be Repeats of it."""
        key = self.proto_key
        if (key and record is not None and record.time is not None and not record.stack
                and record.level in REPEAT_LEVELS and key not in self.protos):
            if len(self.protos) >= PROTO_CACHE_SIZE:
                self.protos.clear()
            self.protos[key] = record

    def skip_run(self, count: int, json_count: int, last_lineno: int, block: bytes, pos: int, end: int) -> bool:
        grouper = self.grouper
        if grouper.compose is None:  # a plain line is no compose line: the general path would say so
            grouper.compose = False
        open_now = grouper.open
        if grouper.compose is not False or grouper.heap or (open_now and (len(open_now) > 1 or "" not in open_now)):
            return False
        self.fast_records += count - json_count
        self.fast_json += json_count
        self._complete_open()
        self.held = (last_lineno, block, pos, end)
        return True

    def finish(self, lines: int) -> None:
        self.grouper.finish()
        stats = self.stats
        stats.lines += lines
        stats.records += self.fast_records + self.fast_json
        if self.fast_records:
            stats.formats["pino"] = stats.formats.get("pino", 0) + self.fast_records
        if self.fast_json:
            stats.formats["pino-json"] = stats.formats.get("pino-json", 0) + self.fast_json


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
    parser = LineParser(file, container, role, stats or ParseStats(file=file), role_of, skip)
    feed, out = parser.feed, parser.out
    lineno = 0
    for lineno, line in enumerate(lines, 1):
        feed(lineno, line)
        if out:
            yield from out
            out.clear()
    parser.finish(lineno)
    yield from out
    out.clear()


def _blocks(handle: BinaryIO, size: int) -> Iterator[bytes]:
    """``handle``'s bytes in blocks of whole lines of about ``size`` bytes (the last line may
    have no newline), read into one buffer (each block is copied out of it once); a line longer
    than the buffer grows it."""
    buffer = bytearray(size)
    have = 0  # bytes at the start of buffer: the end of a line, carried over
    while True:
        with memoryview(buffer) as view:
            count = handle.readinto(view[have:])  # type: ignore[attr-defined]
            if not count:
                if have:
                    yield bytes(view[:have])
                return
            have += count
            cut = buffer.rfind(b"\n", 0, have) + 1
            if cut:
                yield bytes(view[:cut])
                view[:have - cut] = view[cut:have]
                have -= cut
        if have == len(buffer):  # one line fills it
            buffer.extend(bytes(len(buffer)))


def _feed_lines(feed: Callable[[int, str], Record | None], out: list[Record], block: bytes, pos: int, end: int,
                lineno: int) -> Iterator[Record]:
    """Feed the lines of ``block[pos:end]``, the first being line ``lineno + 1``; the records
    they complete."""
    find = block.find
    while pos < end:
        stop = find(b"\n", pos, end) + 1 or end
        lineno += 1
        feed(lineno, block[pos:stop].decode("utf-8", "replace"))
        if out:
            yield from out
            out.clear()
        pos = stop


class Repeats:
    """Records that repeat an earlier record's text, in file order, as the block parser found
    them: each item is (the record repeated, line number, time, start, stop), and stands for a
    copy of that record with its own line number, time and raw line ``block[start:stop]``.
    Consumers that can take such copies in bulk (the rule engine and the timeline) save making
    each one (``record(item)`` makes it)."""

    __slots__ = ("block", "items")

    def __init__(self, block: bytes, items: list[RepeatItem]) -> None:
        self.block = block
        self.items = items

    def record(self, item: RepeatItem) -> Record:
        p, lineno, when, start, stop = item
        return Record(p.container, p.role, p.file, lineno, lineno, when, p.level, p.module, p.message,
                      dict(p.data) if p.data else {}, [], self.block[start:stop].decode("utf-8", "replace"), p.kind)

    def records(self) -> list[Record]:
        return [self.record(item) for item in self.items]


def _given(block: bytes, held: list[RepeatItem], bulk: bool) -> Iterable[Record | Repeats]:
    """The repeats ``held``: in one Repeats, or as records."""
    return (Repeats(block, held),) if bulk else Repeats(block, held).records()


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
    compiled: bool = True,
    repeats: bool = False,
) -> Iterator[Record | Repeats]:
    """``parse_log_lines(lines of handle, skip=skip)``, reading UTF-8 bytes (undecodable bytes
    replaced) a block at a time: only the lines the sieve marks are decoded and parsed. With
    ``compiled=False`` the sieve written in Python is used even where the compiled one is built.
    With ``repeats=True``, records that repeat earlier ones come in ``Repeats`` (in their place
    in file order) instead of one by one."""
    parser = LineParser(file, container, role, stats or ParseStats(file=file), role_of, skip)
    feed, skip_run, out, repeat, learn = parser.feed, parser.skip_run, parser.out, parser.repeat, parser.learn
    sieve = LineSieve(skip, frozenset(k for k, v in fmt.LEVEL_BY_NAME.items() if v in skip.levels),
                      compiled=compiled)
    lineno = 0
    for block in _blocks(handle, block_bytes):
        size = len(block)
        marks, tail_json = sieve.marks(block)
        pos = done = 0  # the offset and the index in the block of the first line not yet read
        held: list[RepeatItem] = []  # repeats not yet given: each record given comes after them
        for start, end, index, cut, alone, json_lines in marks:
            if index > done:  # a run of lines the sieve found skippable: counted, not read
                lines = index - done
                if not skip_run(lines, json_lines, lineno + lines, block, pos, start):
                    if held:  # the parser's state does not allow it: each line is fed
                        yield from _given(block, held, repeats)
                        held = []
                    yield from _feed_lines(feed, out, block, pos, start, lineno)
                lineno += lines
            lineno += 1
            # when the next line starts a record of its own (the sieve says so), this one has no
            # continuation line: it may repeat a record
            item = repeat(lineno, block, start, end, cut) if alone else None
            if item is None:
                record = feed(lineno, block[start:end].decode("utf-8", "replace"))
                if alone:
                    learn(record)
            if out:  # records completed: after the repeats before them
                if held:
                    yield from _given(block, held, repeats)
                    held = []
                yield from out
                out.clear()
            if item is not None:
                held.append(item)
            pos, done = end, index + 1
        if held:
            yield from _given(block, held, repeats)
        if pos < size:  # the run of skippable lines after the last marked one
            lines = block.count(b"\n", pos) + (block[-1:] != b"\n")
            if not skip_run(lines, tail_json, lineno + lines, block, pos, size):
                yield from _feed_lines(feed, out, block, pos, size, lineno)
            lineno += lines
    parser.finish(lineno)
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
    """Stream ``path`` (UTF-8, undecodable bytes replaced) through the parser: see parse_log_stream."""
    with open(path, "rb") as raw:
        yield from parse_log_stream(raw, file=file, container=container, role=role, stats=stats,  # type: ignore[misc]
                                    role_of=role_of, skip=skip)


def parse_log_stream(
    handle: BinaryIO,
    *,
    file: str,
    container: str = "",
    role: str = "other",
    stats: ParseStats | None = None,
    role_of: Callable[[str], str] | None = None,
    skip: SkipPlan | None = None,
    repeats: bool = False,
) -> Iterator[Record | Repeats]:
    """The records of a binary stream of log bytes (UTF-8, undecodable bytes replaced): in blocks
    with a skip plan (``parse_log_blocks``, repeats in bulk when ``repeats``), else line by line
    (``parse_log_lines``)."""
    if skip is not None and skip.levels:
        yield from parse_log_blocks(handle, skip, file=file, container=container, role=role, stats=stats,
                                    role_of=role_of, repeats=repeats)
        return
    buffered = handle if isinstance(handle, io.BufferedIOBase) else io.BufferedReader(cast(io.RawIOBase, handle))
    # newline="\n": split on LF only, so that line numbers match sed/grep -n (a stray CR stays).
    text = io.TextIOWrapper(buffered, encoding="utf-8", errors="replace", newline="\n")
    yield from parse_log_lines(text, file=file, container=container, role=role, stats=stats, role_of=role_of,
                               skip=skip)
    text.detach()  # (the caller closes the stream)


__all__ = ["LineParser", "Repeats", "parse_log_blocks", "parse_log_file", "parse_log_lines", "parse_log_stream"]
