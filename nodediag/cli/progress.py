"""One updating progress line on a terminal: what a long command is doing, bytes done, rate.

Used by `nodediag analyze` for inputs over ``PROGRESS_MIN_BYTES``: the line is rewritten in place
on stderr (carriage return, erase to the end of the line) at most every ``INTERVAL_S`` seconds,
and erased when the command is done, so that what the command prints afterwards stands alone.
Nothing is written when stderr is not a terminal (a pipe, a file, CI).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

PROGRESS_MIN_BYTES = 50 * 2**20  # a smaller input is done before a progress line would help
INTERVAL_S = 0.2
MB = 2**20


class ProgressLine:
    """``line(what, done, total)``: show that the command is doing ``what``, ``done`` of
    ``total`` bytes (both -1 when it is not counted in bytes). Shown only once the input is known
    to hold ``min_bytes`` or more (``total``, or ``size`` given up front)."""

    def __init__(self, stream: TextIO, *, min_bytes: int = PROGRESS_MIN_BYTES, size: int = 0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.stream = stream
        self.min_bytes = min_bytes
        self.size = size
        self.clock = clock
        self.shown = False  # a line is on the terminal
        self.last = -INTERVAL_S  # when it was written
        self.started: float | None = None  # when the byte count began
        self.what = ""

    @classmethod
    def for_terminal(cls, stream: TextIO | None = None, *, size: int = 0) -> ProgressLine | None:
        """A progress line on ``stream`` (stderr) when it is a terminal, else None."""
        stream = stream or sys.stderr
        try:
            tty = stream.isatty()
        except (AttributeError, ValueError):  # closed, or no file behind it
            tty = False
        return cls(stream, size=size) if tty else None

    def __call__(self, what: str, done: int, total: int) -> None:
        now = self.clock()
        if done >= 0 and self.started is None:
            self.started = now
        self.size = max(self.size, total)
        if self.size < self.min_bytes:
            return
        final = 0 <= total <= done
        if what == self.what and not final and now - self.last < INTERVAL_S:
            return
        self.what = what
        self.last = now
        if done < 0:
            text = f"nodediag: {what}..."
        else:
            elapsed = now - (self.started if self.started is not None else now)
            rate = f", {done / MB / elapsed:.0f} MB/s" if elapsed > 0 else ""
            share = f" ({100 * done // total}%)" if total > 0 else ""
            text = f"nodediag: {what}: {done / MB:.0f} of {total / MB:.0f} MB{share}{rate}"
        self.stream.write("\r" + text + "\x1b[K")
        self.stream.flush()
        self.shown = True

    def close(self) -> None:
        """Erase the line (when one was shown)."""
        if self.shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self.shown = False


__all__ = ["PROGRESS_MIN_BYTES", "ProgressLine"]
