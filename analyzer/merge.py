"""Several inputs (the bundles of one deployment's hosts) analysed as one: a layer in front of
``analyze_input``.

Each input is opened and its facts loaded as usual; ``merge_inputs`` then joins them into one
``LoadedInput`` (a private folder of links: ``<tag>/<path>`` for each input's files) and one
``Facts``, so that one analysis gives one timeline, one set of causal links and one verdict.

- Hosts: inputs with the same host id (``host_id`` in the manifest or host/summary.json; the
  hostname for older bundles) are one host. With more than one host, containers are named
  ``<host>/<name>``.
- Clocks: the host holding the broker's logs is the reference. Paired records (clocks.py) bound
  each other host's clock offset: the agents' job lines against the broker's (both sides), the
  node's facade and epoch lines against the broker's (the node learns of a job's receipt and
  result after the broker logged them; it starts an epoch before the broker receives its jobs).
  The middle of the bounds is the correction applied to that host's times (records, events,
  container states, kernel OOM lines), half their width the error shown. A host without pairs
  keeps its times: its error is small when both it and the reference said at collection that
  NTP synchronised them, unknown otherwise.
- Inputs that look like different deployments are joined with a warning naming them.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from nodediag.analyzer.clocks import (
    BLOCK,
    JobLog,
    clock_note,
    estimate_offset,
    narrowest,
    offset_bounds,
    order_grace,
    pair_bounds,
    scan_jobs,
)
from nodediag.analyzer.facts import parse_docker_time
from nodediag.analyzer.model import (
    DataGap,
    Evidence,
    Facts,
    Finding,
    HostFacts,
    HostView,
    LoadedInput,
    ResourceSeries,
)

__all__ = ["BLOCK", "JobLog", "Merged", "clock_note", "estimate_offset", "merge_inputs", "offset_bounds",
           "order_grace", "scan_jobs"]

NTP_ERROR_S = 1.0  # what a clock NTP keeps synchronised may be off, when chrony gave no figure

_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")
_CONTAINER_DIR = re.compile(r"^containers/([^/]+)/(.+)$")
_ENV_ID = ("PROVER_ID",)
_ENV_BROKER = ("PROVER_BROKER_HOST", "PROVER_BROKER_URL")


@dataclass(slots=True)
class Merged:
    """The inputs joined: what ``analyze_input`` takes, the hosts' jobs, and the warnings also
    due on stderr."""

    input: LoadedInput
    facts: Facts
    jobs: JobLog
    notices: list[str]


# --- who is who ---------------------------------------------------------------------------------

def _read_json(inp: LoadedInput, rel: str) -> Any:
    if rel not in inp.files or rel in inp.own_frames:
        return None
    try:
        return json.loads((Path(inp.root) / rel).read_bytes())
    except (OSError, ValueError, RecursionError):
        return None


def _as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


@dataclass(slots=True)
class _Identity:
    hostname: str
    host_id: str
    collected_at: datetime | None
    synchronized: bool | None
    sync_error_s: float | None  # from chrony, when it answered


def identity(inp: LoadedInput) -> _Identity:
    """Hostname, host id and clock of the host ``inp`` was collected on (blank when unknown)."""
    manifest_host = _as_dict(_as_dict(inp.manifest).get("host"))
    summary = _as_dict(_read_json(inp, "host/summary.json"))
    clock = _as_dict(summary.get("clock"))
    hostname = str(summary.get("hostname") or manifest_host.get("hostname") or "")
    host_id = str(manifest_host.get("host_id") or summary.get("host_id") or "")
    collected = parse_docker_time(clock.get("time")) or parse_docker_time(_as_dict(inp.manifest).get("created_at"))
    synced = clock.get("synchronized")
    chrony = _as_dict(_as_dict(clock.get("sync")).get("chrony"))
    error = None
    if isinstance(chrony.get("offset_s"), (int, float)):
        error = abs(float(chrony["offset_s"])) + float(chrony.get("root_dispersion_s") or 0) \
            + float(chrony.get("root_delay_s") or 0) / 2
    return _Identity(hostname, host_id, collected, synced if isinstance(synced, bool) else None, error)


def _input_stem(inp: LoadedInput) -> str:
    name = Path(inp.name or "input").name
    for suffix in (".tar.zst", ".tar.gz", ".tgz", ".tar", ".zst", ".gz", ".log", ".txt"):
        name = name.removesuffix(suffix)
    return name


def _safe(text: str) -> str:
    return _SAFE.sub("_", text).strip("_.") or "host"


def _unique(base: str, taken: set[str]) -> str:
    label, n = base, 2
    while label in taken:
        label, n = f"{base}-{n}", n + 1
    taken.add(label)
    return label


def _signature(inp: LoadedInput, facts: Facts) -> tuple[set[str], set[str], set[str]]:
    """(compose projects, names the broker goes by, PROVER_IDs) of one input."""
    deployment = _as_dict(_as_dict(inp.manifest).get("deployment"))
    projects = {str(c.get("project")) for c in deployment.get("containers") or []
                if isinstance(c, dict) and c.get("project")}
    brokers: set[str] = set()
    ids: set[str] = set()
    # PROVER_ID as the containers run with it (a .env file may have been overridden); else the files'
    for envs in ([c.env for c in facts.containers], [cf.env for cf in facts.config_files]):
        ids = {v for env in envs for key in _ENV_ID
               if (v := env.get(key, "").strip().lower()) and "redacted" not in v}
        if ids:
            break
    for env in [c.env for c in facts.containers] + [cf.env for cf in facts.config_files]:
        for key in _ENV_BROKER:
            host = urlsplit(env.get(key, "")).hostname
            if host and "redacted" not in host.lower():
                brokers.add(host.lower())
    for c in facts.containers:
        if c.role == "prover-broker":
            brokers.add(c.name.lower())
            service = c.name.rsplit("-", 1)[0].split("-", 2)[-1] if c.name.count("-") >= 2 else ""
            if service:
                brokers.add(service.lower())
            labels = [e for e in deployment.get("containers") or [] if isinstance(e, dict) and e.get("name") == c.name]
            brokers.update(str(e.get("service")).lower() for e in labels if e.get("service"))
    return projects, brokers, ids


# --- merging ------------------------------------------------------------------------------------

def merge_inputs(parts: list[tuple[LoadedInput, Facts]], workdir: Path) -> Merged:
    """Join ``parts`` (each an opened input and its facts) into one input for ``analyze_input``.
    The links to every input's files are made in a new folder under ``workdir``."""
    idents = [identity(inp) for inp, _ in parts]
    # hosts: the same host id, else the same hostname, is the same host
    keys: list[str] = []
    for index, ident in enumerate(idents):
        keys.append(f"id:{ident.host_id}" if ident.host_id else f"name:{ident.hostname}" if ident.hostname
                    else f"input:{index}")
    order = list(dict.fromkeys(keys))
    taken: set[str] = set()
    hosts: dict[str, HostView] = {}
    for key in order:
        first = keys.index(key)
        ident = idents[first]
        label = _unique(_safe(ident.hostname or _input_stem(parts[first][0])), taken)
        hosts[key] = HostView(label=label, hostname=ident.hostname, host_id=ident.host_id,
                              collected_at=ident.collected_at, clock_synchronized=ident.synchronized)
    several = len(hosts) > 1
    tags_taken: set[str] = set()
    tags = [_unique(hosts[key].label, tags_taken) for key in keys]

    notices: list[str] = []
    # clocks: the broker's host is the reference
    jobs = [scan_jobs(inp, facts, nodes_too=True) for inp, facts in parts]
    host_jobs: dict[str, JobLog] = {}
    for key, job in zip(keys, jobs, strict=True):
        into = host_jobs.setdefault(key, JobLog())
        into.add(job)
        for k, v in job.agents.items():
            into.agents.setdefault(k, v)
    reference = next((k for k in order if host_jobs[k].broker_new or host_jobs[k].broker_done), order[0])
    ref_host, ref_ident = hosts[reference], idents[keys.index(reference)]
    ref_host.clock_basis, ref_host.clock_error_s = "reference", 0.0
    if several:
        for key in order:
            if key == reference:
                continue
            host, ident = hosts[key], idents[keys.index(key)]
            lows, highs, pair_kinds = pair_bounds(host_jobs[reference], host_jobs[key])
            low, high = narrowest(lows, highs)
            pairs = sum(pair_kinds.values())
            offset, error = estimate_offset(low, high, pairs)
            host.clock_pairs, host.clock_pair_kinds, host.clock_low_s, host.clock_high_s = pairs, pair_kinds, low, high
            if pairs and (error is not None or offset):
                host.clock_offset_s, host.clock_error_s, host.clock_basis = offset, error, "paired-records"
            elif ident.synchronized and ref_ident.synchronized:
                host.clock_basis = "ntp"
                host.clock_error_s = (ident.sync_error_s if ident.sync_error_s is not None else NTP_ERROR_S) + (
                    ref_ident.sync_error_s if ref_ident.sync_error_s is not None else NTP_ERROR_S)
            if low is not None and high is not None and low > high:
                notices.append(f"the job records of {host.label} and {ref_host.label} contradict each other "
                               "(each host's clock jumped?): its clock offset could not be estimated")

    shift_of = {key: hosts[key].clock_offset_s for key in order}
    merged_facts = Facts()
    files: list[str] = []
    own: dict[str, Any] = {}
    gaps: list[DataGap] = []
    warnings: list[str] = []
    manifest_files: list[dict[str, Any]] = []
    root = Path(workdir) / "merged"
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    seen_names: dict[str, str] = {}
    placed_files: set[str] = set()
    seen_events: set[tuple[str, datetime, str, str]] = set()
    placed_at: list[dict[str, str]] = []
    for (inp, facts), key, tag in zip(parts, keys, tags, strict=True):
        host = hosts[key]
        host.inputs.append(inp.name)
        shift = timedelta(seconds=shift_of[key])
        prefix = tag + "/"
        # a container's files keep the bundle layout, under its (host-qualified) name, so that
        # rules find its inspect.json by name; the rest of each input lies under <tag>/
        where = {}
        for rel in inp.files:
            match = _CONTAINER_DIR.match(rel)
            placed = f"containers/{host.label}_{match.group(1)}/{match.group(2)}" if match and several \
                else rel if match else prefix + rel
            if placed in placed_files:
                placed = prefix + rel
            placed_files.add(placed)
            where[rel] = placed
        placed_at.append(where)

        def at(rel: str, where: dict[str, str] = where, prefix: str = prefix) -> str:
            return where.get(rel, prefix + rel)

        def qualify(name: str, host: HostView = host) -> str:
            return f"{host.label}/{name}" if several and name else name

        def moved(when: datetime | None, shift: timedelta = shift) -> datetime | None:
            return when + shift if when is not None and shift else when

        skipped_logs: set[str] = set()
        for container in facts.containers:
            name = qualify(container.name)
            if name in seen_names:  # the same container in two inputs of one host: the first is read
                warnings.append(f"{name} is in both {seen_names[name]} and {inp.name}: what {seen_names[name]} "
                                "holds of it was read")
                if container.log_file:
                    skipped_logs.add(container.log_file)
                continue
            seen_names[name] = inp.name
            host.containers.append(name)
            merged_facts.containers.append(replace(
                container, name=name, started_at=moved(container.started_at),
                finished_at=moved(container.finished_at),
                log_file=at(container.log_file) if container.log_file else None))
        for log in facts.log_files:
            if log.path in skipped_logs:
                continue
            merged_facts.log_files.append(replace(log, path=at(log.path), container=qualify(log.container),
                                                  time_shift_s=log.time_shift_s + shift_of[key]))
        for event in facts.events:
            moved_event = replace(event, time=moved(event.time) or event.time, container=qualify(event.container),
                                  file=at(event.file))
            seen = (key, moved_event.time, moved_event.container, moved_event.action)
            if seen not in seen_events:  # two bundles of one host both hold its Docker events
                seen_events.add(seen)
                merged_facts.events.append(moved_event)
        for probe in facts.probes:
            merged_facts.probes.append(replace(probe, container=qualify(probe.container), file=at(probe.file)))
        if facts.resources is not None:  # a watcher's samples: one input's are shown (their containers, host)
            if merged_facts.resources is None:
                merged_facts.resources = _moved_series(facts.resources, qualify, shift, at(facts.resources.file))
            else:
                warnings.append(f"{inp.name}: its watch samples are left out (the report shows those of "
                                f"{merged_facts.resources.file.split('/', 1)[0] if several else 'the first input'})")
        for config in facts.config_files:
            merged_facts.config_files.append(replace(config, path=at(config.path)))
        host_facts = replace(
            facts.host,
            # a kernel record is about its host: it names the host (its container, when its cgroup names one, is
            # found by id)
            kernel_oom=[replace(e, file=at(e.file), time=moved(e.time),
                                container=qualify(e.container) if e.container or not several else host.label)
                        for e in facts.host.kernel_oom],
            container_stats={qualify(k): v for k, v in facts.host.container_stats.items()},
            filesystems=list(facts.host.filesystems))
        if host.facts.hostname or host.facts.filesystems or host.facts.memory_total:
            known = {(e.time, tuple(e.lines)) for e in host.facts.kernel_oom}  # a second input of the same host
            host.facts.kernel_oom += [e for e in host_facts.kernel_oom if (e.time, tuple(e.lines)) not in known]
            host.facts.container_stats.update(host_facts.container_stats)
        else:
            host.facts = host_facts
        for gap in inp.gaps:
            gaps.append(replace(gap, source=f"{host.label}: {gap.source}" if several else gap.source,
                                files=[at(f) for f in gap.files]))
        warnings += [f"{inp.name}: {w}" for w in inp.warnings]
        for rel in inp.files:
            files.append(at(rel))
            if rel in inp.own_frames:
                own[at(rel)] = inp.own_frames[rel]
                continue
            target = root / at(rel)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(Path(inp.root).resolve() / rel, target)
        for entry in _as_dict(inp.manifest).get("files") or []:
            if isinstance(entry, dict) and isinstance(entry.get("path"), str):
                manifest_files.append({**entry, "path": at(entry["path"])})

    ordered_hosts = [hosts[k] for k in order]
    merged_facts.events.sort(key=lambda e: e.time)
    if several:  # the report's tables group by host: containers, data gaps
        rank = {h.label: i for i, h in enumerate(ordered_hosts)}
        merged_facts.containers.sort(key=lambda c: rank.get(c.name.split("/", 1)[0], len(rank)))
        gaps.sort(key=lambda g: rank.get(g.source.split(": ", 1)[0], len(rank)))
    merged_facts.hosts = ordered_hosts
    merged_facts.host = _combined_host(ordered_hosts, merged_facts, several)

    joined = "; ".join(f"{h.label} ({', '.join(h.inputs)}: {', '.join(h.containers) or 'no containers'})"
                       for h in ordered_hosts)
    warnings.insert(0, f"{len(parts)} inputs analysed as one deployment: {joined}")
    if several:
        warnings[1:1] = [clock_note(host, ref_host) for host in ordered_hosts]
    notices += _deployment_mismatches(parts, jobs)
    warnings[1:1] = notices

    first_manifest = next((inp.manifest for inp, _ in parts if isinstance(inp.manifest, dict)), None)
    manifest = None
    if first_manifest is not None:
        manifest = {**first_manifest, "files": manifest_files, "inputs": [inp.name for inp, _ in parts]}
        statuses = [str(_as_dict(inp.manifest).get("status") or "") for inp, _ in parts if inp.manifest]
        manifest["status"] = next((s for s in statuses if s and s != "complete"), first_manifest.get("status"))
    kinds = {inp.kind for inp, _ in parts}
    merged = LoadedInput(kind=kinds.pop() if len(kinds) == 1 else "folder-v1", root=root, files=files,
                         manifest=manifest, gaps=gaps, warnings=warnings,
                         name=" + ".join(inp.name for inp, _ in parts), own_frames=own)
    all_jobs = JobLog()  # every input's job lines on the reference clock, evidence at the merged paths
    for key, tag, job, where in zip(keys, tags, jobs, placed_at, strict=True):
        label, shift = hosts[key].label, timedelta(seconds=shift_of[key])

        def here(ev: Evidence, where: dict[str, str] = where, tag: str = tag, label: str = label,
                 shift: timedelta = shift) -> Evidence:
            return replace(ev, file=where.get(ev.file, f"{tag}/{ev.file}"), time=ev.time + shift if ev.time else None,
                           container=f"{label}/{ev.container}" if several and ev.container else ev.container)

        all_jobs.add(job, shift)
        for k, v in job.agents.items():
            all_jobs.agents.setdefault(k, here(v))
        for k, (file, owner, number, text) in job.done_lines.items():
            all_jobs.done_lines.setdefault(k, (where.get(file, f"{tag}/{file}"),
                                               f"{label}/{owner}" if several and owner else owner, number, text))
    return Merged(merged, merged_facts, all_jobs, notices)


def _moved_series(series: ResourceSeries, qualify: Callable[[str], str], shift: timedelta,
                  file: str) -> ResourceSeries:
    """``series`` with its containers named as in the merged facts and its times on the reference clock."""
    def points(group: dict[str, list[Any]], rename: bool) -> dict[str, list[Any]]:
        return {(qualify(name) if rename else name): [replace(p, time=p.time + shift) for p in items]
                for name, items in group.items()}

    trigger = dict(series.trigger) if series.trigger else None
    if trigger and trigger.get("container"):
        trigger["container"] = qualify(str(trigger["container"]))
    return replace(series, file=file, containers=points(series.containers, True),
                   roles={qualify(k): v for k, v in series.roles.items()},
                   host=[replace(p, time=p.time + shift) for p in series.host],
                   filesystems=points(series.filesystems, False), status=points(series.status, True), trigger=trigger)


def _combined_host(hosts: list[HostView], facts: Facts, several: bool) -> HostFacts:
    """``Facts.host`` for several hosts: the node's host (else the broker's, else the first), with
    every host's kernel OOM lines, container stats and filesystems (named by host), as reports
    always had it. The host-level rules and the report's resources read each host's own facts
    (``Facts.hosts``, rules/host_scope.py), never this mix."""
    roles = {c.name: c.role for c in facts.containers}

    def holds(host: HostView, role: str) -> bool:
        return any(roles.get(name) == role for name in host.containers)

    main = next((h for h in hosts if holds(h, "prover-node")), None) or next(
        (h for h in hosts if holds(h, "prover-broker")), hosts[0])
    combined = replace(main.facts, kernel_oom=[], container_stats={}, filesystems=[])
    for host in hosts:
        combined.kernel_oom += host.facts.kernel_oom
        combined.container_stats.update(host.facts.container_stats)
        combined.filesystems += [replace(fs, mountpoint=f"{host.label}:{fs.mountpoint}") if several else fs
                                 for fs in host.facts.filesystems]
    return combined


def _jobs_disjoint(agent: JobLog, brokers: list[JobLog]) -> bool:
    """True when ``agent`` logged jobs while the ``brokers`` logged theirs, and none of its jobs
    is one of theirs: that agent worked for another broker."""
    mine = set(agent.agent_start) | set(agent.agent_done)
    times = [*agent.agent_start.values(), *agent.agent_done.values()]
    theirs: set[str] = set()
    spans = []
    for broker in brokers:
        theirs |= set(broker.broker_new) | set(broker.broker_done)
        moments = [*broker.broker_new.values(), *broker.broker_done.values()]
        if moments:
            spans.append((min(moments), max(moments)))
    if not mine or not theirs or not spans:
        return False
    during = any(start <= t <= end for t in times for start, end in spans)
    return during and not mine & theirs


def _deployment_mismatches(parts: list[tuple[LoadedInput, Facts]], jobs: list[JobLog]) -> list[str]:
    """Warnings for inputs that look like another deployment than those before them: a different
    PROVER_ID, or a different compose project and a different broker (by name, or agents whose
    jobs no broker of the others logged)."""
    signatures = [_signature(inp, facts) for inp, facts in parts]
    notices = []
    base_projects, base_brokers, base_ids = set(signatures[0][0]), set(signatures[0][1]), set(signatures[0][2])
    for index in range(1, len(parts)):
        inp = parts[index][0]
        projects, brokers, ids = signatures[index]
        reasons = []
        if ids and base_ids and not ids & base_ids:
            reasons.append(f"PROVER_ID {', '.join(sorted(ids))} vs {', '.join(sorted(base_ids))}")
        other_broker = bool(brokers and base_brokers and not brokers & base_brokers)
        if not other_broker and _jobs_disjoint(jobs[index], jobs[:index]):
            other_broker, brokers_said = True, "its agents' jobs are in no broker log of the others"
        else:
            brokers_said = f"broker {', '.join(sorted(brokers))} vs {', '.join(sorted(base_brokers))}"
        if projects and base_projects and not projects & base_projects and other_broker:
            reasons.append(f"compose project {', '.join(sorted(projects))} vs {', '.join(sorted(base_projects))} "
                           f"and {brokers_said}")
        if reasons:
            earlier = ", ".join(p[0].name for p in parts[:index])
            notices.append(f"{inp.name} and {earlier} look like different deployments ("
                           + "; ".join(reasons) + "): they were joined anyway; analyse them apart if unrelated")
        base_projects |= projects
        base_brokers |= brokers
        base_ids |= ids
    return notices


# --- what the evidence lacks --------------------------------------------------------------------

def _known_agent(name: str, facts: Facts) -> bool:
    lowered = name.lower()
    for c in facts.containers:
        if c.role != "prover-agent":
            continue
        if lowered in c.name.lower() or (c.id and c.id.lower().startswith(lowered)) or (
                len(lowered) >= 12 and lowered.startswith(c.id.lower()[:12]) and c.id):
            return True
    for host in facts.hosts:
        if host.hostname and lowered in (host.hostname.lower(), host.label.lower()):
            return True
    return any(log.role == "prover-agent" and lowered in log.container.lower() for log in facts.log_files)


UNSEEN_JOBS_MIN = 5  # jobs completed by agents no input holds, at least (and a fifth of those completed)


def unseen_jobs(jobs: JobLog) -> tuple[list[str], int]:
    """The jobs the broker recorded complete while the agents held were logging (from their first
    job line to a minute after their last), that none of them logged; and how many it completed
    then. Another agent did them: one whose bundle is missing."""
    moments = [*jobs.agent_start.values(), *jobs.agent_done.values()]
    if not moments or not jobs.broker_done:
        return [], 0
    first, last = min(moments), max(moments) + timedelta(minutes=1)
    during = sorted((when, job) for job, when in jobs.broker_done.items() if first <= when <= last)
    unseen = [job for _, job in during if job not in jobs.agent_start and job not in jobs.agent_done]
    return unseen, len(during)


def done_evidence(jobs: JobLog, job: str) -> Evidence:
    """The broker's line recording ``job`` complete, as evidence."""
    file, container, number, text = jobs.done_lines[job]
    return Evidence(file=file, line_start=number, line_end=number, lines=[text.decode(errors="replace").rstrip("\r")],
                    container=container, time=jobs.broker_done.get(job))


def evidence_gaps(facts: Facts, findings: list[Finding], jobs: JobLog, agent_symptoms: set[str]) -> list[Finding]:
    """Data-gap findings for what the inputs cannot show: no proving agent at all beside a node or
    broker, or agents no input holds (a host's bundle is missing): agents the broker names, or
    jobs it recorded complete that none of the agents held logged."""
    broker_agents = jobs.agents
    roles = {c.role for c in facts.containers} | {log.role for log in facts.log_files}
    symptoms = [f for f in findings if f.rule_id in agent_symptoms]
    gaps: list[Finding] = []
    if "prover-agent" not in roles and roles & {"prover-node", "prover-broker"}:
        seen = " and ".join(r.removeprefix("prover-") for r in ("prover-node", "prover-broker") if r in roles)
        gaps.append(Finding(
            rule_id="agents-missing-from-evidence", title="The proving agents' side is missing from the evidence",
            severity="medium" if symptoms else "low", category="data-gap",
            meaning=(f"The input holds the {seen} but no proving agent: what happened on the agents (killed for "
                     "memory, crashed, restarted, unreachable) cannot be seen here"
                     + (f", and {', '.join(sorted({s.title for s in symptoms}))} may well have been caused there."
                        if symptoms else ".")),
            action=("Collect a bundle on each host that runs proving agents (`nodediag collect` there) and analyse "
                    "them together with this one: `nodediag analyze THIS.tar.zst AGENT-HOST.tar.zst`."),
            confidence="high", details={"roles seen": ", ".join(sorted(roles - {"other"}))}))
    unknown = {name: ev for name, ev in broker_agents.items() if not _known_agent(name, facts)}
    unseen, completed = unseen_jobs(jobs) if "prover-agent" in roles else ([], 0)
    if len(unseen) >= UNSEEN_JOBS_MIN and len(unseen) * 5 >= completed and not unknown:
        gaps.append(Finding(
            rule_id="host-bundle-missing", title="A host's bundle is missing: other agents did part of the jobs",
            severity="medium", category="data-gap",
            meaning=(f"While the agents in the inputs were working, the broker recorded {completed} job(s) complete, "
                     f"{len(unseen)} of which none of them logged: other agents, on a host whose bundle was not "
                     "given, did them, and what happened to those agents cannot be seen."),
            action="Collect a bundle on every host running proving agents and analyse them together.",
            count=len(unseen), evidence=[done_evidence(jobs, j) for j in unseen[:5] if j in jobs.done_lines],
            confidence="medium", first_seen=jobs.broker_done.get(unseen[0])))
    if unknown and "prover-agent" in roles:
        names = sorted(unknown)
        gaps.append(Finding(
            rule_id="host-bundle-missing", title="A host's bundle is missing: the broker handed jobs to agents no "
            "input holds", severity="medium", category="data-gap",
            meaning=(f"The broker's logs name {len(names)} agent(s) that none of the inputs holds "
                     f"({', '.join(names[:8])}{' ...' if len(names) > 8 else ''}): they run on a host whose "
                     "bundle was not given, so what happened to them cannot be seen."),
            action="Collect a bundle on the host(s) running these agents and analyse it together with the others.",
            count=len(names), evidence=[unknown[n] for n in names[:8]], confidence="medium",
            first_seen=min((e.time for e in unknown.values() if e.time), default=None)))
    return gaps


def add_evidence_gaps(findings: list[Finding], gaps: list[Finding]) -> list[Finding]:
    """``findings`` with ``gaps`` placed after the data-gap findings already there (the report
    lists data gaps first)."""
    at = 0
    while at < len(findings) and findings[at].category == "data-gap":
        at += 1
    return findings[:at] + gaps + findings[at:]
