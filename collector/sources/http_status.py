"""One read-only ``GET`` of a status URL, optionally from inside another network namespace.

Used by :mod:`nodediag.collector.sources.probes`. Joining a namespace (setns(2), root only) changes the
calling thread, so it is done in a fresh interpreter, never in a fork of the threaded collector:

    python -m nodediag.collector.sources.http_status PID URL TIMEOUT   # prints one JSON object
"""

from __future__ import annotations

import ctypes
import json
import os
import sys
import time
import urllib.error
import urllib.request

CLONE_NEWNET = 0x40000000

# no proxy: a status probe of 127.0.0.1 must never leave the host through http_proxy
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def get_status(url: str, timeout: float) -> dict:
    """``{"status": HTTP code or None, "error": text, "latency_ms": float}``."""
    start = time.monotonic()
    try:
        with _OPENER.open(url, timeout=timeout) as response:
            out = {"status": response.status, "error": ""}
    except urllib.error.HTTPError as exc:
        out = {"status": exc.code, "error": ""}
    except Exception as exc:  # noqa: BLE001 - any failure to connect is the probe's result
        out = {"status": None, "error": f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}"}
    out["latency_ms"] = round((time.monotonic() - start) * 1000, 1)
    return out


def join_netns(pid: str) -> str | None:
    """Enter the network namespace of process ``pid``; the error text, or None."""
    libc = ctypes.CDLL(None, use_errno=True)
    try:
        fd = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY)
    except OSError as exc:
        return f"open /proc/{pid}/ns/net: {exc.strerror}"
    if libc.setns(fd, CLONE_NEWNET) != 0:
        return "setns: " + os.strerror(ctypes.get_errno())
    return None


def main(argv: list[str]) -> int:
    pid, url, timeout = argv[0], argv[1], float(argv[2])
    error = join_netns(pid)
    result = {"status": None, "error": error, "latency_ms": None} if error else get_status(url, timeout)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
