"""Grouping physical log lines into ``Record`` objects (the general, per-line path).

A record is one log line plus the lines that continue it (stack frames, ``[cause]`` blocks,
multi-line error messages), or one raw line (or one V8 / uncaught-exception block). Lines that
start no known record are kept as raw records and counted in ``ParseStats.unrecognized``.

Continuation judgement (docker's ``-t`` gives every physical line its own timestamp):
- indented lines, ``}``/``]``/``)`` lines, ``[cause]`` lines and blank lines continue the
  container's current record when within ``INDENTED_WINDOW_S`` of its last line;
- other lines continue a pino record only when they were written with it (within
  ``SAME_WRITE_WINDOW_S``), or, without docker timestamps, after a WARN/ERROR/FATAL record;
- an open V8 block absorbs the block's lines; an uncaught-exception block runs up to
  ``Node.js vX``.
In ``docker compose logs`` output each service has its own current record, so interleaved
services do not mix; records are still yielded in the order of their first line.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable

from nodediag.analyzer.model import ParseStats, Record
from nodediag.analyzer.parsing import formats as fmt
from nodediag.analyzer.parsing.timestamps import LineClock, from_epoch_ms, parse_rfc3339

INDENTED_WINDOW_S = 1.0  # an indented line further from its record than this starts a raw one
SAME_WRITE_WINDOW_S = 0.01  # lines of one pino write reach docker microseconds apart
BLOCK_WINDOW_S = 2.0  # V8 / uncaught-exception blocks
MAX_INTERLEAVE_LINES = 1000  # compose: a record cannot continue after this many other lines
MAX_CONTINUATION_LINES = 2000  # bounds a record's memory: a longer run starts a new raw record
_CONTINUATION_FIRST = frozenset(" \t})]")
_ERRORISH = frozenset(("WARN", "ERROR", "FATAL"))
_TEXT_KINDS = frozenset(("pino", "aztec-2024"))


class Pending:
    """A record that may still get continuation lines."""

    __slots__ = ("record", "seq", "last_epoch", "block", "last_sec", "last_frac")

    def __init__(
        self,
        record: Record,
        seq: int,
        last_epoch: float | None,
        block: str | None,
        last_sec: str | None = None,
        last_frac: str | None = None,
    ) -> None:
        self.record = record
        self.seq = seq
        self.last_epoch = last_epoch  # docker time of its last line, epoch seconds
        self.block = block  # None | "v8" | "uncaught"
        self.last_sec = last_sec  # or, lazily: the docker second and fraction of its last line
        self.last_frac = last_frac


class LineGrouper:
    """The general path, one physical line at a time: compose prefixes, every format, and the
    grouping of continuation lines. Finished records are appended to ``out`` in file order."""

    def __init__(
        self,
        file: str,
        container: str,
        role: str,
        stats: ParseStats,
        role_of: Callable[[str], str] | None,
    ) -> None:
        self.file = file
        self.container = container
        self.role = role
        self.stats = stats
        self.role_of = role_of
        self.clock = LineClock()
        self.open: dict[str, Pending] = {}
        self.heap: list[tuple[int, Record]] = []
        self.out: list[Record] = []
        self.seq = 0
        self.compose: bool | None = None  # unknown until a line shows it
        self.roles: dict[str, str] = {}

    # --- record bookkeeping ---------------------------------------------------------------

    def _role_for(self, name: str) -> str:
        role = self.roles.get(name)
        if role is None:
            role = self.role_of(name) if self.role_of is not None else self.role
            self.roles[name] = role
        return role

    def _start(
        self,
        key: str,
        record: Record,
        epoch: float | None,
        block: str | None = None,
        sec: str | None = None,
        frac: str | None = None,
    ) -> None:
        self.seq += 1
        stats = self.stats
        stats.records += 1
        formats = stats.formats
        formats[record.kind] = formats.get(record.kind, 0) + 1
        self._hold(key, Pending(record, self.seq, epoch, block, sec, frac))

    def start_counted(self, key: str, record: Record, sec: str | None, frac: str | None) -> None:
        """Hold ``record`` (already counted, ``seq`` already advanced by the caller)."""
        self._hold(key, Pending(record, self.seq, None, None, sec, frac))

    def _hold(self, key: str, pending: Pending) -> None:
        open_now = self.open
        old = open_now.get(key)
        open_now[key] = pending
        if old is None:
            return
        if len(open_now) == 1 and not self.heap:  # one container: finished records go straight out
            self.out.append(old.record)
        else:
            self._done(old)

    def _last_epoch(self, pending: Pending) -> float | None:
        if pending.last_sec is not None:
            pending.last_epoch = self.clock.epoch_of(pending.last_sec, pending.last_frac or "")
            pending.last_sec = None
        return pending.last_epoch

    def _done(self, pending: Pending) -> None:
        record = pending.record
        heap = self.heap
        if not heap:
            open_now = self.open
            lowest: float
            if len(open_now) == 1:
                lowest = next(iter(open_now.values())).seq
            else:
                lowest = min((p.seq for p in open_now.values()), default=math.inf)
            if pending.seq < lowest:
                self.out.append(record)
                return
        heapq.heappush(heap, (pending.seq, record))
        self._drain()

    def _drain(self) -> None:
        lowest = min((p.seq for p in self.open.values()), default=math.inf)
        heap = self.heap
        out = self.out
        while heap and heap[0][0] < lowest:
            out.append(heapq.heappop(heap)[1])

    def close_stale(self, lineno: int) -> None:
        if len(self.open) < 2:
            return
        for key in [k for k, p in self.open.items() if lineno - p.record.line_end > MAX_INTERLEAVE_LINES]:
            self._done(self.open.pop(key))
        self._drain()

    def finish(self) -> None:
        """End of input: every held record is complete."""
        for pending in self.open.values():
            heapq.heappush(self.heap, (pending.seq, pending.record))
        self.open.clear()
        self._drain()

    # --- one physical line -------------------------------------------------------------------

    def feed(self, lineno: int, line: str) -> None:
        """One physical line, without its newline and ANSI codes."""
        key = ""
        container = self.container
        role = self.role
        body = line
        if self.compose is not False:
            prefixed = fmt.split_compose_prefix(line)
            if prefixed is not None:
                self.compose = True
                key, body = prefixed
                if not container:
                    container = key
                    role = self._role_for(key)
            elif self.compose is None:
                if line[:1] in ("[", "{") or fmt.DOCKER_TS_RE.match(line):
                    self.compose = False
            else:
                exited = fmt.compose_exit(line)
                if exited is not None:
                    self._compose_exit(lineno, line, exited)
                    return
        docker_time = None
        epoch = None
        if body[:1].isdigit():
            m = fmt.DOCKER_TS_RE.match(body)
            if m is not None:
                got = self.clock.docker(m.group(1))
                if got is not None:
                    docker_time, epoch = got
                    body = body[m.end() :]
        self._body(lineno, line, body, key, container, role, docker_time, epoch, 0)

    def _body(self, lineno, line, body, key, container, role, docker_time, epoch, depth) -> None:
        first = body[:1]
        if first == "[":
            head = fmt.split_pretty_head(body)
            if head is not None:
                self._pretty(lineno, line, head, key, container, role, docker_time, epoch, depth)
                return
        elif first == "{":
            if self._json(lineno, line, body, key, container, role, docker_time, epoch, depth):
                return
        elif first == "a" or first.isdigit() or " [" in body[:80]:
            if self._aztec_2024(lineno, line, body, key, container, role, docker_time, epoch):
                return
        self._other(lineno, line, body, key, container, role, docker_time, epoch, depth)

    def _pretty(self, lineno, line, head, key, container, role, docker_time, epoch, depth) -> None:
        tod, label, rest = head
        glued = None
        if "] " in rest and depth < 8:
            m = fmt.GLUED_PRETTY_RE.search(rest)
            if m is not None:
                glued = rest[m.start() :]
                rest = rest[: m.start()]
        module, message, bindings = fmt.split_module(rest)
        data: dict = {}
        if message.endswith("}"):
            message, found = fmt.split_trailing_json(message)
            if found:
                data = found
        if bindings:
            data.update(bindings)
        if docker_time is not None:
            when = self.clock.with_time_of_day(docker_time, tod)
        else:
            when = None
            data["time_of_day"] = tod
        record = Record(
            container, role, self.file, lineno, lineno, when, fmt.LEVEL_BY_NAME.get(label), module,
            message, data, [], line, "pino",
        )
        self._start(key, record, epoch)
        if glued is not None:
            self._body(lineno, line, glued, key, container, role, docker_time, epoch, depth + 1)

    def _json(self, lineno, line, body, key, container, role, docker_time, epoch, depth) -> bool:
        pieces = fmt.split_json_objects(body)
        obj = pieces[0][0]
        fields = fmt.json_record_fields(obj) if obj is not None else None
        if fields is None:
            return False
        for index, (obj, text) in enumerate(pieces):
            if index:
                fields = fmt.json_record_fields(obj) if obj is not None else None
            if fields is None:
                if depth < 8:
                    self._body(lineno, line, text, key, container, role, docker_time, epoch, depth + 1)
                continue
            when = None
            if fields["epoch_ms"] is not None:
                when = from_epoch_ms(fields["epoch_ms"])
            elif fields["timestamp"] is not None:
                when = parse_rfc3339(fields["timestamp"])
            if when is None:
                when = docker_time
            record = Record(
                container, role, self.file, lineno, lineno, when, fields["level"], fields["module"],
                fields["message"], fields["data"], fields["stack"], line, fields["kind"],
            )
            self._start(key, record, epoch)
        return True

    def _aztec_2024(self, lineno, line, body, key, container, role, docker_time, epoch) -> bool:
        when = docker_time
        rest = body
        if body[:1].isdigit():
            m = fmt.DOCKER_TS_RE.match(body)
            if m is None:
                return False
            when = parse_rfc3339(m.group(1))
            rest = body[m.end() :]
        parsed = fmt.parse_aztec_2024(rest)
        if parsed is None:
            return False
        module, level, message, data = parsed
        record = Record(
            container, role, self.file, lineno, lineno, when, level, module, message, data, [], line,
            "aztec-2024",
        )
        self._start(key, record, epoch)
        return True

    def _other(self, lineno, line, body, key, container, role, docker_time, epoch, depth) -> None:
        """A line that starts no log record: a continuation, or a raw record."""
        pending = self.open.get(key)
        first = body[:1]
        kind = None
        if (
            pending is not None
            and len(pending.record.stack) < MAX_CONTINUATION_LINES
            and (not self.compose or lineno - pending.record.line_end <= MAX_INTERLEAVE_LINES)
        ):
            last = self._last_epoch(pending)
            gap = abs(epoch - last) if epoch is not None and last is not None else None
            block = pending.block
            if block is not None:
                kind = fmt.raw_kind(body) if block == "v8" else None
                if kind != "v8-fatal" and (gap is None or gap <= BLOCK_WINDOW_S):
                    self._continue(pending, lineno, body, epoch)
                    if block == "uncaught" and body.startswith(fmt.NODE_VERSION_PREFIX):
                        pending.block = None
                    return
            elif first == "" or first in _CONTINUATION_FIRST or body.startswith("[cause]"):
                if gap is None or gap <= INDENTED_WINDOW_S:
                    self._continue(pending, lineno, body, epoch)
                    return
            elif pending.record.kind in _TEXT_KINDS:
                kind = fmt.raw_kind(body)
                if (kind == "known" or kind == "unknown") and not (
                    "[" in body and fmt.GLUED_PRETTY_RE.search(body)
                ):
                    if gap is not None:
                        joins = gap <= SAME_WRITE_WINDOW_S
                    else:
                        joins = epoch is None and pending.record.level in _ERRORISH
                    if joins:
                        self._continue(pending, lineno, body, epoch)
                        return
        if first == "":
            return  # a blank line on its own carries nothing
        if depth < 8 and "[" in body:
            m = fmt.GLUED_PRETTY_RE.search(body, 1)
            if m is not None:
                self._raw(lineno, line, body[: m.start()], key, container, role, docker_time, epoch, None)
                self._body(lineno, line, body[m.start() :], key, container, role, docker_time, epoch,
                           depth + 1)
                return
        self._raw(lineno, line, body, key, container, role, docker_time, epoch, kind)

    def _continue(self, pending: Pending, lineno: int, body: str, epoch: float | None) -> None:
        record = pending.record
        if body.endswith("}") and ' {"' in body:
            body, found = fmt.split_trailing_json(body)
            if found:
                record.data.update(found)
        record.stack.append(body)
        record.line_end = lineno
        if epoch is not None:
            pending.last_epoch = epoch
            pending.last_sec = None

    def _raw(self, lineno, line, body, key, container, role, docker_time, epoch, kind) -> None:
        if kind is None:
            kind = fmt.raw_kind(body)
        level = None
        record_kind = "raw"
        block = None
        if kind == "v8" or kind == "v8-fatal":
            level, record_kind, block = "FATAL", "node-fatal", "v8"
        elif kind == "uncaught":
            block = "uncaught"
        elif kind == "unknown":
            self.stats.unrecognized += 1
        record = Record(container, role, self.file, lineno, lineno, docker_time, level, None, body, {}, [],
                        line, record_kind)
        self._start(key, record, epoch, block)

    def _compose_exit(self, lineno: int, line: str, exited: tuple[str, int]) -> None:
        name, code = exited
        container = self.container or name
        role = self._role_for(name) if not self.container else self.role
        record = Record(container, role, self.file, lineno, lineno, None, None, None, line,
                        {"exit_code": code}, [], line, "raw")
        self._start(name, record, None)
