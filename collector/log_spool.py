"""Keeps the NEWEST ``cap`` bytes of a log stream on disk, in whole lines, in bounded space.

Docker returns logs oldest first, and the size is unknown until the end. The spool writes into
segment files of ``cap / 4`` bytes and drops the oldest segment once the newer full ones already
hold ``cap``; at the end it skips the head of the oldest kept segment so that exactly the newest
whole lines within ``cap`` remain. Disk use stays under ``cap`` plus two segments; memory holds
one block.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import BinaryIO

SEGMENTS_PER_CAP = 4


class LogSpool:
    def __init__(self, directory: Path, cap: int) -> None:
        if cap <= 0:
            raise ValueError("cap must be positive")
        self.cap = cap
        self._dir = directory
        self._segment_size = max(cap // SEGMENTS_PER_CAP, 1)
        self._segments: list[tuple[Path, int]] = []  # (path, size)
        self._fh: BinaryIO | None = None
        self.bytes_seen = 0
        self.bytes_dropped = 0

    def _open_segment(self) -> None:
        fd, name = tempfile.mkstemp(dir=self._dir, prefix="log-")
        self._fh = os.fdopen(fd, "wb")
        self._segments.append((Path(name), 0))

    def write(self, data: bytes) -> None:
        """Append complete lines (``data`` should end in a newline)."""
        if not data:
            return
        if self._fh is None or self._segments[-1][1] >= self._segment_size:
            if self._fh is not None:
                self._fh.close()
            self._open_segment()
            self._drop_old()
        assert self._fh is not None
        self._fh.write(data)
        path, size = self._segments[-1]
        self._segments[-1] = (path, size + len(data))
        self.bytes_seen += len(data)

    def _drop_old(self) -> None:
        # drop the oldest segment while the full segments after it (not the one being filled)
        # already hold at least ``cap`` bytes: it can no longer contribute to the newest ``cap``
        while len(self._segments) > 2 and sum(s for _, s in self._segments[1:-1]) >= self.cap:
            path, size = self._segments.pop(0)
            path.unlink(missing_ok=True)
            self.bytes_dropped += size

    @property
    def truncated(self) -> bool:
        return self.bytes_seen > self.cap

    def finish(self) -> list[tuple[Path, int]]:
        """Close and return ``(file, start offset)`` parts holding the newest whole lines <= cap."""
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        excess = sum(s for _, s in self._segments) - self.cap
        parts: list[tuple[Path, int]] = []
        for path, size in self._segments:
            if excess >= size:
                path.unlink(missing_ok=True)
                excess -= size
                self.bytes_dropped += size
                continue
            start = 0
            if excess > 0:
                start = _next_line_start(path, excess)
                self.bytes_dropped += start
                excess = 0
            if start < size:
                parts.append((path, start))
            else:
                path.unlink(missing_ok=True)
        self._segments = []
        return parts

    def discard(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        for path, _ in self._segments:
            path.unlink(missing_ok=True)
        self._segments = []


def _next_line_start(path: Path, offset: int) -> int:
    """The offset of the first line that starts at or after ``offset`` (the file size if none)."""
    with open(path, "rb") as fh:
        fh.seek(offset - 1)
        if fh.read(1) == b"\n":
            return offset
        while True:
            chunk = fh.read(1 << 16)
            if not chunk:
                return fh.tell()
            nl = chunk.find(b"\n")
            if nl >= 0:
                return fh.tell() - len(chunk) + nl + 1
