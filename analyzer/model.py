"""Typed objects shared by the analyzer's layers: input -> parsing -> rules -> report.

Parsers turn raw bundle files into these; rules read only these (never raw files); the report
renders only these. Nothing here imports Docker or psutil.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, get_args

# Canonical level names, lowest to highest. Parsers map every format's levels onto these.
LEVELS = ("TRACE", "DEBUG", "VERBOSE", "INFO", "WARN", "ERROR", "FATAL")
LEVEL_RANK = {name: i for i, name in enumerate(LEVELS)}

# Severities of findings, lowest to highest.
Severity = Literal["info", "low", "medium", "high", "critical"]
SEVERITIES: tuple[Severity, ...] = get_args(Severity)
SEVERITY_RANK: dict[str, int] = {name: i for i, name in enumerate(SEVERITIES)}

# What a finding is: a cause, a symptom of one, a setting, a resource, a gap in the input, a note.
Category = Literal["cause", "symptom", "config", "resource", "data-gap", "info"]
CATEGORIES: tuple[Category, ...] = get_args(Category)

ROLES = ("prover-node", "prover-broker", "prover-agent", "other")


@dataclass(slots=True)
class Record:
    """One log record: a pino line plus its continuation lines, or one raw line."""

    container: str  # container name ("" when unknown, e.g. a single log file without prefix)
    role: str  # one of ROLES
    file: str  # bundle-relative path of the file it came from
    line_start: int  # 1-based first line in that file
    line_end: int  # 1-based last line (>= line_start; continuation lines extend it)
    time: datetime | None  # timezone-aware UTC; None when the line carries no usable time
    level: str | None  # one of LEVELS, None for raw output
    module: str | None  # e.g. "prover-client:orchestrator"
    message: str  # first line's message, ANSI stripped, without level/module prefix
    data: dict[str, Any] = field(default_factory=dict)  # JSON data / k=v pairs
    stack: list[str] = field(default_factory=list)  # continuation lines (stack trace, [cause] ...)
    raw: str = ""  # the original first line (ANSI stripped), for evidence
    kind: str = "pino"  # pino | pino-json | aztec-2024 | json-2024 | raw | node-fatal

    @property
    def text(self) -> str:
        """Message plus continuation lines: what rules match against."""
        if not self.stack:
            return self.message
        return self.message + "\n" + "\n".join(self.stack)


@dataclass(slots=True)
class ParseStats:
    """How much of one log file was understood. Unrecognized lines are kept as raw records."""

    file: str
    lines: int = 0
    records: int = 0
    unrecognized: int = 0
    formats: dict[str, int] = field(default_factory=dict)


@dataclass(slots=True)
class ContainerInfo:
    name: str
    role: str
    image: str = ""
    state: str = ""  # running, exited, restarting, ...
    exit_code: int | None = None
    oom_killed: bool = False
    restart_count: int = 0
    started_at: datetime | None = None
    finished_at: datetime | None = None
    env: dict[str, str] = field(default_factory=dict)  # redacted Config.Env as a map
    cmd: list[str] = field(default_factory=list)
    memory_limit: int | None = None
    restart_policy: str = ""
    log_file: str | None = None  # bundle-relative path of its logs
    id: str = ""  # full container id, when the input has it (kernel cgroup records name it)
    project: str = ""  # its compose project (label com.docker.compose.project), "" when unknown
    image_id: str = ""  # the image's id (sha256:...): two tags of one image are one release


@dataclass(slots=True)
class Event:
    """A Docker event or state change, for the timeline."""

    time: datetime
    container: str
    action: str  # start, die, oom, kill, restart, stop, health_status: unhealthy, ...
    attributes: dict[str, str] = field(default_factory=dict)
    file: str = "docker/events.jsonl"
    line: int = 0
    id: str = ""  # the container's full id: events of an earlier container of the same name differ


@dataclass(slots=True)
class Evidence:
    file: str
    line_start: int
    line_end: int
    lines: list[str]  # the lines themselves (already redacted in the bundle)
    container: str = ""
    time: datetime | None = None
    note: str = ""
    before: list[str] = field(default_factory=list)  # up to 3 lines of the file before line_start
    after: list[str] = field(default_factory=list)  # ... and after line_end (grep -B/-A)


@dataclass(slots=True)
class Finding:
    rule_id: str
    title: str
    severity: Severity
    category: Category
    meaning: str
    action: str
    container: str = ""  # the container it is about (the first, when it hit several)
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    count: int = 0
    evidence: list[Evidence] = field(default_factory=list)
    caused_by: list[str] = field(default_factory=list)  # rule ids of likely causes
    confidence: str = "medium"  # low | medium | high
    details: dict[str, Any] = field(default_factory=dict)
    containers: list[str] = field(default_factory=list)  # every container it hit, when more than one


@dataclass(slots=True)
class DataGap:
    """Something the report cannot see: a failed/timed-out/truncated source, a bad checksum."""

    source: str
    status: str  # failed | timeout | skipped | truncated | checksum-mismatch | missing
    detail: str
    files: list[str] = field(default_factory=list)


@dataclass(slots=True)
class LoadedInput:
    """An input opened safely: its files lie under ``root`` (a private temp folder or the user's
    extracted folder, read-only use). ``kind`` is bundle-v1 | folder-v1 | manual-guide | single-log."""

    kind: str
    root: Any  # pathlib.Path
    files: list[str]  # bundle-relative paths, "/" separated
    manifest: dict[str, Any] | None
    gaps: list[DataGap] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    name: str = ""  # what the user passed, for the report header
    made_at: datetime | None = None  # when the input was made, when only that dates it (the guide's archive)
    # files of ``files`` that are not under ``root`` but read straight from the bundle, each in a
    # Zstandard frame of its own (inputs/frames.py OwnFrame); checked against the manifest once
    # read. How the input was read, not what it holds: not in the JSON report.
    own_frames: dict[str, Any] = field(default_factory=dict, metadata={"report": False})
    # files of ``files`` still being written by a child process that redacts them (a raw log:
    # inputs/redact_ahead.py RedactAhead): read them as they grow; not in the JSON report
    growing: dict[str, Any] = field(default_factory=dict, metadata={"report": False})
    # a raw input (a log, the guide's archive): the secrets its redaction learnt (every form, with
    # its placeholder: nodediag.redaction Literal), to be removed from the other inputs of one
    # analysis (inputs/shared.py); None for a nodediag bundle. Secret values: never reported.
    learnt: list[Any] | None = field(default=None, metadata={"report": False})


def same_incarnation(event_id: str, container_id: str) -> bool:
    """Whether an event's container id names this container and not an earlier one of the same
    name (``compose down && up``, ``rm -f`` and a new ``run``); true when either id is unknown.
    Ids are compared on their common length (docker prints short and full ids)."""
    n = min(len(event_id), len(container_id))
    return n == 0 or event_id[:n] == container_id[:n]


@dataclass(slots=True)
class LogFile:
    """A log file in the input and whose it is."""

    path: str  # bundle-relative
    container: str  # "" when the file mixes containers (compose prefixes tell them apart)
    role: str
    time_shift_s: float = 0.0  # added to every record's time: its host's clock correction (merge.py)


@dataclass(slots=True)
class ConfigFile:
    path: str  # bundle-relative
    text: str  # as stored (redacted by the collector, or redacted on read for manual-guide input)
    env: dict[str, str] = field(default_factory=dict)  # KEY -> value parsed from .env / compose


@dataclass(slots=True)
class Probe:
    container: str
    url: str
    via: str  # "host" | "netns" | "skipped"
    status: int | None  # HTTP status, None when unreachable/skipped
    error: str = ""
    latency_ms: float | None = None
    file: str = ""


@dataclass(slots=True)
class Filesystem:
    mountpoint: str
    device: str
    fstype: str
    total: int
    used: int
    free: int
    percent: float
    role: str = ""  # docker-data-root | deployment-data | ""


@dataclass(slots=True)
class HostFacts:
    hostname: str = ""
    cpus: int | None = None
    cpu_model: str = ""
    load: list[float] = field(default_factory=list)  # 1, 5, 15 min
    memory_total: int | None = None
    memory_available: int | None = None
    swap_total: int | None = None
    swap_used: int | None = None
    uptime_s: float | None = None
    filesystems: list[Filesystem] = field(default_factory=list)
    kernel_oom: list[Evidence] = field(default_factory=list)  # one per kernel OOM-kill record
    container_stats: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> stats summary


ClockBasis = Literal["reference", "paired-records", "ntp", "unknown"]


@dataclass(slots=True)
class HostView:
    """One host of a deployment analysed from several inputs (analyzer/merge.py): who it is, what
    was read from it, and how its clock was set against the others'."""

    label: str  # how the report names it; containers are "<label>/<name>" when hosts are several
    hostname: str = ""
    host_id: str = ""  # the collector's stable id (hash of /etc/machine-id, or the boot id)
    inputs: list[str] = field(default_factory=list)  # what the user passed, for this host
    containers: list[str] = field(default_factory=list)  # names as in Facts.containers
    facts: HostFacts = field(default_factory=HostFacts)
    collected_at: datetime | None = None  # the host's own clock at collection
    clock_synchronized: bool | None = None  # NTP sync state recorded at collection; None: unknown
    clock_offset_s: float = 0.0  # correction added to this host's times
    clock_error_s: float | None = None  # how far the corrected times may still be off; None: unknown
    clock_basis: ClockBasis = "unknown"
    clock_pairs: int = 0  # paired records (broker/agent jobs, node/broker jobs and epochs) the estimate rests on
    clock_pair_kinds: dict[str, int] = field(default_factory=dict)  # those pairs by kind ("broker/agent jobs", ...)
    clock_low_s: float | None = None  # the pairs' bounds on the correction; None: no bound on that side
    clock_high_s: float | None = None


@dataclass(slots=True)
class ContainerPoint:
    """One watch sample of a container (``nodediag watch``)."""

    time: datetime
    state: str = ""
    mem_used: int | None = None  # bytes, as `docker stats` counts them (page cache excluded)
    mem_limit: int | None = None  # bytes: the container's limit, else the host's memory
    mem_limited: bool = False  # True when mem_limit is the container's own limit
    cpu_percent: float | None = None  # of one core
    restart_count: int | None = None


@dataclass(slots=True)
class HostPoint:
    time: datetime
    mem_total: int | None = None
    mem_available: int | None = None
    swap_total: int | None = None
    swap_used: int | None = None
    load1: float | None = None


@dataclass(slots=True)
class DiskPoint:
    time: datetime
    used: int | None = None
    total: int | None = None
    percent: float | None = None


@dataclass(slots=True)
class StatusPoint:
    time: datetime
    status: int | None = None  # HTTP status of GET /status, None when it did not answer
    error: str = ""


@dataclass(slots=True)
class ResourceSummary:
    """One container's watch samples in a few numbers: memory and CPU at the first sample, at the
    peak and at the last sample before the trigger (the last sample when no trigger is known)."""

    container: str
    role: str = ""
    samples: int = 0
    first_time: datetime | None = None
    last_time: datetime | None = None  # the last sample at or before the trigger
    mem_start: int | None = None
    mem_peak: int | None = None
    mem_last: int | None = None
    mem_limit: int | None = None  # the container's own limit; None when it has none
    host_memory: int | None = None  # what it may use without a limit (the host's memory)
    cpu_start: float | None = None  # percent of one core
    cpu_peak: float | None = None
    cpu_last: float | None = None
    state_last: str = ""


@dataclass(slots=True)
class ResourceSeries:
    """The watcher's samples carried by a bundle (``watch/samples.jsonl``), as series over time."""

    file: str
    containers: dict[str, list[ContainerPoint]] = field(default_factory=dict)  # container name -> points
    roles: dict[str, str] = field(default_factory=dict)  # container name -> role
    host: list[HostPoint] = field(default_factory=list)
    filesystems: dict[str, list[DiskPoint]] = field(default_factory=dict)  # mount (or container:path) -> points
    filesystem_roles: dict[str, str] = field(default_factory=dict)  # docker-data-root | deployment-data
    status: dict[str, list[StatusPoint]] = field(default_factory=dict)  # container -> GET /status results
    interval_s: float | None = None
    trigger: dict[str, Any] | None = None  # the manifest's trigger: kind, container, time, detail
    summary: list[ResourceSummary] = field(default_factory=list)  # per container, agents first


@dataclass(slots=True)
class Facts:
    """Everything the analyzer knows about the input besides log records."""

    containers: list[ContainerInfo] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    host: HostFacts = field(default_factory=HostFacts)
    config_files: list[ConfigFile] = field(default_factory=list)
    probes: list[Probe] = field(default_factory=list)
    log_files: list[LogFile] = field(default_factory=list)
    resources: ResourceSeries | None = None  # samples of `nodediag watch`, when the bundle has them
    hosts: list[HostView] = field(default_factory=list)  # several inputs merged (merge.py); else empty


@dataclass(slots=True)
class TimelineEntry:
    time: datetime
    container: str
    kind: str  # "record" | "event" | "finding"
    level: str  # a LEVEL for records, a severity for findings, "event" for events
    text: str
    file: str = ""
    line: int = 0
    rule_id: str = ""
    action: str = ""  # events: the Docker action ("die", "oom", ...), "exit" for the state's exit
    count: int = 1  # records the row stands for (repeats and alternating pairs collapse into one)
    until: datetime | None = None  # the last of them, when count > 1
    # for a container's exit: its last log lines before it, as (line number, text); 0 when unknown
    last_lines: list[tuple[int, str]] = field(default_factory=list)


@dataclass(slots=True)
class UnexplainedGroup:
    """Records of one message shape that no finding explains (ERROR/FATAL, or a WARN that
    repeats): the message with numbers, hashes and ids masked, and one example as it was logged."""

    level: Literal["FATAL", "ERROR", "WARN"]
    module: str  # masked like the message; "" when the records carry no module
    message: str  # numbers as <n>, hex as 0x<hex> / <hex>, UUIDs as <uuid>, IPs as <ip>
    count: int
    containers: list[str] = field(default_factory=list)
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    example: str = ""  # the first record's first line, as logged
    file: str = ""  # where the example is (bundle-relative) ...
    line: int = 0  # ... and its 1-based line
    example_container: str = ""
    example_time: datetime | None = None
    matched_rules: list[str] = field(default_factory=list)  # rules that matched but reported no finding


@dataclass(slots=True)
class Verdict:
    headline: str  # the report's first sentence
    rule_id: str | None  # the root-cause finding, None when evidence is thin
    container: str = ""
    started_at: datetime | None = None
    confidence: str = "low"  # low | medium | high


@dataclass(slots=True)
class AnalysisResult:
    """What the report renders (HTML, Markdown and JSON alike)."""

    input: LoadedInput
    facts: Facts
    verdict: Verdict
    findings: list[Finding]  # ordered: data gaps, then causes before their symptoms, then the rest
    timeline: list[TimelineEntry]
    incident_window: tuple[datetime, datetime] | None
    parse_stats: list[ParseStats]
    level_series: dict[str, list[tuple[datetime, dict[str, int]]]] = field(default_factory=dict)
    # container -> [(minute bucket start, {"ERROR": n, "WARN": n, ...})], for the charts
    analyzed_at: datetime | None = None
    tool_version: str = ""
    # errors (and repeated warnings) no finding explains, grouped by message shape
    unexplained: list[UnexplainedGroup] = field(default_factory=list)
    unexplained_left_out: int = 0  # records of shapes beyond the grouping's cap
