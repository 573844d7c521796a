"""SIGTERM and SIGINT end a command through its normal cleanup path.

Python turns SIGINT into KeyboardInterrupt but dies on SIGTERM without running ``finally`` blocks
or context managers, which would leave partial outputs, spools and private temp folders (holding
unredacted data) behind. ``cleanup_on_signals`` makes SIGTERM raise SystemExit(143) instead, so
every ``with``/``finally``/``except BaseException`` cleanup runs; once a signal has been taken, a
second one is ignored until the command ends, so the cleanup itself is not cut short.
"""

from __future__ import annotations

import signal
import sys
from types import FrameType


class Terminated(SystemExit):
    """Raised in the main thread when SIGTERM (or a second SIGINT) arrives."""


def _on_signal(signum: int, frame: FrameType | None) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.stderr.write(f"nodediag: stopped by {signal.Signals(signum).name}; cleaning up\n")
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise Terminated(128 + signum)


def cleanup_on_signals() -> None:
    """Install the handlers (main thread only; a no-op elsewhere)."""
    try:
        signal.signal(signal.SIGTERM, _on_signal)
        signal.signal(signal.SIGINT, _on_signal)
    except ValueError:  # not the main thread
        pass
