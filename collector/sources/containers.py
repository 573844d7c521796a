"""Per container: inspect, logs (both streams, timestamps, window, newest lines kept), stats, top.

    containers/<name>/inspect.json   docker inspect
    containers/<name>/logs.txt       docker logs -t --since <window> 2>&1, capped at --log-cap (newest kept)
    containers/<name>/stats.json     one docker stats snapshot (all containers sampled in parallel)
    containers/<name>/top.json       docker top (running containers)
"""

from __future__ import annotations

import struct
from concurrent.futures import ThreadPoolExecutor

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
        writer = ctx.log_writer(f"containers/{target.dir_name}/logs.txt", plan.log_cap)
        try:
            for payload in iter_log_payloads(response, target.tty):
                ctx.check()
                writer.feed(payload)
                if ctx.time_left() < 2:
                    ctx.mark_truncated("ran out of time; logs end early (raise --timeout)")
                    break
            writer.finish()
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


def sources(plan: Plan) -> list[Source]:
    if plan.docker is None:
        return []
    out: list[Source] = []
    for t in plan.targets:
        out.append(Source(f"container_inspect:{t.name}", _inspect(t), timeout=20))
    for t in plan.targets:
        out.append(Source(f"container_logs:{t.name}", _logs(t), timeout=240))
    out.append(Source("container_stats", _stats_all(plan.targets), timeout=30))
    for t in plan.targets:
        out.append(Source(f"container_top:{t.name}", _top(t), timeout=15))
    return out
