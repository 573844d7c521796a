"""Per container: inspect, logs (both streams, timestamps, window, newest lines kept), stats, top.

    containers/<name>/inspect.json   docker inspect
    containers/<name>/logs.txt       docker logs -t --since <window> 2>&1, capped at --log-cap (newest kept)
    containers/<name>/stats.json     one docker stats snapshot (all containers sampled in parallel)
    containers/<name>/top.json       docker top (running containers)
"""

from __future__ import annotations

import os
import socket
import struct
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from nodediag.bundle.format import container_dir, container_log
from nodediag.collector.discovery import Target
from nodediag.collector.engine import Source, SourceContext, SourceSkipped
from nodediag.collector.plan import Plan

_READ = 1 << 20
_HEADER = struct.Struct(">BxxxL")


def _inspect(target: Target):
    def collect(ctx: SourceContext) -> None:
        try:
            attrs = ctx.plan.docker.api.inspect_container(target.id)
        except Exception as exc:  # the container went away: keep what discovery saw
            if "No such container" not in str(exc) and "404" not in str(exc):
                raise
            ctx.write_json(f"containers/{target.dir_name}/inspect.json", target.attrs)
            ctx.mark_truncated("container removed during collection; inspect taken at discovery")
            return
        ctx.write_json(f"containers/{target.dir_name}/inspect.json", attrs)

    return collect


def iter_log_payloads(response, tty: bool):
    """Yield raw log bytes from a Docker logs HTTP response, demultiplexing stdout/stderr frames
    (8-byte header: stream, 3 zero bytes, big-endian length) in large reads."""
    raw = response.raw
    if tty:
        while chunk := raw.read(_READ):
            yield chunk
        return
    buf = b""
    while True:
        chunk = raw.read(_READ)
        if not chunk:
            break
        buf = buf + chunk if buf else chunk
        view = memoryview(buf)
        pos, end, out = 0, len(buf), []
        while end - pos >= 8:
            _, size = _HEADER.unpack_from(view, pos)
            if end - pos - 8 < size:
                break
            out.append(view[pos + 8: pos + 8 + size])
            pos += 8 + size
        if out:
            yield b"".join(out)
        buf = bytes(view[pos:])
    if buf:
        yield buf  # a cut frame at the very end: keep its bytes rather than lose them


def _response_socket(response: Any) -> Any:
    """The socket under a streaming Docker API response (unix or tcp), or None."""
    try:
        sock = response.raw._fp.fp.raw
    except AttributeError:
        return None
    return getattr(sock, "_sock", sock)


def _close_stream(response: Any) -> Callable[[], None]:
    def close() -> None:
        sock = _response_socket(response)
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)  # wakes the reader blocked in recv
            except OSError:
                pass

    return close


def _stream_broke(exc: BaseException, timeout: float) -> str:
    text = f"{type(exc).__name__}: {exc}"
    if "timed out" in text.lower() or "timeout" in type(exc).__name__.lower():
        return f"the log stream stalled (no data for {timeout:g}s)"
    return f"the log stream broke ({text.splitlines()[0][:200]})"


def _logs(target: Target):
    def collect(ctx: SourceContext) -> None:
        plan: Plan = ctx.plan
        api = plan.docker.api
        params = {"stdout": 1, "stderr": 1, "timestamps": 1, "follow": 0,
                  "since": int(plan.since.timestamp()), "until": int(plan.until.timestamp()) + 1}
        url = api._url("/containers/{0}/logs", target.id)
        response = api._get(url, params=params, stream=True)
        if response.status_code == 404:
            raise SourceSkipped("container removed during collection; its logs are gone")
        api._raise_for_status(response)
        ctx.on_cancel(_close_stream(response))
        writer = ctx.log_writer(container_log(target.dir_name), plan.log_cap)
        partial: str | None = None
        try:
            try:
                for payload in iter_log_payloads(response, target.tty):
                    if ctx.cancelled.is_set():
                        break
                    writer.feed(payload)
            except Exception as exc:  # noqa: BLE001 - a broken stream keeps what was read
                if not ctx.cancelled.is_set():
                    partial = _stream_broke(exc, getattr(api, "timeout", 60))
            if ctx.cancelled.is_set():
                partial = ctx.cancel_reason or "stopped early"
            writer.finish(partial)
        except BaseException:
            writer.discard()
            raise
        finally:
            response.close()

    return collect


def _stats_all(targets: list[Target]):
    def collect(ctx: SourceContext) -> None:
        running = [t for t in targets if t.state == "running"]
        if not running:
            raise SourceSkipped("no running container to sample")

        def sample(t: Target):
            try:
                return t, ctx.plan.docker.api.stats(t.id, stream=False), None
            except Exception as exc:  # noqa: BLE001 - one container's failure must not lose the others
                return t, None, exc

        with ThreadPoolExecutor(max_workers=min(8, len(running))) as pool:
            results = list(pool.map(sample, running))
        failures = []
        for t, stats, exc in results:
            if stats is None:
                failures.append(f"{t.name}: {exc}")
                continue
            ctx.write_json(f"containers/{t.dir_name}/stats.json", stats)
        if failures and len(failures) == len(running):
            raise RuntimeError("; ".join(failures))
        if failures:
            ctx.mark_truncated("no stats for " + "; ".join(failures))

    return collect


def _top(target: Target):
    def collect(ctx: SourceContext) -> None:
        if target.state != "running":
            raise SourceSkipped(f"container is {target.state or 'not running'}")
        ctx.write_json(f"containers/{target.dir_name}/top.json", ctx.plan.docker.api.top(target.id))

    return collect


def _log_estimate(target: Target, plan: Plan) -> Callable[[], tuple[int | None, str]]:
    def estimate() -> tuple[int | None, str]:
        size = log_file_size(target)
        if size is None:
            return None, "log size unknown (json-file log not readable here)"
        return min(size, plan.log_cap), (f"json-file log {size} bytes (all of its history; the --since "
                                         f"window takes part), at most {plan.log_cap} kept")

    return estimate


def log_file_size(target: Target) -> int | None:
    """Bytes of the container's json-file log and its rotated files, or None when not readable."""
    log_path = target.attrs.get("LogPath") or ""
    if not log_path:
        return None
    base = Path(log_path)
    try:
        total = base.stat().st_size
    except OSError:
        return None
    if not os.access(base, os.R_OK):
        return None
    for n in range(1, 100):
        try:
            total += base.with_name(f"{base.name}.{n}").stat().st_size
        except OSError:
            break
    return total


FAMILIES = ("container_inspect", "container_logs", "container_stats", "container_top")


def sources(plan: Plan) -> list[Source]:
    if plan.docker is None:
        return []
    out: list[Source] = []
    for t in plan.targets:
        out.append(Source(f"container_inspect:{t.name}", _inspect(t), timeout=20,
                          writes=(f"{container_dir(t.dir_name)}/inspect.json",)))
    for t in plan.targets:
        out.append(Source(f"container_logs:{t.name}", _logs(t), timeout=240,
                          writes=(container_log(t.dir_name),), estimate=_log_estimate(t, plan)))
    out.append(Source("container_stats", _stats_all(plan.targets), timeout=30,
                      writes=tuple(f"{container_dir(t.dir_name)}/stats.json" for t in plan.targets)))
    for t in plan.targets:
        out.append(Source(f"container_top:{t.name}", _top(t), timeout=15,
                          writes=(f"{container_dir(t.dir_name)}/top.json",)))
    return out
