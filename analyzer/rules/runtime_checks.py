"""Logic rules on what happened to the containers and the host: OOM kills, exit codes,
restart loops, full disks, hardware below the official minimums, failing /status probes."""

from __future__ import annotations

import re
from collections.abc import Callable

from nodediag.analyzer.model import ContainerInfo, Event, Evidence, Finding
from nodediag.analyzer.rules.catalog import Rule
from nodediag.analyzer.rules.evidence import fact_evidence, inspect_path, locate, make_finding
from nodediag.analyzer.rules.fact_checks import CheckContext, aztec_containers

GIB = 1024**3
PSEUDO_FILESYSTEMS = {"tmpfs", "devtmpfs", "squashfs", "overlay", "iso9660", "proc", "sysfs", "nsfs", "ramfs"}


def _event_evidence(event: Event) -> Evidence:
    attrs = " ".join(f"{k}={v}" for k, v in sorted(event.attributes.items()) if k in ("exitCode", "signal"))
    return Evidence(event.file, event.line, event.line, [f"{event.time.isoformat()} {event.container} "
                    f"{event.action} {attrs}".rstrip()], container=event.container, time=event.time)


def _events(ctx: CheckContext, container: str, action: str, exit_code: int | None = None) -> list[Event]:
    return [
        e for e in ctx.facts.events
        if e.container == container and e.action == action
        and (exit_code is None or e.attributes.get("exitCode") == str(exit_code))
    ]


def _container_finding(
    rule: Rule, ctx: CheckContext, container: ContainerInfo, fact: bool, events: list[Event],
    needles: list[str], statement: str,
) -> list[Finding]:
    if not fact and not events:
        return []
    times = sorted(e.time for e in events)
    if fact and container.finished_at:
        times.append(container.finished_at)
        times.sort()
    inspect = locate(ctx.inp, inspect_path(container.name), needles, container=container.name) if fact else None
    if inspect is not None:
        inspect.time = container.finished_at
    evidence = [inspect or (fact_evidence(inspect_path(container.name), statement, container=container.name,
                                          when=container.finished_at) if fact else None)]
    evidence += [_event_evidence(e) for e in events[:4]]
    return [
        make_finding(
            rule,
            container=container.name,
            evidence=evidence,
            count=max(len(events), 1),
            first_seen=times[0] if times else None,
            last_seen=times[-1] if times else None,
            details={"role": container.role, "state": container.state, "exit code": container.exit_code,
                     "restarts": container.restart_count},
        )
    ]


def container_oom_killed(rule: Rule, ctx: CheckContext) -> list[Finding]:
    found = []
    for c in ctx.facts.containers:
        found += _container_finding(rule, ctx, c, c.oom_killed, _events(ctx, c.name, "oom"),
                                    ['"OOMKilled": true'], "State.OOMKilled = true")
    return found


def container_exit_134(rule: Rule, ctx: CheckContext) -> list[Finding]:
    found = []
    for c in ctx.facts.containers:
        found += _container_finding(rule, ctx, c, c.exit_code == 134, _events(ctx, c.name, "die", 134),
                                    ['"ExitCode": 134'], "State.ExitCode = 134")
    return found


def container_exit_137(rule: Rule, ctx: CheckContext) -> list[Finding]:
    found = []
    for c in ctx.facts.containers:
        if c.oom_killed or _events(ctx, c.name, "oom"):
            # reported as container-oom-killed (Docker's OOMKilled flag is racy on cgroup v2: it
            # can say false for a container its own oom event shows was OOM-killed)
            continue
        found += _container_finding(rule, ctx, c, c.exit_code == 137, _events(ctx, c.name, "die", 137),
                                    ['"ExitCode": 137'], "State.ExitCode = 137")
    return found


def container_restart_loop(rule: Rule, ctx: CheckContext) -> list[Finding]:
    threshold = int(rule.params.get("min_restarts", 3))
    banners = ctx.log_hits.get("server-restarted", {})
    found = []
    for c in ctx.facts.containers:
        starts = _events(ctx, c.name, "start")
        restarts_in_log = max(banners.get(c.name, 0) - 1, 0)
        worst = max(c.restart_count, restarts_in_log, len(starts) - 1)
        if worst < threshold:
            continue
        evidence = [locate(ctx.inp, inspect_path(c.name), ['"RestartCount"'], container=c.name)
                    or fact_evidence(inspect_path(c.name), f"RestartCount = {c.restart_count}, start-up banners "
                                     f"in its log: {banners.get(c.name, 0)}", container=c.name)]
        evidence += [_event_evidence(e) for e in starts[:4]]
        times = sorted(e.time for e in starts)
        found.append(make_finding(
            rule, container=c.name, evidence=evidence, count=worst,
            title=f"{c.name} restarted {worst} times",
            first_seen=times[0] if times else c.started_at, last_seen=times[-1] if times else c.started_at,
            details={"RestartCount": c.restart_count, "start-up banners in log": banners.get(c.name, 0),
                     "start events": len(starts), "restart policy": c.restart_policy},
        ))
    return found


_MEMCG = re.compile(r"CONSTRAINT_MEMCG|Memory cgroup out of memory", re.I)
_CGROUP_ID = re.compile(r"(?:oom_memcg|task_memcg|cpuset)=[^,\s]*?([0-9a-f]{64})")


def _split_kernel_oom(ctx: CheckContext) -> tuple[list[Evidence], dict[str, list[Evidence]]]:
    """Host-wide kills, and cgroup (container limit) kills by container name. A cgroup kill of a
    container that is not in the input is another deployment's business and is left out."""
    by_id = {c.id: c.name for c in ctx.facts.containers if c.id}
    host: list[Evidence] = []
    cgroup: dict[str, list[Evidence]] = {}
    for record in ctx.facts.host.kernel_oom:
        text = "\n".join(record.lines)
        if not _MEMCG.search(text):
            host.append(record)
            continue
        match = _CGROUP_ID.search(text)
        name = by_id.get(match.group(1)) if match else None
        if name:
            cgroup.setdefault(name, []).append(record)
    return host, cgroup


def _times(records: list[Evidence]) -> tuple:
    times = sorted(e.time for e in records if e.time)
    return (times[0], times[-1]) if times else (None, None)


def kernel_oom(rule: Rule, ctx: CheckContext) -> list[Finding]:
    records, _ = _split_kernel_oom(ctx)
    if not records:
        return []
    first, last = _times(records)
    return [make_finding(rule, evidence=[*records[:4], *records[4:][-1:]], count=len(records),
                         first_seen=first, last_seen=last)]


def kernel_cgroup_oom(rule: Rule, ctx: CheckContext) -> list[Finding]:
    found = []
    by_container = _split_kernel_oom(ctx)[1] if ctx.facts.host.kernel_oom else {}
    for name, records in sorted(by_container.items()):
        first, last = _times(records)
        found.append(make_finding(rule, container=name, evidence=[*records[:4], *records[4:][-1:]],
                                  count=len(records), first_seen=first, last_seen=last,
                                  title=f"The kernel killed a process in {name} at its memory limit"))
    return found


def filesystem_full(rule: Rule, ctx: CheckContext) -> list[Finding]:
    limit = float(rule.params.get("percent", 90))
    critical = float(rule.params.get("critical_percent", 97))
    found = []
    for fs in ctx.facts.host.filesystems:
        if fs.fstype in PSEUDO_FILESYSTEMS or fs.percent < limit:
            continue
        found.append(make_finding(
            rule,
            title=f"Filesystem {fs.mountpoint} is {fs.percent:.0f} % full ({fs.free / GIB:.1f} GiB free)",
            severity="critical" if fs.percent >= critical else rule.severity,
            evidence=[locate(ctx.inp, "host/disk.json", [f'"{fs.mountpoint}"'])
                      or fact_evidence("host/disk.json", f"{fs.mountpoint} {fs.percent} % used")],
            details={"mountpoint": fs.mountpoint, "device": fs.device, "percent used": fs.percent,
                     "free GiB": round(fs.free / GIB, 1), "holds": fs.role or "-"},
        ))
    return found


def _role_demand(ctx: CheckContext, rule: Rule) -> tuple[float, list[str]]:
    total = 0.0
    parts = []
    for c in aztec_containers(ctx.facts):
        per = float(rule.params.get(c.role, 0))
        count = 1
        if c.role == "prover-agent":
            try:
                count = max(int(c.env.get("PROVER_AGENT_COUNT", "1")), 1)
            except ValueError:
                count = 1
        total += per * count
        parts.append(f"{c.name} ({c.role}{f' x{count}' if count > 1 else ''}): {per * count:g}")
    return total, parts


def host_memory_minimum(rule: Rule, ctx: CheckContext) -> list[Finding]:
    have = ctx.facts.host.memory_total
    need_gb, parts = _role_demand(ctx, rule)
    tolerance = float(rule.params.get("tolerance", 0.9))
    if not have or not need_gb or have >= need_gb * GIB * tolerance:
        return []
    return [make_finding(
        rule, title=f"Host has {have / GIB:.0f} GiB RAM; its roles need {need_gb:g} GB",
        evidence=[locate(ctx.inp, "host/summary.json", ["memory"])
                  or fact_evidence("host/summary.json", f"memory_total {have}")],
        details={"host RAM GiB": round(have / GIB, 1), "needed GB": need_gb, "roles": "; ".join(parts)},
    )]


def host_cpu_minimum(rule: Rule, ctx: CheckContext) -> list[Finding]:
    have = ctx.facts.host.cpus
    need, parts = _role_demand(ctx, rule)
    if not have or not need or have >= need:
        return []
    return [make_finding(
        rule, title=f"Host has {have} CPUs; its roles need {need:g} cores",
        evidence=[locate(ctx.inp, "host/summary.json", ["cpu"]) or fact_evidence("host/summary.json", f"cpus {have}")],
        details={"host CPUs": have, "needed cores": need, "roles": "; ".join(parts)},
    )]


def status_probes(rule: Rule, ctx: CheckContext) -> list[Finding]:
    found = []
    for probe in ctx.facts.probes:
        if probe.via == "skipped" or (probe.status is not None and probe.status < 500):
            continue
        answer = f"HTTP {probe.status}" if probe.status is not None else f"unreachable ({probe.error or 'no answer'})"
        found.append(make_finding(
            rule, container=probe.container, title=f"GET /status on {probe.container or probe.url}: {answer}",
            evidence=[locate(ctx.inp, probe.file, ['"status"'], container=probe.container) if probe.file else None,
                      fact_evidence(probe.file or "probes/", f"GET {probe.url} via {probe.via}: {answer}",
                                    container=probe.container)],
            details={"url": probe.url, "via": probe.via, "answer": answer},
        ))
    return found


RUNTIME_CHECKS: dict[str, Callable[[Rule, CheckContext], list[Finding]]] = {
    "container_oom_killed": container_oom_killed,
    "container_exit_134": container_exit_134,
    "container_exit_137": container_exit_137,
    "container_restart_loop": container_restart_loop,
    "kernel_oom": kernel_oom,
    "kernel_cgroup_oom": kernel_cgroup_oom,
    "filesystem_full": filesystem_full,
    "host_memory_minimum": host_memory_minimum,
    "host_cpu_minimum": host_cpu_minimum,
    "status_probes": status_probes,
}
