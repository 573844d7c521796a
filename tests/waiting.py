"""Waiting on a condition with a generous deadline, for tests that meet real time (containers, processes,
browsers): never a fixed sleep that assumes a fast machine, never a silent give-up that lets the test go
on with what was not there yet."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(check: Callable[[], T], timeout: float, what: str, interval: float = 0.2) -> T:
    """``check()``'s first truthy result, polled every ``interval`` s; AssertionError naming ``what``
    when ``timeout`` seconds pass without one (the last result in the message)."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not after {timeout:g}s (last: {found!r:.300})")
        time.sleep(interval)
