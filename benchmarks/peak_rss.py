"""Run a command and report its wall time and peak memory (shared by the benchmarks).

Peak memory is the largest sum of resident memory over the command's process tree, sampled
every 20 ms, and never less than the main process's own high-water mark (VmHWM). ru_maxrss from
wait4() is not used: after fork() it starts from the parent's size, so it would report the
benchmark script's own memory.
"""

from __future__ import annotations

import os
import subprocess
import time

import psutil


def run_measured(cmd: list[str] | str, *, shell: bool = False, env: dict | None = None) -> tuple[float, int, int]:
    """Wall seconds, peak RSS in bytes, exit code."""
    start = time.monotonic()
    proc = subprocess.Popen(cmd, shell=shell, env=env or dict(os.environ), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    peak = 0
    root = psutil.Process(proc.pid)
    while proc.poll() is None:
        total = 0
        try:
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            procs = []
        for p in procs:
            try:
                total += p.memory_info().rss
                if p.pid == root.pid:
                    with open(f"/proc/{p.pid}/status") as fh:
                        for line in fh:
                            if line.startswith("VmHWM:"):
                                peak = max(peak, int(line.split()[1]) * 1024)
            except (psutil.Error, OSError, ValueError):
                continue
        peak = max(peak, total)
        time.sleep(0.02)
    proc.communicate()
    return time.monotonic() - start, peak, proc.returncode
