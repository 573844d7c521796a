"""Streams raw log bytes through redaction into a newest-lines-kept spool, then into the bundle.

Memory stays flat whatever the log: blocks of whole lines go through the redactor, and a line
longer than ``line_cap`` bytes is cut. The kept head of such a line is redacted together with the
``_OVERLAP`` bytes after the cut, so that a secret lying across the cut is still recognised whole
and removed; the rest of the line is skipped unread (counted, never held) and the line ends in a
marker saying how many bytes were left out.
"""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING, Any

from nodediag.collector.log_spool import LogSpool
from nodediag.redaction import PLACEHOLDER_RE, RedactionCounts
from nodediag.redaction.cuts import open_credential

if TYPE_CHECKING:
    from nodediag.collector.engine import SourceContext

_OVERLAP = 64 * 1024  # bytes after a cut that are redacted with the kept head, then dropped
_TIMESTAMP = re.compile(rb"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z) ")
_PROGRESS_EVERY_S = 0.5
_KIND = re.compile(r"\[REDACTED:([a-z_]+)#")


def line_cut_marker(dropped: int) -> str:
    return f" [nodediag: line cut here, {dropped} more bytes of this line not kept (--line-cap)]"


class LogWriter:
    """Feed raw bytes; :meth:`finish` adds the newest lines within the cap to the bundle, also
    after a cancellation or a broken stream (``partial``: why the log ends early)."""

    BLOCK = 1 << 20

    def __init__(self, ctx: SourceContext, path: str, cap: int, line_cap: int = 1 << 20) -> None:
        self._ctx = ctx
        self.path = path
        self.counts = RedactionCounts()
        self.line_cap = max(int(line_cap), 1024)
        self._since = ctx.generation  # literals learnt after this are looked for again before writing
        self._stream = ctx.redactor.stream(self.counts)
        self._spool = LogSpool(ctx._writer.spool_dir, cap)
        self._pending = bytearray()
        self._stream_lines = 0
        self._cut_head: str | None = None  # redacted head of an overlong line still being skipped
        self._cut_dropped = 0
        self.lines_cut = 0
        self.bytes_read = 0
        self._last_stamp = b""
        self._last_report = time.monotonic()

    def feed(self, data: bytes) -> None:
        self.bytes_read += len(data)
        now = time.monotonic()
        if now - self._last_report >= _PROGRESS_EVERY_S:
            self._last_report = now
            self._ctx.report_read(self.bytes_read)
        if self._cut_head is not None:
            data = self._skip_rest(data)
            if not data:
                return
        self._pending += data
        self._drain(final=False)

    def _drain(self, final: bool) -> None:
        """Emit whole lines in blocks of at most ``line_cap`` bytes; cut a line longer than that."""
        threshold = min(self.BLOCK, self.line_cap)
        while self._pending and (final or len(self._pending) >= threshold):
            nl = self._pending.rfind(b"\n", 0, self.line_cap + 1)
            if nl >= 0:
                self._emit(bytes(self._pending[: nl + 1]))
                del self._pending[: nl + 1]
                continue
            if len(self._pending) <= self.line_cap:
                if final:  # the last line, without its newline
                    self._emit(bytes(self._pending) + b"\n")
                    self._pending.clear()
                return
            if not final and len(self._pending) < self.line_cap + _OVERLAP and b"\n" not in self._pending:
                return  # wait for the bytes after the cut: a secret across it is redacted whole
            self._cut_line(final)
            rest = self._skip_rest(bytes(self._pending))
            self._pending.clear()
            if self._cut_head is not None:  # the line goes on past what was received
                if final:
                    self._flush_cut()
                return
            self._pending += rest

    def _cut_line(self, final: bool = False) -> None:
        """The pending bytes start with an unfinished line longer than the cap: keep its redacted
        head; :meth:`_skip_rest` then drops the rest of the line, counting it."""
        window = bytes(self._pending[: self.line_cap + _OVERLAP])
        nl = window.find(b"\n")
        head = (window if nl < 0 else window[:nl]).decode("utf-8", errors="replace")
        red = self._ctx.redactor.redact_text(head, RedactionCounts())  # secrets across the cut are whole here
        whole = nl >= 0 or (final and len(window) == len(self._pending))  # the line's end is in view
        cut = min(self.line_cap, len(red) if whole else max(len(red) - _OVERLAP // 2, 0))
        for m in PLACEHOLDER_RE.finditer(red, max(cut - 64, 0)):
            if m.start() < cut < m.end():
                cut = m.start()
                break
        opened = open_credential(red[:cut])  # a value the cut leaves open: its name goes too
        if opened is not None:
            cut = opened.name_start
        self._cut_head = red[:cut]
        self._cut_dropped = -len(self._cut_head.encode("utf-8", errors="replace"))
        self.lines_cut += 1

    def _skip_rest(self, data: bytes) -> bytes:
        """Drop the rest of a cut line; once it ends, emit its head and marker; return what follows."""
        nl = data.find(b"\n")
        if nl < 0:
            self._cut_dropped += len(data)
            return b""
        self._cut_dropped += nl
        self._flush_cut()
        return data[nl + 1:]

    def _flush_cut(self) -> None:
        head, self._cut_head = self._cut_head or "", None
        line = self._stream_lines + 1
        for m in _KIND.finditer(head):
            self.counts.add(m.group(1), line=line)
        since = self._ctx.generation
        text = self._stream.feed(head + line_cut_marker(self._cut_dropped) + "\n")
        self._cut_dropped = 0
        self._write(text, since)

    def _emit(self, raw: bytes, final: bool = False) -> None:
        since = self._ctx.generation
        text = self._stream.feed(raw.decode("utf-8", errors="replace")) if raw else ""
        if final:
            text += self._stream.close()
        self._write(text, since)

    def _write(self, text: str, since: int) -> None:
        """``since``: the generation the text was redacted at (other sources learn meanwhile)."""
        if not text:
            return
        first = self._stream_lines + 1
        self._stream_lines += text.count("\n")
        text = self._ctx._gate(text, self.path, first, since, self.counts)
        data = text.encode("utf-8")
        last = data.rfind(b"\n", 0, len(data) - 1) + 1
        m = _TIMESTAMP.match(data, last)
        if m:
            self._last_stamp = m.group(1)
        self._spool.write(data)

    def finish(self, partial: str | None = None) -> None:
        """Flush, then add the newest lines within the cap to the bundle. ``partial``: the stream
        ended early for this reason; what was read is kept and the log is marked truncated."""
        if self._cut_head is not None:
            self._flush_cut()
        self._drain(final=True)
        self._emit(b"", final=True)
        self._ctx.report_read(self.bytes_read)
        if partial:
            self._ctx.mark_truncated(f"{self.path}: {partial}; kept the {self.bytes_read} bytes read before",
                                     ended_early=True)
        if self.lines_cut:
            self._ctx.mark_truncated(f"{self.path}: {self.lines_cut} line(s) longer than {self.line_cap} "
                                     "bytes cut (--line-cap)")
        parts = self._spool.finish()
        if self._spool.truncated:
            first = _first_stamp(parts)
            kept = {"from": first, "to": self._last_stamp.decode()} if first and self._last_stamp else None
            self._ctx._result.kept_range = kept
            span = f" ({kept['from']} to {kept['to']})" if kept else ""
            self._ctx.mark_truncated(
                f"{self.path}: {self._spool.bytes_seen} bytes in the window, kept the newest "
                f"{self._spool.bytes_seen - self._spool.bytes_dropped}{span} (--log-cap)"
            )
            # line numbers count from the first line kept, not the first line seen
            _renumber(self.counts, self._stream_lines - _count_lines(parts))
        self._ctx.commit_segments(self.path, parts, self.counts, self._since)

    def discard(self) -> None:
        self._spool.discard()


def _first_stamp(parts: list[tuple[Any, int]]) -> str:
    if not parts:
        return ""
    path, start = parts[0]
    with open(path, "rb") as fh:
        fh.seek(start)
        m = _TIMESTAMP.match(fh.read(64))
    return m.group(1).decode() if m else ""


def _count_lines(parts: list[tuple[Any, int]]) -> int:
    total = 0
    for path, start in parts:
        with open(path, "rb") as fh:
            fh.seek(start)
            while chunk := fh.read(1 << 20):
                total += chunk.count(b"\n")
    return total


def _renumber(counts: RedactionCounts, dropped: int) -> None:
    """Shift recorded line numbers after the oldest ``dropped`` lines were cut by the log cap."""
    if dropped <= 0:
        return
    for kind, lines in list(counts.lines_by_kind.items()):
        counts.lines_by_kind[kind] = [n - dropped for n in lines if n > dropped]
    counts.lines = [n - dropped for n in counts.lines if n > dropped]
