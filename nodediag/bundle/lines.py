"""Overlong lines cut at ``Limits.max_line_bytes`` and marked, so that one hostile line cannot
cost memory, time or report size in proportion to its length.

- ``LineCutter`` (text, for redaction): yields whole lines; a line longer than the cap keeps its
  first ``max_chars`` characters, backed off to the last separator so that no token (a key, a
  URL's credential) is split by the cut: a secret lying across the cut is dropped whole with the
  rest of the line rather than left half visible; the redactor then sees the kept part as a
  line of its own, and the marker says what happened.
- ``LineCappedReader`` (bytes, for analysis): the same cut on a binary stream, passing normal
  input through with a few operations per read.
"""

from __future__ import annotations

import io
from typing import BinaryIO

from nodediag.bundle.limits import current_limits
from nodediag.redaction.cuts import open_credential

MARK = " [... line cut by nodediag: longer than {cap:,} bytes (--max-line-bytes) ...]"
_TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=_.~%:@-")
_LONGEST_TOKEN = 8192  # a JWT or a PEM line is shorter; a longer run of token characters is cut anyway


def line_limit() -> int:
    """The line cap in force (--max-line-bytes, handed to worker processes by set_current_limits)."""
    return current_limits().max_line_bytes


def _cut_head(head: str) -> str:
    """``head`` without the token that runs into the cut (the whole token when it is all there is),
    and without a credential whose value the cut would leave open (``password="abc de``, a name
    and its separator with the value dropped): the name goes with the rest of the line."""
    stop = max(0, len(head) - _LONGEST_TOKEN)
    kept = head[:stop]
    for index in range(len(head) - 1, stop - 1, -1):
        if head[index] not in _TOKEN_CHARS:
            kept = head[:index + 1]
            break
    opened = open_credential(kept)
    return kept[:opened.name_start] if opened is not None else kept


class LineCutter:
    """Text in (any chunking), whole lines out, each at most ``max_chars`` plus the marker."""

    def __init__(self, max_chars: int) -> None:
        self.max_chars = max_chars
        self.cut_lines = 0
        self._pending: list[str] = []
        self._pending_len = 0
        self._dropping = False

    def feed(self, text: str) -> str:
        """The lines ``text`` completes (each ending in a newline); the rest is held."""
        out: list[str] = []
        pos = 0
        size = len(text)
        while pos < size:
            newline = text.find("\n", pos)
            end = size if newline < 0 else newline
            if self._dropping:
                if newline < 0:
                    return "".join(out)
                self._dropping = False
                out.append("\n")
                pos = newline + 1
                continue
            piece_len = end - pos
            if self._pending_len + piece_len <= self.max_chars:
                if newline < 0:
                    self._pending.append(text[pos:end])
                    self._pending_len += piece_len
                    break
                out.extend(self._pending)
                out.append(text[pos:newline + 1])
                self._pending.clear()
                self._pending_len = 0
                pos = newline + 1
                continue
            keep = self.max_chars - self._pending_len
            head = "".join(self._pending) + text[pos:pos + keep]
            out.append(_cut_head(head) + MARK.format(cap=self.max_chars))
            self.cut_lines += 1
            self._pending.clear()
            self._pending_len = 0
            self._dropping = True
            pos += keep
        return "".join(out)

    def close(self) -> str:
        """The last line, when the text did not end with a newline."""
        rest = "" if self._dropping else "".join(self._pending)
        self._pending.clear()
        self._pending_len = 0
        self._dropping = False
        return rest


class LineCappedReader(io.RawIOBase):
    """``raw``'s bytes with every line longer than ``max_bytes`` cut there and marked."""

    def __init__(self, raw: BinaryIO | io.RawIOBase | io.BufferedIOBase, max_bytes: int) -> None:
        super().__init__()
        self._raw = raw
        self.max_bytes = max_bytes
        self._mark = MARK.format(cap=max_bytes).encode()
        self._run = 0  # bytes of the current line passed on so far
        self._dropping = False
        self._out = bytearray()
        self._scratch = bytearray()
        self.cut_lines = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        with memoryview(buffer) as view:
            while not self._out:
                want = min(len(view), self.max_bytes) or 1
                if len(self._scratch) < want:
                    self._scratch = bytearray(want)
                with memoryview(self._scratch) as scratch:
                    count = self._raw.readinto(scratch[:want]) or 0  # type: ignore[union-attr]
                    if not count:
                        return 0
                    if self._passes(count):  # the usual case: one copy, no line longer than the cap
                        view[:count] = scratch[:count]
                        return count
                self._process(bytes(self._scratch[:count]))
            count = min(len(view), len(self._out))
            view[:count] = self._out[:count]
            del self._out[:count]
            return count

    def _passes(self, count: int) -> bool:
        """True (and the line run updated) when the ``count`` bytes read hold no line over the cap:
        reads are at most max_bytes long, so only the lines at their two ends can be."""
        if self._dropping:
            return False
        data = self._scratch
        last = data.rfind(b"\n", 0, count)
        if last < 0:
            if self._run + count > self.max_bytes:
                return False
            self._run += count
            return True
        if self._run + data.find(b"\n", 0, count) > self.max_bytes or count - last - 1 > self.max_bytes:
            return False
        self._run = count - last - 1
        return True

    def _process(self, chunk: bytes) -> None:
        pos = 0
        while pos < len(chunk):
            newline = chunk.find(b"\n", pos)
            end = len(chunk) if newline < 0 else newline
            if self._dropping:
                if newline < 0:
                    return
                self._dropping = False
                self._run = 0
                self._out += b"\n"
                pos = newline + 1
                continue
            if self._run + end - pos <= self.max_bytes:
                self._out += chunk[pos:end + (newline >= 0)]
                self._run = 0 if newline >= 0 else self._run + end - pos
                pos = end + 1 if newline >= 0 else end
                continue
            keep = self.max_bytes - self._run
            self._out += chunk[pos:pos + keep] + self._mark
            self.cut_lines += 1
            self._dropping = True
            pos += keep

    def __getattr__(self, name: str) -> object:  # finish() and the like of the reader it wraps
        return getattr(self._raw, name)
