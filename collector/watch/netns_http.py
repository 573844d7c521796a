"""``GET /status`` inside a container's network namespace, cheaply, from a long-running watcher.

``nodediag collect`` starts a fresh interpreter per probe (sources/http_status.py); at one probe per
role every few seconds that would cost the watcher more CPU than everything else together. Here one
thread enters the container's namespace with setns(2) (root only), opens the TCP connection there,
and returns to the watcher's own namespace before doing anything else: the socket stays in the
namespace it was created in. The HTTP exchange then runs on that socket like any other.
"""

from __future__ import annotations

import ctypes
import os
import socket
import threading
import time
from typing import Any

CLONE_NEWNET = 0x40000000
_LIBC: Any = None
_LOCK = threading.Lock()


def _libc() -> Any:
    global _LIBC
    if _LIBC is None:
        _LIBC = ctypes.CDLL(None, use_errno=True)
    return _LIBC


def _connect_in(pid: int, host: str, port: int, timeout: float, out: dict[str, Any]) -> None:
    """Runs on a thread of its own: enter, connect, leave. Fills ``out["sock"]`` or ``out["error"]``."""
    libc = _libc()
    try:
        own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    except OSError as exc:
        out["error"] = f"open own namespace: {exc.strerror}"
        return
    try:
        try:
            target = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY)
        except OSError as exc:
            out["error"] = f"open /proc/{pid}/ns/net: {exc.strerror}"
            return
        try:
            if libc.setns(target, CLONE_NEWNET) != 0:
                out["error"] = "setns: " + os.strerror(ctypes.get_errno())
                return
            try:
                out["sock"] = socket.create_connection((host, port), timeout=timeout)
            except OSError as exc:
                out["error"] = f"{type(exc).__name__}: {exc.strerror or exc}"
            finally:
                if libc.setns(own, CLONE_NEWNET) != 0:  # pragma: no cover - cannot happen for our own namespace
                    out["stuck"] = True
        finally:
            os.close(target)
    finally:
        os.close(own)


def _exchange(sock: socket.socket, host: str, port: int, path: str, timeout: float) -> int | None:
    sock.settimeout(timeout)
    request = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: nodediag-watch\r\nConnection: close\r\n\r\n"
    sock.sendall(request.encode("ascii"))
    data = b""
    while b"\r\n" not in data and len(data) < 4096:
        chunk = sock.recv(1024)
        if not chunk:
            break
        data += chunk
    parts = data.split(b"\r\n", 1)[0].split()
    if len(parts) >= 2 and parts[0].startswith(b"HTTP/") and parts[1].isdigit():
        return int(parts[1])
    return None


def get_status_in(pid: int, port: int, timeout: float = 3.0, path: str = "/status") -> dict[str, Any]:
    """``{"status": code or None, "error": text, "latency_ms": float}`` for ``GET path`` on
    127.0.0.1:``port`` as seen from process ``pid``'s network namespace."""
    start = time.monotonic()
    out: dict[str, Any] = {}
    with _LOCK:  # one namespace hop at a time
        worker = threading.Thread(target=_connect_in, args=(pid, "127.0.0.1", port, timeout, out),
                                  name="watch-netns", daemon=True)
        worker.start()
        worker.join(timeout + 2)
    if out.get("stuck"):
        raise RuntimeError("a thread could not return to its own network namespace")
    sock = out.get("sock")
    result: dict[str, Any] = {"status": None, "error": out.get("error", "")}
    if sock is None and not result["error"]:
        result["error"] = "timed out joining the container's network namespace"
    if sock is not None:
        try:
            result["status"] = _exchange(sock, "127.0.0.1", port, path, timeout)
            if result["status"] is None:
                result["error"] = "no HTTP status line in the answer"
        except OSError as exc:
            result["error"] = f"{type(exc).__name__}: {exc.strerror or exc}"
        finally:
            sock.close()
    result["latency_ms"] = round((time.monotonic() - start) * 1000, 1)
    return result


def get_status_url(url_host: str, port: int, timeout: float = 3.0, path: str = "/status") -> dict[str, Any]:
    """The same exchange on a host address (a published port)."""
    start = time.monotonic()
    result: dict[str, Any] = {"status": None, "error": ""}
    try:
        with socket.create_connection((url_host, port), timeout=timeout) as sock:
            result["status"] = _exchange(sock, url_host, port, path, timeout)
            if result["status"] is None:
                result["error"] = "no HTTP status line in the answer"
    except OSError as exc:
        result["error"] = f"{type(exc).__name__}: {exc.strerror or exc}"
    result["latency_ms"] = round((time.monotonic() - start) * 1000, 1)
    return result
