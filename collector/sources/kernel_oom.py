"""Kernel OOM-killer records in the window, from whichever of dmesg, the journal or kern.log is
readable.

    host/kernel-oom.txt   first line: "# source: <where>"; then every OOM-related kernel line, ISO
                          timestamps where the source gives them (dmesg, journal)

A line from a memory cgroup (``CONSTRAINT_MEMCG``, ``Memory cgroup out of memory``) names the
container's cgroup: the analyzer tells a container's own limit from the whole host running out.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import datetime
from pathlib import Path

from nodediag.collector.engine import Source, SourceContext

OOM_LINE = re.compile(
    r"Out of memory|oom-kill|oom_reaper|invoked oom-killer|Killed process|Memory cgroup out of memory", re.I
)
OUTPUT = "host/kernel-oom.txt"
KERN_LOGS = ("/var/log/kern.log", "/var/log/kern.log.1", "/var/log/messages")


_DENIED = ("operation not permitted", "permission denied", "insufficient permissions",
           "not seeing messages from other users")


def _run(cmd: list[str], timeout: float) -> tuple[str | None, str]:
    """(stdout, "") when the command read the kernel log, else (None, why not)."""
    if not shutil.which(cmd[0]):
        return None, "not installed"
    try:
        out = subprocess.run(cmd, capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return None, f"no answer within {timeout:.0f}s"
    except OSError as exc:
        return None, exc.strerror or str(exc)
    err = out.stderr.decode("utf-8", errors="replace").strip()
    if any(word in err.lower() for word in _DENIED):  # journalctl exits 0 with nothing it may show
        return None, "permission denied (" + err.splitlines()[0][:160] + ")"
    if out.returncode != 0 or (not out.stdout.strip() and "no journal files" in err.lower()):
        return None, (err.splitlines()[0][:160] if err else f"exit status {out.returncode}")
    return out.stdout.decode("utf-8", errors="replace"), ""


_ISO_PREFIX = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})[,.]?\d*([+-]\d{2}:?\d{2}|Z)?")


def oom_lines(text: str, since: datetime | None = None) -> list[str]:
    """The OOM-related lines, dropping those with an ISO time before ``since``."""
    out = []
    for line in text.splitlines():
        if not OOM_LINE.search(line):
            continue
        m = _ISO_PREFIX.match(line)
        if since is not None and m:
            try:
                stamp = datetime.fromisoformat(m.group(1) + (m.group(2) or "+00:00").replace("Z", "+00:00"))
            except ValueError:
                stamp = None
            if stamp is not None and stamp < since:
                continue
        out.append(line)
    return out


def _collect(ctx: SourceContext) -> None:
    tried = []
    since = ctx.plan.since.strftime("%Y-%m-%d %H:%M:%S")
    attempts = [
        ("dmesg", ["dmesg", "--time-format=iso"]),
        ("journal", ["journalctl", "-k", "--no-pager", "-o", "short-iso", "--since", since]),
    ]
    for where, cmd in attempts:
        ctx.check()
        text, why = _run(cmd, timeout=max(1.0, min(20.0, ctx.time_left() - 1)))
        if text is None:
            tried.append(f"{where}: {why}")
            continue
        lines = oom_lines(text, ctx.plan.since)
        ctx.write_text(OUTPUT, f"# source: {where}\n" + "".join(line + "\n" for line in lines))
        return
    for path in KERN_LOGS:
        p = Path(path)
        try:
            with p.open("r", errors="replace") as fh:
                lines = [line.rstrip("\n") for line in fh if OOM_LINE.search(line)]
        except FileNotFoundError:
            tried.append(f"{path}: does not exist")
            continue
        except OSError as exc:
            tried.append(f"{path}: {(exc.strerror or str(exc)).lower()}")
            continue
        ctx.write_text(OUTPUT, f"# source: {path}\n" + "".join(line + "\n" for line in lines))
        return
    denied = any("permission" in t or "not permitted" in t for t in tried)
    hint = "run as root (the kernel log is restricted)" if denied else "no kernel log is available on this host"
    # the OOM-killer records could not be read: a data gap, not an empty success
    raise RuntimeError("could not read the kernel log (" + "; ".join(tried) + f"); {hint}")


FAMILIES = ("kernel_oom",)


def sources(plan) -> list[Source]:
    return [Source("kernel_oom", _collect, timeout=30, writes=(OUTPUT,))]
