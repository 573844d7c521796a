"""Log files through the log rules and the timeline, in one process: each file's records
(repeats in bulk) fed in file order. Records are never kept: the rules and the timeline keep
only matches and counts. ``workers.py`` shares the files of several containers with other
processes; each runs ``scan_each``."""

from __future__ import annotations

import gc
import io
from collections.abc import Callable, Iterable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, cast

from nodediag.analyzer import parse_child
from nodediag.analyzer.inputs.redact_ahead import RedactAhead
from nodediag.analyzer.model import LogFile, ParseStats, Record
from nodediag.analyzer.parsing.logs import Repeats, parse_log_stream
from nodediag.analyzer.parsing.skipping import SkipPlan
from nodediag.analyzer.rules.catalog import Rule
from nodediag.analyzer.rules.engine import LogRuleEngine, RuleHits
from nodediag.analyzer.timeline import TimelineCollector
from nodediag.bundle.frames import FrameMemberReader, OwnFrame
from nodediag.bundle.lines import LineCappedReader, line_limit

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

SCAN_GC_THRESHOLD = 50_000  # allocations between young-generation collections while scanning logs


def role_lookup(roles: dict[str, str]) -> Callable[[str], str]:

    def role_of(name: str) -> str:
        if name in roles:
            return roles[name]
        for full, role in roles.items():  # compose prefixes carry the service name: "prover-node-1"
            if full.endswith(name) or name in full:
                return role
        return "other"

    return role_of


Digests = dict[str, tuple[int, str]]  # log path -> (size, sha256 hex) measured as it was read
# what the scan tells as it goes: (what it is doing, log bytes read so far, log bytes in all)
Progress = Callable[[str, int, int], None]


class ScanProgress:
    """Counts the log bytes read (``add``, by every reader of this process, and for each file a
    worker process scanned) and tells ``report`` each time."""

    def __init__(self, report: Progress, total: int) -> None:
        self.report = report
        self.total = total
        self.done = 0

    def add(self, count: int) -> None:
        self.done += count
        self.report("scanning logs", self.done, self.total)


class _Counted(io.RawIOBase):
    """A raw binary reader that tells ``tick`` how many bytes each read gave."""

    def __init__(self, inner: io.RawIOBase | io.BufferedIOBase, tick: Callable[[int], None]) -> None:
        super().__init__()
        self.inner = inner
        self.tick = tick

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer, /) -> int:
        count = self.inner.readinto(buffer)
        if count:
            self.tick(count)
        return count or 0


def _records(root: str, log: LogFile, stats: ParseStats, role_of: Callable[[str], str], skip: SkipPlan | None,
             own: dict[str, OwnFrame], digests: Digests,
             tick: Callable[[int], None] | None = None,
             growing: dict[str, RedactAhead] | None = None) -> Iterator[Record | Repeats]:
    """The records of ``log`` (repeats in bulk: Repeats): from its file under ``root``, or
    straight from the bundle when it is in ``own`` (then its measured size and sha256 go to
    ``digests``), or as a child process writes it when it is in ``growing``. ``tick`` is told how
    many bytes each read gave."""
    frame = own.get(log.path)
    ahead = growing.get(log.path) if growing else None
    reader: io.RawIOBase | io.BufferedIOBase
    if frame:
        reader = FrameMemberReader(frame)
    elif ahead is not None:
        reader = ahead.open()
    else:
        reader = open(Path(root) / log.path, "rb")  # noqa: SIM115 - closed by the with below
    with reader:
        stream = cast(BinaryIO, _Counted(reader, tick) if tick is not None else reader)
        lines = cast(BinaryIO, LineCappedReader(stream, line_limit()))  # an overlong line is cut (marked)
        parsed = parse_log_stream(lines, file=log.path, container=log.container, role=log.role, stats=stats,
                                  role_of=role_of, skip=skip, repeats=True)
        yield from shifted(parsed, timedelta(seconds=log.time_shift_s)) if log.time_shift_s else parsed
        if isinstance(reader, FrameMemberReader):
            digests[log.path] = reader.finish()


def shifted(records: Iterable[Record | Repeats], shift: timedelta) -> Iterator[Record | Repeats]:
    """``records`` with ``shift`` added to their times (a host clock's correction, merge.py)."""
    for record in records:
        if isinstance(record, Repeats):
            record.items = [(p, n, when + shift if when else when, a, b) for p, n, when, a, b in record.items]
        elif record.time is not None:
            record.time += shift
        yield record


def consume(records: Iterable[Record | Repeats], engine: LogRuleEngine, timeline: TimelineCollector) -> None:
    """Feed records (and Repeats) to the rule engine and the timeline, in order."""
    feed, add = engine.feed_ids, timeline.add_record
    for record in records:
        if type(record) is Repeats:
            timeline.add_repeats(record, engine.feed_repeats(record))
        else:
            add(record, feed(record)[1])  # type: ignore[arg-type]


def log_size(root: str, log: LogFile, own: dict[str, OwnFrame] | None,
             growing: dict[str, RedactAhead] | None = None) -> int:
    """The bytes of ``log``: its frame's in the bundle, its source's when it is being redacted,
    or its file's under ``root``."""
    if own and log.path in own:
        return own[log.path].size
    if growing and log.path in growing:
        return growing[log.path].size
    try:
        return (Path(root) / log.path).stat().st_size
    except OSError:  # (reading it will say what is wrong)
        return 0


def scan_files(root: str, logs: list[LogFile], engine: LogRuleEngine, timeline: TimelineCollector,
               role_of: Callable[[str], str], own: dict[str, OwnFrame] | None = None,
               digests: Digests | None = None, tick: Callable[[int], None] | None = None,
               growing: dict[str, RedactAhead] | None = None) -> list[ParseStats]:
    """Stream ``logs`` through the engine and the timeline, in order; their parse statistics.
    Logs in ``own`` are read from the bundle, and their measured digests put in ``digests``;
    logs in ``growing`` as they are written; ``tick`` is told how many bytes each read gave.
    A large log is parsed by a forked child while this process does the rest (parse_child.py)."""
    skip = engine.skip_plan()  # lines that can match no rule and that the timeline ignores
    parse_stats: list[ParseStats] = []
    own = own or {}
    digests = digests if digests is not None else {}
    # Records die young and hold no cycles: collecting every 700 allocations (the default) cost
    # more than half the time of a record that a rule matched. Collect less often while scanning.
    threshold = gc.get_threshold()
    gc.set_threshold(max(threshold[0], SCAN_GC_THRESHOLD), *threshold[1:])
    try:
        for log in logs:
            stats = ParseStats(file=log.path)
            parse_stats.append(stats)
            if not log.time_shift_s and parse_child.usable(log_size(root, log, own, growing)):
                def make(count: Callable[[int], None], log: LogFile = log, stats: ParseStats = stats) -> Iterator[
                        Record | Repeats]:
                    return _records(root, log, stats, role_of, skip, own, digests, count, growing)

                consume(parse_child.records_from_child(make, stats, digests, log.path, tick), engine, timeline)
            else:
                consume(_records(root, log, stats, role_of, skip, own, digests, tick, growing), engine, timeline)
    finally:
        gc.set_threshold(*threshold)
    return parse_stats


# what one log file gave: its rule hits, timeline and statistics; its digest when read from the bundle
LogPart = tuple[dict[tuple[str, str], RuleHits], TimelineCollector, ParseStats, tuple[int, str] | None]


def scan_each(root: str, logs: list[LogFile], rules: list[Rule], roles: dict[str, str],
               own: dict[str, OwnFrame] | None = None, tick: Callable[[int], None] | None = None) -> list[LogPart]:
    """Each log file on its own (fresh engine and timeline): what it gave. Runs in a worker too."""
    parts = []
    for log in logs:
        engine, timeline = LogRuleEngine(rules), TimelineCollector()
        digests: Digests = {}
        (stats,) = scan_files(root, [log], engine, timeline, role_lookup(roles), own, digests, tick)
        parts.append((engine.hits_by_key(), timeline, stats, digests.get(log.path)))
    return parts
