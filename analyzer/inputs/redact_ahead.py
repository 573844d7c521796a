"""A raw log redacted by a child process while the analysis reads what it has written so far.

A single log file (not from a bundle) is redacted into a private copy before anything reads it
(``manual_guide.redact_raw_log``): a whole pass over the log before the scan. On a machine with
two cores or more, ``RedactAhead`` runs that pass in a forked child and the scan reads the copy as
it grows (``open()``: a reader that waits for more bytes until the child has ended), so that the
two passes overlap. The copy, the redaction counts and every error are those of the pass made in
this process: the child runs the same function; its counts (or its error) come back through a
file once it has ended (``finish``).
"""

from __future__ import annotations

import io
import os
import pickle
import select
import signal
import time
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from nodediag.analyzer import forking
from nodediag.analyzer.inputs.manual_guide import raw_input_note, redact_raw_log
from nodediag.analyzer.model import LoadedInput
from nodediag.bundle.safe_archive import ArchiveError, CapExceeded
from nodediag.redaction import RedactionCounts
from nodediag.redaction.literals import Literal as Secret

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

AHEAD_MIN_BYTES = 16 * 2**20  # a smaller log is redacted first: a child costs more than it saves
POLL_S = 0.002  # how often a reader that caught up with the child looks again
# what the child reports: its counts, or the error redact_raw_log raised
# ("late": the copy was rewritten at its end, a secret learnt after lines that hold it, which whoever
# read it as it grew read as they were)
Outcome = tuple[Literal["counts", "late"], RedactionCounts] | tuple[Literal["cap", "os", "error"], str]


class ReadTooEarly(Exception):
    """A log redacted ahead was rewritten at its end (a secret learnt late): what was read of it
    while it grew may hold that secret. The analysis starts again from the finished copy."""


def usable(size: int) -> bool:
    """Whether a log of ``size`` bytes is best redacted ahead: a log this large, a second core,
    fork(), and no other thread in this process (a forked child must not inherit a held lock)."""
    return size >= AHEAD_MIN_BYTES and forking.can_fork_helper()


class RedactAhead:
    """``redact_raw_log(source, target, max_bytes=max_bytes)`` in a forked child. ``size``: the
    source's size when it was opened (what the progress line counts)."""

    def __init__(self, source: Path, target: Path, max_bytes: int, size: int) -> None:
        self.target = target
        self.size = size
        self._result = target.with_name(target.name + ".outcome")
        self._outcome: Outcome | None = None
        #: the secrets the child learnt (every form), once finish() has returned its counts
        self.learnt: list[Secret] = []
        self._ended = False
        self._reaped = False
        self._owner = os.getpid()  # the process that may reap the child (not a later fork of it)
        self.rewritten = False  # (known once finished: the copy was rewritten at its end)
        # the child alone holds the write end: its end (however it ends) is EOF at the read end,
        # which any process forked from this one can see (a parse child reading the copy)
        self._alive, alive = os.pipe()
        self.pid = os.fork()
        if self.pid:
            os.close(alive)
        else:  # the child: redact, leave the outcome, end without running the parent's cleanup
            outcome: Outcome
            learnt: list[Secret] = []
            try:
                os.close(self._alive)
                signal.signal(signal.SIGINT, signal.SIG_DFL)  # (the parent stops it)
                fixed: list[bool] = []
                counts = redact_raw_log(source, target, max_bytes=max_bytes, late_fixed=fixed, learnt=learnt)
                outcome = ("late", counts) if any(fixed) else ("counts", counts)
            except CapExceeded as exc:
                outcome = ("cap", str(exc))
            except OSError as exc:
                outcome = ("os", exc.strerror or str(exc))
            except BaseException as exc:  # noqa: BLE001 - reported by the parent
                outcome = ("error", f"{type(exc).__name__}: {exc}")
            try:
                self._result.write_bytes(pickle.dumps((outcome, learnt)))  # (a private 0700 folder)
            finally:
                os._exit(0)

    def ended(self) -> bool:
        """Whether the child has ended (its outcome is written then)."""
        if not self._ended and select.select([self._alive], [], [], 0)[0]:
            self._ended = True  # (nothing is ever written: readable means EOF)
        return self._ended

    def _reap(self) -> None:
        if not self._reaped and os.getpid() == self._owner:
            os.waitpid(self.pid, 0)
            self._reaped = True
            os.close(self._alive)

    def wait_for(self, count: int) -> None:
        """Return once the copy holds ``count`` bytes or more, or the child has ended."""
        while not self.ended():
            try:
                if self.target.stat().st_size >= count:
                    return
            except FileNotFoundError:  # (not made yet)
                pass
            time.sleep(POLL_S)

    def finish(self) -> RedactionCounts:
        """Wait for the child; the redaction counts, or the error redact_raw_log raised (an
        OSError as the ArchiveError open_input would have made of it)."""
        if self._outcome is None:
            while not self.ended():
                select.select([self._alive], [], [])
            self._reap()
            self._outcome = self._read_outcome()
        kind, value = self._outcome
        if kind in ("counts", "late"):
            assert isinstance(value, RedactionCounts)
            self.rewritten = kind == "late"
            return value
        if kind == "cap":
            raise CapExceeded(str(value))
        if kind == "os":
            raise ArchiveError(f"cannot be read ({value})")
        raise ArchiveError(f"could not be redacted ({value})")

    def _read_outcome(self) -> Outcome:
        try:
            outcome: Outcome
            outcome, self.learnt = pickle.loads(self._result.read_bytes())  # (removed with the private folder)
        except (OSError, pickle.UnpicklingError, EOFError, TypeError, ValueError):
            return ("error", "the redacting process ended without a word")
        return outcome

    def stop(self) -> None:
        """End the child if it still runs (the analysis stopped early), and reap it."""
        if os.getpid() != self._owner:
            return
        if not self.ended():
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self._ended = True
        self._reap()

    def open(self) -> FollowingReader:
        self.wait_for(1)
        return FollowingReader(self)


class FollowingReader(io.RawIOBase):
    """The copy's bytes as the child writes them: a read that finds no new byte waits until it
    does, or until the child has ended and every byte was read (then the child's error, if any,
    is raised)."""

    def __init__(self, ahead: RedactAhead) -> None:
        super().__init__()
        self.ahead = ahead
        try:
            self._file: io.FileIO | None = io.FileIO(ahead.target, "r")
        except FileNotFoundError:  # the child ended before making it: its error says why
            self._file = None
            ahead.finish()
            raise

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer, /) -> int:
        assert self._file is not None
        while True:
            count = self._file.readinto(buffer)
            if count:
                return count
            if self.ahead.ended():
                count = self._file.readinto(buffer)  # what it wrote before it ended
                if count:
                    return count
                self.ahead.finish()  # raises the child's error, if any
                return 0
            time.sleep(POLL_S)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
        super().close()


def finish_growing(inp: LoadedInput) -> None:
    """Wait for the children still redacting ``inp``'s files; the note on what they redacted goes
    first in its warnings, as when the log was redacted before it was read. Raises the ArchiveError
    (or CapExceeded) the redaction met, and ReadTooEarly when a copy was rewritten at its end."""
    for name, ahead in list(inp.growing.items()):
        counts = ahead.finish()
        if ahead.rewritten:
            raise ReadTooEarly(name)
        inp.warnings.insert(0, raw_input_note(counts))
        inp.learnt = [*(inp.learnt or ()), *ahead.learnt]
        del inp.growing[name]


def stop_growing(inp: LoadedInput) -> None:
    """End the children still redacting ``inp``'s files (the analysis ended early)."""
    for ahead in inp.growing.values():
        ahead.stop()
