"""One large log scanned by two processes: a forked child reads, sieves and parses it (work that
depends on nothing but the log and the parser's own state) and sends the records in file order;
this process matches them against the rules and does what depends on the order of all records
(the rule engine's hits, episodes and evidence, the unexplained groups, the timeline) exactly as
it does for the records it parses itself. The records are those one process makes, so the
results are too (tests compare whole reports). The two halves cost about the same.

Used by ``log_scan.scan_files`` for a log of ``SPLIT_MIN_BYTES`` or more, on a machine with a
second core, where ``fork()`` is available and no other thread runs. The child's parse statistics,
the log's measured digest and its errors (a damaged frame, an unreadable file) come back with the
last message and are raised here as they would have been raised in this process.
"""

from __future__ import annotations

import os
import pickle
import signal
import struct
import traceback
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

from nodediag.analyzer import forking
from nodediag.analyzer.model import ParseStats, Record
from nodediag.analyzer.parsing.logs import RepeatItem, Repeats
from nodediag.bundle.safe_archive import ArchiveError, CapExceeded

SPLIT_MIN_BYTES = 24 * 2**20  # a smaller log is scanned in one process: the handover costs more than it saves
BATCH = 256  # records (or runs of repeats) sent at once
PROTO_MEMORY = 4096  # records repeated by later lines, remembered on both sides by number
_LENGTH = struct.Struct("<Q")
# what the child may send ahead of the scan: each batch is written at once, into a pipe widened from
# its default 64 KB, so that neither side waits while the other works (without it, each ~55 % busy)
PIPE_BYTES = 1 << 20

# makes the log's records (given the callable to tell the bytes read to)
MakeRecords = Callable[[Callable[[int], None]], Iterator[Record | Repeats]]


def usable(size: int) -> bool:
    """Whether a log of ``size`` bytes is best parsed by a child: this large, a second core, fork(),
    and no other thread in this process (a forked child must not inherit a held lock)."""
    return size >= SPLIT_MIN_BYTES and forking.can_fork_helper()


def _fields(record: Record) -> tuple[Any, ...]:
    """What is sent of a record: all but its ``data`` (pino's bindings and data object), which
    nothing after the parser reads (rules, unexplained groups, timeline and evidence read the
    message, its continuation lines and the raw line); sending it was a third of the unpickling."""
    return (record.container, record.role, record.file, record.line_start, record.line_end, record.time, record.level,
            record.module, record.message, None, record.stack, record.raw, record.kind)


def _record(fields: tuple[Any, ...]) -> Record:
    """The record of ``_fields``, its data empty."""
    record = Record(*fields)
    record.data = {}
    return record


def _write(out: BinaryIO, message: object) -> None:
    payload = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    out.write(_LENGTH.pack(len(payload)))
    out.write(payload)
    out.flush()  # at once: the other side works on it while this one makes the next


def _child(out: BinaryIO, make: MakeRecords, stats: ParseStats, digests: dict[str, tuple[int, str]],
           path: str) -> None:
    """In the child: send batches of (bytes read, items), then ("end", stats, digest) or
    ("error", kind, details). An item is the fields of a record (a tuple), or [(proto, line,
    time, raw line bytes), ...] for a run of repeats, proto being a number the other side knows
    or (number, fields)."""
    read = [0]

    def tick(count: int) -> None:
        read[0] += count

    protos: dict[int, tuple[int, Record]] = {}  # id() of a record repeated -> (its number, it: kept alive)
    batch: list[Any] = []
    try:
        for item in make(tick):
            if isinstance(item, Repeats):
                run = []
                block = item.block
                for proto, line, when, start, stop in item.items:
                    known = protos.get(id(proto))
                    if known is None:
                        if len(protos) >= PROTO_MEMORY:
                            protos.clear()
                        known = protos[id(proto)] = (len(protos), proto)
                        ref: Any = (known[0], _fields(proto))
                    else:
                        ref = known[0]
                    run.append((ref, line, when, block[start:stop]))
                batch.append(run)
            else:  # (_fields, inline)
                batch.append((item.container, item.role, item.file, item.line_start, item.line_end, item.time,
                              item.level, item.module, item.message, None, item.stack, item.raw, item.kind))
            if len(batch) >= BATCH:
                _write(out, (read[0], batch))
                read[0], batch = 0, []
        _write(out, (read[0], batch))
        _write(out, ("end", stats, digests.get(path)))
    except CapExceeded as exc:
        _write(out, ("error", "cap", str(exc)))
    except ArchiveError as exc:
        _write(out, ("error", "archive", str(exc)))
    except OSError as exc:
        _write(out, ("error", "os", (exc.errno, exc.strerror, exc.filename)))
    except BaseException:  # noqa: BLE001 - raised on the other side
        _write(out, ("error", "other", traceback.format_exc()))
    out.flush()


def _widen(fd: int) -> None:
    """Let the pipe hold PIPE_BYTES (Linux; elsewhere, or above the system's limit, it keeps its size)."""
    try:
        import fcntl
        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
    except (ImportError, AttributeError, OSError):
        pass


def _read_exactly(handle: BinaryIO, count: int) -> bytes:
    data = handle.read(count)
    if len(data) != count:
        raise RuntimeError("the process parsing the log ended before it was done")
    return data


def records_from_child(make: MakeRecords, stats: ParseStats, digests: dict[str, tuple[int, str]], path: str,
                       tick: Callable[[int], None] | None = None) -> Iterator[Record | Repeats]:
    """The records of ``make(tick)`` (repeats in bulk: Repeats), in file order, made by a forked
    child. When it is done, ``stats`` holds the child's parse statistics and ``digests[path]``
    what the child measured; the child's error is raised here."""
    read_fd, write_fd = os.pipe()
    _widen(write_fd)
    pid = os.fork()
    if pid == 0:  # the child
        try:
            signal.signal(signal.SIGINT, signal.SIG_DFL)  # (the parent stops it)
            os.close(read_fd)
            with os.fdopen(write_fd, "wb", buffering=1 << 20) as out:
                _child(out, make, stats, digests, path)
        finally:
            os._exit(0)
    os.close(write_fd)
    ended = False
    try:
        with os.fdopen(read_fd, "rb", buffering=1 << 20) as handle:
            yield from _given(handle, stats, digests, path, tick)
        os.waitpid(pid, 0)
        ended = True
    finally:
        if not ended:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            os.waitpid(pid, 0)


def _given(handle: BinaryIO, stats: ParseStats, digests: dict[str, tuple[int, str]], path: str,
           tick: Callable[[int], None] | None) -> Iterator[Record | Repeats]:
    protos: dict[int, Record] = {}
    record = _record
    while True:
        (length,) = _LENGTH.unpack(_read_exactly(handle, _LENGTH.size))
        message = pickle.loads(_read_exactly(handle, length))
        if message[0] == "end":
            _, theirs, digest = message
            for name in ParseStats.__slots__:
                setattr(stats, name, getattr(theirs, name))
            if digest is not None:
                digests[path] = digest
            return
        if message[0] == "error":
            _raise(message[1], message[2])
        read, batch = message
        for item in batch:
            if type(item) is tuple:  # (_record, inline)
                made = Record(*item)
                made.data = {}
                yield made
                continue
            raws: list[bytes] = []
            items: list[RepeatItem] = []
            at = 0
            for ref, line, when, raw in item:
                if type(ref) is tuple:
                    if len(protos) >= PROTO_MEMORY:
                        protos.clear()
                    proto = protos[ref[0]] = record(ref[1])
                else:
                    proto = protos[ref]
                raws.append(raw)
                items.append((proto, line, when, at, at + len(raw)))
                at += len(raw)
            yield Repeats(b"".join(raws), items)
        if tick is not None and read:
            tick(read)


def _raise(kind: str, details: Any) -> None:
    if kind == "cap":
        raise CapExceeded(details)
    if kind == "archive":
        raise ArchiveError(details)
    if kind == "os":
        raise OSError(*details)
    raise RuntimeError(f"the process parsing the log failed:\n{details}")
