"""Logic rules on what happened to the containers and the host: OOM kills, exit codes,
restart loops, full disks, hardware below the official minimums, failing /status probes."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta

from nodediag.analyzer.model import ContainerInfo, Event, Evidence, Finding, Probe, same_incarnation
from nodediag.analyzer.rules.catalog import Rule
from nodediag.analyzer.rules.evidence import fact_evidence, inspect_path, locate, make_finding
from nodediag.analyzer.rules.fact_checks import AZTEC_ROLES, CheckContext, tag_hits
from nodediag.analyzer.rules.host_scope import HostScope, host_scopes

GIB = 1024**3
PSEUDO_FILESYSTEMS = {"tmpfs", "devtmpfs", "squashfs", "overlay", "iso9660", "proc", "sysfs", "nsfs", "ramfs"}
KILL_LOOKBACK = timedelta(minutes=5)  # a Docker "kill" this long before an exit 137 sent the signal
SIGKILL = ("9", "SIGKILL", "KILL")
SIGTERM = ("15", "SIGTERM", "TERM")
ENDS = ("kill", "die", "oom", "stop", "destroy")


def _event_evidence(event: Event) -> Evidence:
    attrs = " ".join(f"{k}={v}" for k, v in sorted(event.attributes.items()) if k in ("exitCode", "signal"))
    ident = f" (id {event.id[:12]})" if event.id else ""
    return Evidence(event.file, event.line, event.line, [f"{event.time.isoformat()} {event.container}{ident} "
                    f"{event.action} {attrs}".rstrip()], container=event.container, time=event.time)


def same_container(event: Event, container: ContainerInfo) -> bool:
    """Whether ``event`` happened to this container and not to an earlier one of the same name
    (``compose down && up``, ``rm -f`` and a new ``run``): by id when both are known."""
    return event.container == container.name and same_incarnation(event.id, container.id)


def _events(ctx: CheckContext, container: ContainerInfo, action: str, exit_code: int | None = None) -> list[Event]:
    return [
        e for e in ctx.facts.events
        if e.action == action and same_container(e, container)
        and (exit_code is None or e.attributes.get("exitCode") == str(exit_code))
    ]


def signal_sender(ctx: CheckContext, container: ContainerInfo, died: datetime | None) -> tuple[str, list[Event]] | None:
    """Who sent the SIGKILL behind an exit 137, when Docker sent it: Docker records a "kill"
    event (with the signal) for ``docker kill``, ``docker stop`` past its grace period,
    ``docker rm -f`` and compose's stop/restart/down. None when no such event precedes the exit."""
    if died is None:
        return None
    kills = [e for e in _events(ctx, container, "kill")
             if died - KILL_LOOKBACK <= e.time <= died + timedelta(seconds=2)]
    if not kills:
        return None
    signals = [e.attributes.get("signal", "").upper().removeprefix("SIG") or "?" for e in kills]
    later = [e for e in ctx.facts.events if same_container(e, container) and e.time >= died
             and e.action == "destroy"]
    if any(s in ("15", "TERM") for s in signals) and any(s in ("9", "KILL") for s in signals):
        who = "docker stop (or compose stop/restart/down): SIGTERM, then SIGKILL when its grace period ran out"
    elif any(s in ("15", "TERM") for s in signals):
        who = "docker stop (or compose stop/restart/down), killed when its grace period ran out"
    elif later:
        who = "docker rm -f (or compose down/up recreating it): SIGKILL sent by Docker"
    else:
        who = "docker kill (an operator or a script): SIGKILL sent by Docker"
    return who, kills + later[:1]


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


def _docker_saw_oom(ctx: CheckContext, c: ContainerInfo) -> bool:
    return c.oom_killed or bool(_events(ctx, c, "oom"))


def container_oom_killed(rule: Rule, ctx: CheckContext) -> list[Finding]:
    """Docker's OOMKilled flag or oom event; the kernel's record of the same cgroup kill, when the
    input has it, is more evidence of it (not a second finding: kernel_cgroup_oom leaves it)."""
    found = []
    kernel = {name: records for scope in host_scopes(ctx.facts)
              for name, records in _split_kernel_oom(scope)[1].items()}
    for c in ctx.facts.containers:
        made = _container_finding(rule, ctx, c, c.oom_killed, _events(ctx, c, "oom"),
                                  ['"OOMKilled": true'], "State.OOMKilled = true")
        for finding in made:
            finding.evidence = [*finding.evidence, *kernel.get(c.name, [])[:2]][:5]
        found += made
    return found


def container_exit_134(rule: Rule, ctx: CheckContext) -> list[Finding]:
    found = []
    for c in ctx.facts.containers:
        found += _container_finding(rule, ctx, c, c.exit_code == 134, _events(ctx, c, "die", 134),
                                    ['"ExitCode": 134'], "State.ExitCode = 134")
    return found


def container_exit_137(rule: Rule, ctx: CheckContext) -> list[Finding]:
    found = []
    for c in ctx.facts.containers:
        if c.oom_killed or _events(ctx, c, "oom"):
            # reported as container-oom-killed (Docker's OOMKilled flag is racy on cgroup v2: it
            # can say false for a container its own oom event shows was OOM-killed)
            continue
        dies = _events(ctx, c, "die", 137)
        made = _container_finding(rule, ctx, c, c.exit_code == 137, dies,
                                  ['"ExitCode": 137'], "State.ExitCode = 137")
        died = dies[-1].time if dies else c.finished_at
        sender = signal_sender(ctx, c, died)
        if made and sender:
            who, events = sender
            finding = made[0]
            finding.title = f"{c.name} was killed on request through Docker (exit 137): {who.split(':')[0]}"
            finding.meaning = (f"Docker itself sent the signal: its event history shows a \"kill\" just before the "
                               f"exit ({who}). An operator or a script stopped this container; it was not "
                               "the kernel's OOM killer.")
            finding.action = ("Find who or what ran the command at that time (shell history, cron, a deploy or "
                              "watchdog script, a compose restart); if it was deliberate, the failures after it "
                              "are its consequence.")
            finding.severity = "medium"
            finding.evidence = [*finding.evidence[:1], *(_event_evidence(e) for e in events[:3]),
                                *finding.evidence[1:]][:5]
            finding.details["signal sent by"] = who
        found += made
    return found


def container_restart_loop(rule: Rule, ctx: CheckContext) -> list[Finding]:
    threshold = int(rule.params.get("min_restarts", 3))
    banners = tag_hits(ctx, "start-banner")
    found = []
    for c in ctx.facts.containers:
        starts = _events(ctx, c, "start")
        restarts_in_log = max(banners.get(c.name, 0) - 1, 0)
        worst = max(c.restart_count, restarts_in_log, len(starts) - 1)
        if worst < threshold:
            continue
        evidence = [locate(ctx.inp, inspect_path(c.name), ['"RestartCount"'], container=c.name)
                    or fact_evidence(inspect_path(c.name), f"RestartCount = {c.restart_count}, start-up banners "
                                     f"in its log: {banners.get(c.name, 0)}", container=c.name)]
        evidence += [_event_evidence(e) for e in starts[:4]]
        # the loop begins at the first REstart: the first start is the container's creation
        times = sorted(e.time for e in starts)[1:]
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


def _split_kernel_oom(scope: HostScope) -> tuple[list[Evidence], dict[str, list[Evidence]]]:
    """The host's own kills, and cgroup (container limit) kills by container name. A cgroup kill
    of a container that is not in the input is another deployment's business and is left out."""
    by_id = {c.id: c.name for c in scope.containers if c.id}
    host: list[Evidence] = []
    cgroup: dict[str, list[Evidence]] = {}
    for record in scope.facts.kernel_oom:
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
    found = []
    for scope in host_scopes(ctx.facts):
        records, _ = _split_kernel_oom(scope)
        if not records:
            continue
        first, last = _times(records)
        found.append(scope.name(make_finding(
            rule, evidence=[*records[:4], *records[4:][-1:]], count=len(records), first_seen=first, last_seen=last,
            title=scope.on(rule.title) if scope.label else "")))
    return found


def kernel_cgroup_oom(rule: Rule, ctx: CheckContext) -> list[Finding]:
    found = []
    reported = {c.name for c in ctx.facts.containers if _docker_saw_oom(ctx, c)}  # container-oom-killed's
    for scope in host_scopes(ctx.facts):
        for name, records in sorted(_split_kernel_oom(scope)[1].items()):
            if name in reported:
                continue
            first, last = _times(records)
            found.append(scope.name(make_finding(
                rule, container=name, evidence=[*records[:4], *records[4:][-1:]], count=len(records),
                first_seen=first, last_seen=last,
                title=f"The kernel killed a process in {name} at its memory limit")))
    return found


def filesystem_full(rule: Rule, ctx: CheckContext) -> list[Finding]:
    limit = float(rule.params.get("percent", 90))
    critical = float(rule.params.get("critical_percent", 97))
    found = []
    for scope in host_scopes(ctx.facts):
        disk = scope.path("host/disk.json")
        for fs in scope.facts.filesystems:
            if fs.fstype in PSEUDO_FILESYSTEMS or fs.percent < limit:
                continue
            found.append(scope.name(make_finding(
                rule,
                title=scope.on(f"Filesystem {fs.mountpoint}") + f" is {fs.percent:.0f} % full "
                f"({fs.free / GIB:.1f} GiB free)",
                severity="critical" if fs.percent >= critical else rule.severity,
                evidence=[locate(ctx.inp, disk, [f'"{fs.mountpoint}"'])
                          or fact_evidence(disk, f"{fs.mountpoint} {fs.percent} % used")],
                details={"mountpoint": fs.mountpoint, "device": fs.device, "percent used": fs.percent,
                         "free GiB": round(fs.free / GIB, 1), "holds": fs.role or "-"},
            )))
    return found


def _role_demand(containers: list[ContainerInfo], rule: Rule) -> tuple[float, list[str]]:
    total = 0.0
    parts = []
    for c in containers:
        if c.role not in AZTEC_ROLES:
            continue
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
    """Each host's RAM against the roles that run on it (an agent host is not judged by the
    node's host, nor the reverse)."""
    tolerance = float(rule.params.get("tolerance", 0.9))
    found = []
    for scope in host_scopes(ctx.facts):
        have = scope.facts.memory_total
        need_gb, parts = _role_demand(scope.containers, rule)
        if not have or not need_gb or have >= need_gb * GIB * tolerance:
            continue
        summary = scope.path("host/summary.json")
        found.append(scope.name(make_finding(
            rule, title=f"Host{' ' + scope.label if scope.label else ''} has {have / GIB:.0f} GiB RAM; "
                        f"its roles need {need_gb:g} GB",
            evidence=[locate(ctx.inp, summary, ["memory"]) or fact_evidence(summary, f"memory_total {have}")],
            details={"host RAM GiB": round(have / GIB, 1), "needed GB": need_gb, "roles": "; ".join(parts)},
        )))
    return found


def host_cpu_minimum(rule: Rule, ctx: CheckContext) -> list[Finding]:
    found = []
    for scope in host_scopes(ctx.facts):
        have = scope.facts.cpus
        need, parts = _role_demand(scope.containers, rule)
        if not have or not need or have >= need:
            continue
        summary = scope.path("host/summary.json")
        found.append(scope.name(make_finding(
            rule, title=f"Host{' ' + scope.label if scope.label else ''} has {have} CPUs; "
                        f"its roles need {need:g} cores",
            evidence=[locate(ctx.inp, summary, ["cpu"]) or fact_evidence(summary, f"cpus {have}")],
            details={"host CPUs": have, "needed cores": need, "roles": "; ".join(parts)},
        )))
    return found


def _failing(probe: Probe) -> bool:
    return probe.via != "skipped" and (probe.status is None or probe.status >= 500)


def _answer(probe: Probe) -> str:
    return f"HTTP {probe.status}" if probe.status is not None else f"unreachable ({probe.error or 'no answer'})"


def _probe_evidence(ctx: CheckContext, probe: Probe) -> list[Evidence | None]:
    return [locate(ctx.inp, probe.file, ['"status"'], container=probe.container) if probe.file else None,
            fact_evidence(probe.file or "probes/", f"GET {probe.url} via {probe.via}: {_answer(probe)}",
                          container=probe.container)]


def _visibly_working(ctx: CheckContext, container_name: str) -> int:
    """How many lines of the container's log show it doing its work (jobs proved, epochs
    submitted; rules tagged role-working), when it is still running and no failure its own log
    shows came after its latest such line; 0 otherwise."""
    info = next((c for c in ctx.facts.containers if c.name == container_name), None)
    if info is not None and info.state and info.state != "running":
        return 0
    working = [r.id for r in ctx.rules if "role-working" in r.tags]
    worked = [t for r in working if (t := ctx.last_seen.get(r, {}).get(container_name))]
    troubles = [t for r in ctx.rules if r.match is not None and r.report and r.category in ("cause", "symptom")
                if (t := ctx.last_seen.get(r.id, {}).get(container_name))]
    if worked and troubles and max(troubles) > max(worked):
        return 0
    return tag_hits(ctx, "role-working").get(container_name, 0)


_RELEASE = re.compile(r":v?(\d+)\.\d+")
SERVING_AGENT_MAJOR = 4  # agents register themselves as JSON-RPC services (and answer /status) from 4.x


def _release_major(image: str) -> int | None:
    found = _RELEASE.search(image.rsplit("/", 1)[-1])
    return int(found.group(1)) if found else None


def _old_agent(ctx: CheckContext, probe: Probe) -> bool:
    """An agent that serves no HTTP (releases before agents registered as JSON-RPC services):
    nothing answers on its port, its image is not a release that serves one, and its log shows
    it proving."""
    info = next((c for c in ctx.facts.containers if c.name == probe.container), None)
    if info is None or info.role != "prover-agent" or probe.status is not None:
        return False
    major = _release_major(info.image)
    return (major is None or major < SERVING_AGENT_MAJOR) and _visibly_working(ctx, probe.container) > 0


def status_probes(rule: Rule, ctx: CheckContext) -> list[Finding]:
    """A failing GET /status is high only when nothing else shows the role working."""
    found = []
    for probe in ctx.facts.probes:
        if not _failing(probe) or _old_agent(ctx, probe):
            continue
        answer = _answer(probe)
        working = _visibly_working(ctx, probe.container)
        title = f"GET /status on {probe.container or probe.url}: {answer}"
        if working:
            title += f", although its log shows it working ({working} lines)"
        found.append(make_finding(
            rule, container=probe.container, title=title, severity="low" if working else None,
            evidence=_probe_evidence(ctx, probe),
            details={"url": probe.url, "via": probe.via, "answer": answer,
                     **({"log lines showing it working": working} if working else {})},
        ))
    return found


def agent_without_http(rule: Rule, ctx: CheckContext) -> list[Finding]:
    """Agents whose port does not answer but whose log shows jobs proved: an older release."""
    found = []
    for probe in ctx.facts.probes:
        if not _failing(probe) or not _old_agent(ctx, probe):
            continue
        working = _visibly_working(ctx, probe.container)
        found.append(make_finding(
            rule, container=probe.container,
            title=f"{probe.container} serves no HTTP status, but its log shows it proving ({working} job lines)",
            evidence=_probe_evidence(ctx, probe),
            details={"url": probe.url, "answer": _answer(probe), "job lines in its log": working},
        ))
    return found


def container_recreated(rule: Rule, ctx: CheckContext) -> list[Finding]:
    """Earlier containers of the same name (recreated by compose or ``rm -f`` and ``run``):
    their ends are history, not the state of the running container."""
    found = []
    for c in ctx.facts.containers:
        if not c.id:
            continue
        earlier = [e for e in ctx.facts.events if e.container == c.name and e.id and e.id != c.id]
        ended = [e for e in earlier if e.action in ENDS]
        if not ended:
            continue
        ids = sorted({e.id[:12] for e in earlier})
        exits = sorted({e.attributes["exitCode"] for e in ended if e.action == "die" and "exitCode" in e.attributes})
        found.append(make_finding(
            rule, container=c.name,
            title=f"{c.name} was recreated: {len(ids)} earlier container(s) of that name ended before it "
                  f"({', '.join(sorted({e.action for e in ended}))}"
                  f"{'; exit ' + ', '.join(exits) if exits else ''})",
            evidence=[_event_evidence(e) for e in ended[:4]] + [_event_evidence(ended[-1])] * (len(ended) > 4),
            count=len(ids), first_seen=ended[0].time, last_seen=ended[-1].time,
            details={"earlier container ids": ", ".join(ids), "current container id": c.id[:12],
                     "current state": c.state},
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
    "agent_without_http": agent_without_http,
    "container_recreated": container_recreated,
}

# the params each check reads (validated when the rules load: registry.py)
RUNTIME_CHECK_PARAMS: dict[str, dict[str, str]] = {
    "container_restart_loop": {"min_restarts": "int"},
    "filesystem_full": {"percent": "number", "critical_percent": "number"},
    "host_memory_minimum": {"prover-node": "number", "prover-broker": "number", "prover-agent": "number",
                            "tolerance": "number"},
    "host_cpu_minimum": {"prover-node": "number", "prover-broker": "number", "prover-agent": "number"},
}
