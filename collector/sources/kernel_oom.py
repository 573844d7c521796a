"""Kernel OOM-killer records, from whichever of dmesg, the journal or kern.log is readable.

    host/kernel-oom.txt   first line: "# source: <where>"; then every OOM-related kernel line
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from collector.engine import Source, SourceContext, SourceSkipped

OOM_LINE = re.compile(
    r"Out of memory|oom-kill|oom_reaper|invoked oom-killer|Killed process|Memory cgroup out of memory", re.I
)
KERN_LOGS = ("/var/log/kern.log", "/var/log/kern.log.1", "/var/log/messages")


def _run(cmd: list[str], timeout: float) -> str | None:
    if not shutil.which(cmd[0]):
        return None
    try:
        out = subprocess.run(cmd, capture_output=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    return out.stdout.decode("utf-8", errors="replace")


def oom_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if OOM_LINE.search(line)]


def _collect(ctx: SourceContext) -> None:
    tried = []
    since = ctx.plan.since.strftime("%Y-%m-%d %H:%M:%S")
    attempts = [
        ("dmesg", ["dmesg", "-T", "--level=emerg,alert,crit,err,warn,notice,info"]),
        ("journal", ["journalctl", "-k", "--no-pager", "-o", "short-iso", "--since", since]),
    ]
    for where, cmd in attempts:
        text = _run(cmd, timeout=max(1.0, min(20.0, ctx.time_left() - 1)))
        if text is None:
            tried.append(f"{where}: not readable")
            continue
        lines = oom_lines(text)
        ctx.write_text("host/kernel-oom.txt", f"# source: {where}\n" + "".join(line + "\n" for line in lines))
        return
    for path in KERN_LOGS:
        p = Path(path)
        try:
            with p.open("r", errors="replace") as fh:
                lines = [line.rstrip("\n") for line in fh if OOM_LINE.search(line)]
        except OSError as exc:
            tried.append(f"{path}: {exc.strerror or exc}")
            continue
        ctx.write_text("host/kernel-oom.txt", f"# source: {path}\n" + "".join(line + "\n" for line in lines))
        return
    raise SourceSkipped("no kernel log readable (" + "; ".join(tried) + "); run as root to include OOM records")


def sources(plan) -> list[Source]:
    return [Source("kernel_oom", _collect, timeout=30)]
