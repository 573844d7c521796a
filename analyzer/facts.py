"""Everything the analyzer knows about an input besides log records: containers, Docker events,
host, configuration, probes and which log file belongs to whom.

Tolerant by design: a missing key never crashes, a file that does not parse becomes a warning in
``inp.warnings`` (the report lists it) and its facts are simply absent.
"""

from __future__ import annotations

import io
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import yaml

from nodediag.analyzer.host_facts import (
    apply_df_text,
    apply_free_text,
    apply_manifest_host,
    apply_memory,
    apply_summary,
    kernel_oom_records,
    parse_disk_json,
    summarize_stats,
)
from nodediag.analyzer.inputs.guide_tables import parse_docker_ps, parse_status, status_times
from nodediag.analyzer.inputs.manual_guide import converted_guide_warnings
from nodediag.analyzer.model import ConfigFile, ContainerInfo, Event, Facts, LoadedInput, LogFile, Probe
from nodediag.analyzer.report.formatting import parse_iso
from nodediag.analyzer.resource_series import SAMPLES_FILE, parse_samples
from nodediag.bundle.facts import read_event, read_fact
from nodediag.bundle.limits import current_limits
from nodediag.bundle.lines import LineCappedReader
from nodediag.bundle.schema import SchemaError
from nodediag.envfile import env_values
from nodediag.guide_dates import dating_note
from nodediag.roles import detect_role

_DOCKER_TIME = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:?\d{2})?$")
_CONTAINER_FILE = re.compile(r"^containers/([^/]+)/(inspect|stats|logs)\.(json|txt)$")


def parse_docker_time(text: Any) -> datetime | None:
    """Docker's RFC 3339 time (nanoseconds allowed) -> aware UTC; ``0001-01-01T00:00:00Z`` -> None."""
    if not isinstance(text, str):
        return None
    match = _DOCKER_TIME.match(text.strip())
    if not match:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    if year == "0001":
        return None
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    try:
        moment = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), micro,
                          tzinfo=timezone.utc)
    except ValueError:
        return None
    if zone and zone != "Z":
        digits = zone[1:].replace(":", "")
        offset = (int(digits[:2]) * 60 + int(digits[2:])) * (1 if zone[0] == "+" else -1)
        moment -= timedelta(minutes=offset)
    return moment


class _Reader:
    """Reads input files by relative path; parse failures become warnings, never exceptions."""

    def __init__(self, inp: LoadedInput) -> None:
        self.inp = inp
        self.limits = current_limits()
        self.root = Path(inp.root)
        self.files = set(inp.files)

    def _bytes(self, rel: str) -> bytes | None:
        """The file's bytes, at most --max-json-bytes of them (a longer file is cut, with a warning)."""
        if rel not in self.files:
            return None
        cap = self.limits.max_json_bytes
        try:
            with (self.root / rel).open("rb") as fh:
                data = fh.read(cap + 1)
        except OSError as exc:
            self.inp.warnings.append(f"{rel} could not be read ({exc.strerror or exc}); its facts are missing")
            return None
        if len(data) > cap:
            self.inp.warnings.append(f"{rel} is larger than the --max-json-bytes cap of {cap:,} bytes; "
                                     "only its start was read" if not rel.endswith(".json") else
                                     f"{rel} is larger than the --max-json-bytes cap of {cap:,} bytes; "
                                     "its facts are missing from the report")
            return data[:cap] if not rel.endswith(".json") else None
        return data

    def text(self, rel: str) -> str | None:
        data = self._bytes(rel)
        return None if data is None else data.decode("utf-8", errors="replace")

    def json(self, rel: str) -> Any:
        """A JSON fact file, parsed and checked against its schema (nodediag/bundle/facts.py) once,
        here; a file that does not fit is a warning naming the file and field, and its facts are missing."""
        data = self._bytes(rel)
        if data is None:
            return None
        try:
            return read_fact(rel, data, self.limits)
        except SchemaError as exc:
            self.inp.warnings.append(f"{exc}; its facts are missing from the report")
            return None


def load_facts(inp: LoadedInput) -> Facts:
    reader = _Reader(inp)
    facts = Facts()
    if inp.kind == "manual-guide":
        _load_guide(reader, facts)
    elif inp.kind == "single-log":
        for rel in inp.files:
            facts.log_files.append(LogFile(path=rel, container="", role=_role_from_file_name(rel)))
    elif _converted_from_guide(inp):
        _load_bundle(reader, facts)
        _load_converted_guide(reader, facts)
    else:
        _load_bundle(reader, facts)
    return facts


def _converted_from_guide(inp: LoadedInput) -> bool:
    converted = (inp.manifest or {}).get("converted_from") if isinstance(inp.manifest, dict) else None
    return isinstance(converted, dict) and converted.get("kind") == "manual-guide"


_GUIDE_LOG_NAMES = {"prover-node": "prover-node.log", "prover-broker": "broker.log", "prover-agent": "agent.log"}


def _load_converted_guide(reader: _Reader, facts: Facts) -> None:
    """A bundle `nodediag redact` made from the guide's archive: its guide/ files hold the facts
    the guide gathered (docker ps, free, df); its logs are matched to the containers by role."""
    converted = (reader.inp.manifest or {}).get("converted_from") or {}
    made = parse_iso(converted.get("made_at"))
    if made is not None:  # when the archive was made (redact dated the logs from it)
        reader.inp.made_at = made
        dated = converted.get("dated_lines")
        if isinstance(dated, int) and dated > 0:
            reader.inp.warnings.append(dating_note(str(converted.get("made_from") or "the archive's time"), made,
                                                   dated))
    ps_text = reader.text("guide/containers.txt")
    for row in parse_docker_ps(ps_text or ""):
        role = detect_role(row.name, row.image, row.command.split())[0]
        started, finished = status_times(row.status, reader.inp.made_at)  # dated by the archive's time
        facts.containers.append(ContainerInfo(name=row.name, role=role, image=row.image, state=row.state,
                                              exit_code=row.exit_code, cmd=row.command.split(),
                                              started_at=started, finished_at=finished))
    for log in facts.log_files:
        same_role = [c for c in facts.containers if c.role == log.role and log.role != "other"]
        if len(same_role) == 1:
            log.container = same_role[0].name
            same_role[0].log_file = same_role[0].log_file or log.path
        elif log.role in _GUIDE_LOG_NAMES:  # named after the guide's file, as when the archive is read
            log.container = _GUIDE_LOG_NAMES[log.role].rsplit(".", 1)[0]
    free_text = reader.text("guide/memory.txt")
    if free_text:
        apply_free_text(facts.host, free_text)
    df_text = reader.text("guide/disk.txt")
    if df_text:
        apply_df_text(facts.host, df_text)
    logs = {_GUIDE_LOG_NAMES[log.role]: log.path for log in facts.log_files if log.role in _GUIDE_LOG_NAMES}
    reader.inp.warnings.extend(converted_guide_warnings(reader.root, sorted(reader.files), logs))


# --- bundle -------------------------------------------------------------------------------------

def _load_bundle(reader: _Reader, facts: Facts) -> None:
    by_dir: dict[str, ContainerInfo] = {}
    for rel in sorted(reader.files):
        match = _CONTAINER_FILE.match(rel)
        if match and match.group(2) == "inspect":
            info = container_from_inspect(reader.json(rel), match.group(1))
            if info:
                by_dir[match.group(1)] = info
    for dir_name, info in by_dir.items():
        if f"containers/{dir_name}/logs.txt" in reader.files:
            info.log_file = f"containers/{dir_name}/logs.txt"
    facts.containers = list(by_dir.values())
    _merge_container_list(reader.json("docker/containers.json"), facts.containers)
    for rel in sorted(reader.files):
        match = _CONTAINER_FILE.match(rel)
        if not match:
            continue
        dir_name, kind = match.group(1), match.group(2)
        info = by_dir.get(dir_name)
        name = info.name if info else dir_name
        if kind == "logs":
            role = info.role if info else _role_from_manifest(reader.inp, name)
            facts.log_files.append(LogFile(path=rel, container=name, role=role))
        elif kind == "stats":
            stats = reader.json(rel)
            if isinstance(stats, dict):
                facts.host.container_stats[name] = summarize_stats(stats)
    facts.events = _load_events(reader)
    _load_host(reader, facts)
    facts.config_files = [_config_file(reader, rel) for rel in sorted(reader.files) if rel.startswith("config/")]
    facts.probes = [p for rel in sorted(reader.files) if rel.startswith("probes/") and rel.endswith(".json")
                    if (p := _probe(reader.json(rel), rel)) is not None]
    samples = reader.text(SAMPLES_FILE)  # only in bundles taken by `nodediag watch`
    if samples is not None:
        facts.resources, bad = parse_samples(samples, reader.inp.manifest)
        if bad:
            reader.inp.warnings.append(f"{SAMPLES_FILE}: {bad} line(s) are not samples and were skipped")


def _role_from_manifest(inp: LoadedInput, name: str) -> str:
    deployment = (inp.manifest or {}).get("deployment") if isinstance(inp.manifest, dict) else None
    for entry in (deployment or {}).get("containers") or [] if isinstance(deployment, dict) else []:
        if isinstance(entry, dict) and entry.get("name") == name and entry.get("role"):
            return str(entry["role"])
    return detect_role(name)[0]


def _as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _str_list(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value] if isinstance(value, list) else []


def env_list_to_dict(env: Any) -> dict[str, str]:
    """Docker's ``["KEY=value", ...]`` -> {KEY: value}."""
    result: dict[str, str] = {}
    for item in _str_list(env):
        key, _, value = item.partition("=")
        if key:
            result[key] = value
    return result


def container_from_inspect(data: Any, dir_name: str) -> ContainerInfo | None:
    if isinstance(data, list) and data:
        data = data[0]
    if not isinstance(data, dict):
        return None
    config, state, host_config = _as_dict(data.get("Config")), _as_dict(data.get("State")), _as_dict(
        data.get("HostConfig"))
    name = str(data.get("Name") or dir_name).lstrip("/")
    image = str(config.get("Image") or data.get("Image") or "")
    labels = {str(k): str(v) for k, v in _as_dict(config.get("Labels")).items()}
    command = [*_str_list(data.get("Path")), *_str_list(data.get("Args"))]
    if not command:
        command = [*_str_list(config.get("Entrypoint")), *_str_list(config.get("Cmd"))]
    role, _how = detect_role(name, image, [*_str_list(config.get("Cmd")), *command], labels)
    exit_code = state.get("ExitCode")
    memory = host_config.get("Memory")
    restart_count = data.get("RestartCount")
    return ContainerInfo(
        name=name, role=role, image=image, state=str(state.get("Status") or ""),
        exit_code=exit_code if isinstance(exit_code, int) and not isinstance(exit_code, bool) else None,
        oom_killed=state.get("OOMKilled") is True,
        restart_count=restart_count if isinstance(restart_count, int) else 0,
        started_at=parse_docker_time(state.get("StartedAt")),
        finished_at=parse_docker_time(state.get("FinishedAt")),
        env=env_list_to_dict(config.get("Env")), cmd=command,
        memory_limit=memory if isinstance(memory, int) and memory > 0 else None,
        restart_policy=str(_as_dict(host_config.get("RestartPolicy")).get("Name") or ""),
        id=str(data.get("Id") or ""), project=labels.get("com.docker.compose.project", ""),
        image_id=str(data.get("Image") or "") if str(data.get("Image") or "").startswith("sha256:") else "")


def _merge_container_list(data: Any, containers: list[ContainerInfo]) -> None:
    """docker/containers.json (the Engine's container list) adds containers not inspected, but
    only when nothing was inspected: the inspected ones ARE the deployment, and the rest of the
    host's containers must not produce findings about someone else's services."""
    if containers:
        return
    known: set[str] = set()
    for entry in data if isinstance(data, list) else []:
        if not isinstance(entry, dict):
            continue
        names = _str_list(entry.get("Names")) or _str_list(entry.get("Name") or entry.get("name"))
        name = names[0].lstrip("/") if names else ""
        if not name or name in known:
            continue
        image = str(entry.get("Image") or entry.get("image") or "")
        labels = {str(k): str(v) for k, v in _as_dict(entry.get("Labels") or entry.get("labels")).items()}
        command = str(entry.get("Command") or "").split()
        state_from_status, exit_code, _health = parse_status(str(entry.get("Status") or entry.get("status") or ""))
        containers.append(ContainerInfo(
            name=name, role=detect_role(name, image, command, labels)[0], image=image,
            state=str(entry.get("State") or entry.get("state") or state_from_status), exit_code=exit_code,
            cmd=command, id=str(entry.get("Id") or ""), project=labels.get("com.docker.compose.project", "")))
        known.add(name)


def _load_events(reader: _Reader, rel: str = "docker/events.jsonl") -> list[Event]:
    if rel not in reader.files:
        return []
    events: list[Event] = []
    bad = 0
    try:
        # streamed (it can be large), each line cut at --max-line-bytes (a cut line is not a valid event)
        with (reader.root / rel).open("rb") as raw, io.TextIOWrapper(
                io.BufferedReader(LineCappedReader(raw, reader.limits.max_line_bytes)),
                encoding="utf-8", errors="replace") as fh:
            for number, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    data = read_event(rel, number, line, reader.limits)
                except SchemaError:
                    bad += 1
                    continue
                event = _event(data, rel, number) if isinstance(data, dict) else None
                if event:
                    events.append(event)
    except OSError as exc:
        reader.inp.warnings.append(f"{rel} could not be read ({exc.strerror or exc}); events are missing")
    if bad:
        reader.inp.warnings.append(f"{rel}: {bad} line(s) are not valid JSON events and were skipped")
    events.sort(key=lambda e: (e.time, e.line))
    return events


def _event(data: dict[str, Any], rel: str, line: int) -> Event | None:
    if data.get("Type") not in (None, "container"):
        return None
    nano, seconds = data.get("timeNano"), data.get("time")
    if isinstance(nano, int) and not isinstance(nano, bool):
        moment = datetime.fromtimestamp(nano // 1_000_000_000, tz=timezone.utc).replace(
            microsecond=(nano % 1_000_000_000) // 1000)
    elif isinstance(seconds, (int, float)) and not isinstance(seconds, bool):
        moment = datetime.fromtimestamp(seconds, tz=timezone.utc)
    else:
        return None
    actor = _as_dict(data.get("Actor"))
    attributes = {str(k): str(v) for k, v in _as_dict(actor.get("Attributes")).items()}
    action = str(data.get("Action") or data.get("status") or "")
    if not action:
        return None
    ident = str(actor.get("ID") or data.get("id") or "")
    return Event(time=moment, container=attributes.get("name", ""), action=action, attributes=attributes,
                 file=rel, line=line, id=ident)


def _load_host(reader: _Reader, facts: Facts) -> None:
    host = facts.host
    summary = reader.json("host/summary.json")
    if isinstance(summary, dict):
        apply_summary(host, summary)
    memory = reader.json("host/memory.json")
    if isinstance(memory, dict):
        apply_memory(host, memory)
    manifest = reader.inp.manifest if isinstance(reader.inp.manifest, dict) else {}
    apply_manifest_host(host, _as_dict(manifest.get("host")))
    disk = reader.json("host/disk.json")
    if disk is not None:
        host.filesystems = parse_disk_json(disk)
    oom_text = reader.text("host/kernel-oom.txt")
    if oom_text is not None:
        host.kernel_oom = kernel_oom_records(oom_text, "host/kernel-oom.txt")


# --- configuration, probes ----------------------------------------------------------------------

def compose_environment(data: Any) -> dict[str, str]:
    """Every service's ``environment`` (map or list form) from a parsed compose file, merged."""
    env: dict[str, str] = {}
    services = _as_dict(data).get("services")
    for service in _as_dict(services).values():
        environment = _as_dict(service).get("environment")
        if isinstance(environment, dict):
            for key, value in environment.items():
                env[str(key)] = "" if value is None else str(value).lower() if isinstance(value, bool) \
                    else str(value)
        elif isinstance(environment, list):
            for item in environment:
                key, sep, value = str(item).partition("=")
                if key and sep:
                    env[key.strip()] = value
    return env


def _config_file(reader: _Reader, rel: str) -> ConfigFile:
    text = reader.text(rel) or ""
    if rel.endswith((".yml", ".yaml")):
        try:
            env = compose_environment(yaml.safe_load(text))
        except yaml.YAMLError as exc:
            reader.inp.warnings.append(f"{rel} is not valid YAML ({' '.join(str(exc).split())[:200]}); "
                                       "its environment was not read")
            env = {}
    else:
        env = env_values(text)
    return ConfigFile(path=rel, text=text, env=env)


def _probe(data: Any, rel: str) -> Probe | None:
    if not isinstance(data, dict):
        return None
    status = data.get("status")
    latency = data.get("latency_ms")
    return Probe(container=str(data.get("container") or ""), url=str(data.get("url") or ""),
                 via=str(data.get("via") or "skipped"),
                 status=status if isinstance(status, int) and not isinstance(status, bool) else None,
                 error=str(data.get("error") or ""),
                 latency_ms=float(latency) if isinstance(latency, (int, float)) else None, file=rel)


# --- manual guide -------------------------------------------------------------------------------

def _role_from_file_name(rel: str) -> str:
    stem = rel.rsplit("/", 1)[-1].split(".", 1)[0]
    return detect_role(stem)[0]


def _load_guide(reader: _Reader, facts: Facts) -> None:
    ps_text = reader.text("containers.txt")
    for row in parse_docker_ps(ps_text or ""):
        role = detect_role(row.name, row.image, row.command.split())[0]
        started, finished = status_times(row.status, reader.inp.made_at)  # dated by the archive's time
        facts.containers.append(ContainerInfo(name=row.name, role=role, image=row.image, state=row.state,
                                              exit_code=row.exit_code, cmd=row.command.split(),
                                              started_at=started, finished_at=finished))
    for rel in sorted(reader.files):
        if not rel.endswith(".log"):
            continue
        role = _role_from_file_name(rel)
        same_role = [c for c in facts.containers if c.role == role and role != "other"]
        if len(same_role) == 1:
            container = same_role[0].name
            same_role[0].log_file = same_role[0].log_file or rel
        else:
            container = rel.rsplit("/", 1)[-1].rsplit(".", 1)[0]
        facts.log_files.append(LogFile(path=rel, container=container, role=role))
    free_text = reader.text("memory.txt")
    if free_text:
        apply_free_text(facts.host, free_text)
    df_text = reader.text("disk.txt")
    if df_text:
        apply_df_text(facts.host, df_text)
    facts.config_files = [_config_file(reader, rel) for rel in sorted(reader.files)
                          if rel.endswith((".env", ".yml", ".yaml")) or rel.rsplit("/", 1)[-1] == ".env"]
