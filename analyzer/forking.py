"""Whether this process may fork a helper that shares the work of one log (parse_child.py,
inputs/redact_ahead.py): fork() exists, a second core is there to run it, and no other thread
runs (a forked child must not inherit a lock another thread holds)."""

from __future__ import annotations

import os
import threading


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def can_fork_helper() -> bool:
    return hasattr(os, "fork") and threading.active_count() == 1 and cores() >= 2
