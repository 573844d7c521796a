"""One sample of the deployment and the host, cheaply.

Per tick: the container list (one call), and for each watched container an inspect (state, restart
count, OOMKilled, pid) and a one-shot stats call (memory use and limit; CPU from the difference to
the previous tick); the host's available memory, swap and load through psutil; the usage of the
filesystems that matter (Docker's data root and every writable mount of the watched containers,
tmpfs included, seen through /proc/<pid>/root); ``GET /status`` on the node and the broker; and the
log lines each container wrote since the previous tick (handed to the rule matcher, never stored).

Docker going away is not an error here: the host part of the sample goes on, and the Docker part
is retried with back-off (``DockerLink``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import psutil

from nodediag.collector import discovery
from nodediag.collector.sources.probes import published_port, status_port
from nodediag.collector.watch.netns_http import get_status_in, get_status_url
from nodediag.collector.watch.store import Sample

STATUS_ROLES = ("prover-node", "prover-broker")  # agents serve no HTTP in most releases
MAX_LOG_BYTES_PER_TICK = 2 * 1024 * 1024  # per container: a flood is read in part, never all
BACKOFF_S = (1.0, 2.0, 5.0, 10.0, 30.0)
REDISCOVER_TICKS = 30  # the containers are chosen again at least this often, even when none came or went


@dataclass
class Watched:
    """A container being watched, with what the sampler remembers between ticks."""

    name: str
    id: str
    role: str
    service: str
    project: str
    restart_count: int | None = None
    cpu: tuple[int, int] | None = None  # (container total usage, system usage) of the previous tick
    log_since: tuple[int, int] | None = None  # (seconds, nanoseconds) of the newest line read
    mounts: list[str] = field(default_factory=list)  # writable mount destinations inside the container
    pid: int = 0  # its main process on the host while it runs, else 0


@dataclass
class Tick:
    """What one sample found, beyond the rows stored."""

    samples: list[Sample]
    restarted: list[tuple[Watched, int, int]] = field(default_factory=list)  # (container, before, now)
    new_lines: dict[str, list[str]] = field(default_factory=dict)  # container -> lines since last tick
    docker_ok: bool = True
    docker_error: str = ""


class DockerLink:
    """The Docker client, or the reason there is none, with a back-off between reconnections."""

    def __init__(self, connect: Callable[[], Any]) -> None:
        self._connect = connect
        self.client: Any = None
        self.error = ""
        self._failures = 0
        self._next_try = 0.0
        self.lost_at: float | None = None

    def get(self) -> Any:
        """The client when Docker answers (pinging only after a failure), else None."""
        if self.client is not None:
            return self.client
        now = time.monotonic()
        if now < self._next_try:
            return None
        try:
            client = self._connect()
            client.ping()
        except Exception as exc:  # noqa: BLE001 - any failure means "not reachable yet"
            self.failed(exc)
            return None
        self.client, self.error, self._failures = client, "", 0
        return client

    def failed(self, exc: BaseException) -> None:
        if self.client is not None:
            try:
                self.client.close()
            except Exception:  # noqa: BLE001 - closing a dead client
                pass
        self.client = None
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        self.error = text[:300]
        if self.lost_at is None:
            self.lost_at = time.time()
        self._next_try = time.monotonic() + BACKOFF_S[min(self._failures, len(BACKOFF_S) - 1)]
        self._failures += 1


def parse_docker_ts(text: str) -> tuple[int, int] | None:
    """``2026-01-02T03:04:05.123456789Z`` -> (Unix seconds, nanoseconds); None when not a timestamp."""
    if len(text) < 20 or text[4] != "-" or text[10] != "T" or not text.endswith("Z"):
        return None
    head, _, frac = text[:-1].partition(".")
    try:
        seconds = int(datetime.strptime(head, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc).timestamp())
        nanos = int((frac or "0")[:9].ljust(9, "0"))
    except ValueError:
        return None
    return seconds, nanos


def memory_used(stats: dict[str, Any]) -> int | None:
    """Memory in use as `docker stats` shows it: usage minus the page cache that can be dropped."""
    mem = stats.get("memory_stats") or {}
    usage = mem.get("usage")
    if not isinstance(usage, int):
        return None
    detail = mem.get("stats") or {}
    cache = detail.get("inactive_file", detail.get("total_inactive_file", 0))
    return max(0, usage - cache) if isinstance(cache, int) and cache < usage else usage


def cpu_percent(stats: dict[str, Any], before: tuple[int, int] | None) -> tuple[float | None, tuple[int, int] | None]:
    cpu = stats.get("cpu_stats") or {}
    total = (cpu.get("cpu_usage") or {}).get("total_usage")
    system = cpu.get("system_cpu_usage")
    if not isinstance(total, int) or not isinstance(system, int):
        return None, None
    now = (total, system)
    if before is None or system <= before[1] or total < before[0]:
        return None, now
    cpus = cpu.get("online_cpus") or len((cpu.get("cpu_usage") or {}).get("percpu_usage") or []) or 1
    return round((total - before[0]) / (system - before[1]) * cpus * 100.0, 2), now


def writable_mounts(attrs: dict[str, Any]) -> list[str]:
    """Destinations of the container's writable mounts (binds, volumes, tmpfs)."""
    found = []
    for mount in attrs.get("Mounts") or []:
        if mount.get("RW", True) and mount.get("Destination"):
            found.append(str(mount["Destination"]))
    for dest, opts in ((attrs.get("HostConfig") or {}).get("Tmpfs") or {}).items():
        if "ro" not in str(opts).split(","):
            found.append(str(dest))
    return sorted(set(found))


class Sampler:
    """Takes samples of the chosen containers and the host; keeps what a tick needs from the last."""

    def __init__(self, link: DockerLink, *, projects: tuple[str, ...] = (), containers: tuple[str, ...] = (),
                 status_timeout: float = 3.0, read_logs: bool = True) -> None:
        self.link = link
        self.projects = projects
        self.containers = containers
        self.status_timeout = status_timeout
        self.read_logs = read_logs
        self.watched: dict[str, Watched] = {}  # by name
        self.chosen_how = ""
        self.docker_root = ""
        self._known_ids: frozenset[str] = frozenset()
        self._ticks_since_discovery = 0
        self.choice_error = ""
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="watch-sample")

    # -- choosing the containers -------------------------------------------------------------
    def _rediscover(self, client: Any, summaries: list[dict[str, Any]]) -> None:
        ids = frozenset(s["Id"] for s in summaries)
        self._ticks_since_discovery += 1
        if ids == self._known_ids and self.watched and self._ticks_since_discovery < REDISCOVER_TICKS:
            return
        self._ticks_since_discovery = 0
        complete = True
        attrs = []
        for s in summaries:
            try:
                attrs.append(client.api.inspect_container(s["Id"]))
            except Exception:  # noqa: BLE001 - removed between list and inspect, or still being created
                complete = False
        # a container that could not be inspected (compose still creating it) is looked at again next tick
        self._known_ids = ids if complete else frozenset()
        try:
            targets, self.chosen_how = discovery.choose_targets(attrs, projects=self.projects,
                                                                containers=self.containers)
            self.choice_error = ""
        except discovery.DiscoveryError as exc:  # e.g. the project is not up yet: keep trying
            targets, self.choice_error = [], str(exc)
        kept: dict[str, Watched] = {}
        for t in targets:
            before = self.watched.get(t.name)
            w = Watched(t.name, t.id, t.role, t.service, t.project)
            if before is not None and before.id == t.id:
                w.restart_count, w.cpu, w.log_since = before.restart_count, before.cpu, before.log_since
            elif before is not None:  # re-created (compose up): its restarts count anew
                w.log_since = before.log_since
            w.mounts = writable_mounts(t.attrs)
            kept[t.name] = w
        self.watched = kept
        if not self.docker_root:
            try:
                self.docker_root = str(client.api.info().get("DockerRootDir", ""))
            except Exception:  # noqa: BLE001 - only labels a filesystem
                self.docker_root = ""

    def target_names(self) -> set[str]:
        return set(self.watched)

    # -- one tick ----------------------------------------------------------------------------
    def sample(self, now: float | None = None) -> Tick:
        now = time.time() if now is None else now
        tick = Tick(samples=self._host(now))
        client = self.link.get()
        if client is None:
            tick.docker_ok, tick.docker_error = False, self.link.error
        else:
            try:
                self._docker(client, now, tick)
            except Exception as exc:  # noqa: BLE001 - Docker went away mid-tick
                self.link.failed(exc)
                tick.docker_ok, tick.docker_error = False, self.link.error
        tick.samples.extend(self._filesystems(now, client is not None and tick.docker_ok))
        return tick

    def _host(self, now: float) -> list[Sample]:
        vm, sw = psutil.virtual_memory(), psutil.swap_memory()
        load = os.getloadavg()
        return [Sample(now, "host", "", {
            "mem_total": vm.total, "mem_available": vm.available, "swap_total": sw.total, "swap_used": sw.used,
            "load1": round(load[0], 2), "load5": round(load[1], 2), "load15": round(load[2], 2),
        })]

    def _docker(self, client: Any, now: float, tick: Tick) -> None:
        summaries = client.api.containers(all=True)
        self._rediscover(client, summaries)
        watched = list(self.watched.values())
        # the engine takes up to a second to answer a stats call: the containers in parallel
        for found in self._pool.map(lambda w: self._one(client, w, now), watched):
            if found is None:
                continue
            samples, restarted, lines = found
            tick.samples.extend(samples)
            if restarted is not None:
                tick.restarted.append(restarted)
            if lines:
                tick.new_lines[samples[-1].name] = lines

    def _one(self, client: Any, w: Watched, now: float
             ) -> tuple[list[Sample], tuple[Watched, int, int] | None, list[str]] | None:
        try:
            attrs = client.api.inspect_container(w.id)
        except Exception as exc:
            if _is_not_found(exc):  # removed since the list: re-discovered next tick
                self._known_ids = frozenset()
                return None
            raise
        samples: list[Sample] = []
        restarted = None
        lines: list[str] = []
        state = attrs.get("State") or {}
        restarts = int(attrs.get("RestartCount") or 0)
        if w.restart_count is not None and restarts > w.restart_count:
            restarted = (w, w.restart_count, restarts)
        w.restart_count = restarts
        running = state.get("Status") == "running"
        w.pid = int(state.get("Pid") or 0) if running else 0
        row: dict[str, Any] = {"role": w.role, "state": state.get("Status", ""), "restart_count": restarts,
                               "exit_code": state.get("ExitCode"), "oom_killed": bool(state.get("OOMKilled")),
                               "mem_used": None, "mem_limit": None, "cpu_percent": None}
        if running:
            stats = client.api.stats(w.id, stream=False, one_shot=True)
            row["mem_used"] = memory_used(stats)
            limit = (stats.get("memory_stats") or {}).get("limit")
            host_limit = (attrs.get("HostConfig") or {}).get("Memory") or 0
            row["mem_limit"] = host_limit or limit
            row["mem_limited"] = bool(host_limit)
            row["cpu_percent"], w.cpu = cpu_percent(stats, w.cpu)
            if self.read_logs:
                lines = self._new_lines(client, w, now)
            if w.role in STATUS_ROLES:
                samples.append(Sample(now, "status", w.name, {"role": w.role, **self._status(attrs)}))
        else:
            w.cpu = None
        samples.append(Sample(now, "container", w.name, row))
        return samples, restarted, lines

    def _status(self, attrs: dict[str, Any]) -> dict[str, Any]:
        target = discovery.to_target(attrs)
        port = status_port(target)
        host_port = published_port(target, port)
        if host_port:
            return {"via": "host", "url": f"http://127.0.0.1:{host_port}/status",
                    **get_status_url("127.0.0.1", host_port, self.status_timeout)}
        pid = int((attrs.get("State") or {}).get("Pid") or 0)
        if os.geteuid() == 0 and pid:
            return {"via": "netns", "url": f"http://127.0.0.1:{port}/status",
                    **get_status_in(pid, port, self.status_timeout)}
        return {"via": "skipped", "url": "", "status": None, "latency_ms": None,
                "error": f"port {port} is not published and joining the container's network needs root"}

    def _new_lines(self, client: Any, w: Watched, now: float) -> list[str]:
        if w.log_since is None:  # the first tick starts from now: history is the collection's job
            w.log_since = (int(now), 0)
            return []
        stream = client.api.logs(w.id, stdout=True, stderr=True, timestamps=True, stream=True, follow=False,
                                 since=w.log_since[0])
        lines: list[str] = []
        got = 0
        pending = b""
        newest = w.log_since
        try:
            for chunk in stream:
                pending += chunk
                *complete, pending = pending.split(b"\n")
                for raw in complete:
                    text = raw.decode("utf-8", errors="replace")
                    when = parse_docker_ts(text.split(" ", 1)[0])
                    if when is not None and when <= w.log_since:
                        continue  # read at the previous tick
                    if when is not None and when > newest:
                        newest = when
                    lines.append(text)
                got += len(chunk)
                if got > MAX_LOG_BYTES_PER_TICK:
                    break
        finally:
            close = getattr(stream, "close", None)
            if close is not None:
                close()
        w.log_since = newest
        return lines

    def _filesystems(self, now: float, docker_ok: bool) -> list[Sample]:
        rows: list[Sample] = []
        seen: set[tuple[int, int]] = set()

        def add(name: str, path: str, role: str, container: str = "") -> None:
            try:
                st = os.statvfs(path)
                dev = os.stat(path).st_dev
            except OSError:
                return
            total = st.f_blocks * st.f_frsize
            if total <= 0:
                return
            key = (dev, total)
            if key in seen:
                return
            seen.add(key)
            free = st.f_bavail * st.f_frsize
            used = (st.f_blocks - st.f_bfree) * st.f_frsize
            percent = round(used / (used + free) * 100.0, 1) if used + free else 0.0
            rows.append(Sample(now, "fs", name, {"role": role, "container": container, "path": path,
                                                 "total": total, "used": used, "free": free, "percent": percent}))

        if self.docker_root:
            add(self.docker_root, self.docker_root, "docker-data-root")
        if docker_ok:
            for w in self.watched.values():
                if not w.pid:
                    continue
                for dest in w.mounts:
                    add(f"{w.name}:{dest}", f"/proc/{w.pid}/root{dest}", "deployment-data", w.name)
        return rows


def _is_not_found(exc: BaseException) -> bool:
    return type(exc).__name__ == "NotFound" or getattr(getattr(exc, "response", None), "status_code", 0) == 404
