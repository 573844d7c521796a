"""Host clocks from paired records: what the job lines of the broker, the agents and the node say
about one another's clocks (merge.py sets each host's clock with it).

Every pair is one event known to precede another, each logged on its own host. With ``c`` the
correction added to the other host's times to put them on the broker host's clock:

- broker ``New proving job id=X`` precedes the agent's ``Starting job id=X``: c >= new - start;
- the agent's ``Job id=X ... completed`` precedes the broker's ``Proving job complete id=X``:
  c <= complete - completed;
- the node's facade logs ``Job enqueued with broker id=X`` (also ``already in queue ..``, ``already
  completed when sent to broker``) once the broker answered its enqueue call, so after the
  broker's ``New proving job id=X``: c >= new - enqueued;
- the node learns a result (``Received notification of completed job id=X``, ``Resolved proving job
  id=X``, ``Resolving proving job with error id=X``) after the broker settled it (``Proving job
  complete id=X``, ``Marking proving job as failed id=X``): c >= settled - learnt;
- with DEBUG JSON-RPC logging, the node's ``request proverBroker_enqueueProvingJob .. id: 'X'``
  precedes the broker's ``New proving job id=X``: c <= new - request;
- the node's ``Starting epoch N proving job`` precedes the first job of epoch N the broker
  receives (a job id starts with its epoch, ``N:TYPE:hash``; the broker also logs
  ``epochNumber=N``): c <= first new of N - start;
- the first ``ROOT_ROLLUP`` job of epoch N the broker completes precedes the node's first
  ``Finalized proof for epoch N``: c >= that completion - finalized.

Lower bounds and upper bounds together give an interval: its middle is the correction, half its
width the error. One side only gives no error (the least correction that satisfies it is used).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from nodediag.analyzer.facts import parse_docker_time
from nodediag.analyzer.model import Evidence, Facts, HostView, LoadedInput, LogFile
from nodediag.analyzer.rules.correlation import ORDER_GRACE
from nodediag.bundle.frames import FrameMemberReader, OwnFrame

SKEW_SHOWN_S = 2.0  # a correction larger than this (and than its error) is reported as skew
PAIR_SLACK_S = 1.0  # added to the hosts' errors: how late a logged cause may follow its symptom

BLOCK = 4 << 20  # job lines are scanned in blocks of this many bytes
# a job id; what was done to it is in the words before (_MARKERS), the time at the line's start
_ID = re.compile(rb"[^\s,]+")  # after " id=" (found with bytes.find: faster than a regex over the block)
# (words before the id, kind): the broker's, the agents' and the node's facade's job lines
_MARKERS = ((b"New proving job id=", "broker_new"), (b"Proving job complete id=", "broker_done"),
            (b"Marking proving job as failed id=", "broker_failed"),
            (b"Starting job id=", "agent_start"), (b"Job id=", "agent_done"),
            (b"Job enqueued with broker id=", "node_enqueued"),
            (b"Job already in queue or in progress when sent to broker id=", "node_enqueued"),
            (b"Job already completed when sent to broker id=", "node_enqueued"),
            (b"Received notification of completed job id=", "node_settled"),
            (b"Resolved proving job id=", "node_settled"), (b"Resolving proving job with error id=", "node_settled"))
_ROLE_KINDS = {"prover-broker": ("broker_new", "broker_done", "broker_failed"),
               "prover-agent": ("agent_start", "agent_done"),
               "prover-node": ("node_enqueued", "node_settled")}
_STAMP_AT = re.compile(rb"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2}))[ \t]")
_COMPLETED = re.compile(rb" (?:type=\S+ )?completed\b")  # after an agent's "Job id=X"
_ROOT_ROLLUP = re.compile(rb" type=ROOT_ROLLUP\b")  # after the broker's "Proving job complete id=X"
_EPOCH_OF_JOB = re.compile(rb"epochNumber\W{1,3}(\d+)")  # on the broker's "New proving job" line
_EPOCH_PREFIX = re.compile(r"^(\d+):")  # job ids are "<epoch>:<type>:<inputs hash>"
_BROKER_AGENT = re.compile(rb"\bAgent ([\w.:-]+) took job\b|\bagent(?:Id|Name|Host)?[=:] ?\"?([\w.:-]+)")
_STAMP = re.compile(rb"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2}))\s")
# the node's lines about its epochs, and its JSON-RPC client's request (DEBUG) to enqueue a job: each
# found by a literal (bytes.find), then read by its regex
_NODE_LINES = ((b"Starting epoch ", re.compile(rb"Starting epoch (\d+) proving job"), "epoch_start"),
               (b" proof for epoch ", re.compile(rb"Finali[sz]ed proof for epoch (\d+)"), "epoch_final"),
               (b"enqueueProvingJob", re.compile(
                   rb"request \w*enqueueProvingJob\b[^\n]{0,200}?\bid[\"']?\s*[:=]\s*[\"']?([^\"'\s,}]+)"),
                "node_requested"))

# the kinds of job record a JobLog keeps, by job id
TIMES = ("broker_new", "broker_done", "broker_failed", "agent_start", "agent_done", "node_enqueued",
         "node_settled", "node_requested", "root_done")
PairKind = str  # "broker/agent jobs" | "node/broker jobs" | "node/broker epochs"


@dataclass(slots=True)
class JobLog:
    """What the logs of one input say about proving jobs, by job id (first time seen, the input's
    own clock), the epochs the node started and finalised, and the agents the broker names."""

    broker_new: dict[str, datetime] = field(default_factory=dict)
    broker_done: dict[str, datetime] = field(default_factory=dict)
    broker_failed: dict[str, datetime] = field(default_factory=dict)
    agent_start: dict[str, datetime] = field(default_factory=dict)
    agent_done: dict[str, datetime] = field(default_factory=dict)
    node_enqueued: dict[str, datetime] = field(default_factory=dict)  # the broker had it by then
    node_settled: dict[str, datetime] = field(default_factory=dict)  # the broker had settled it by then
    node_requested: dict[str, datetime] = field(default_factory=dict)  # before the broker had it
    root_done: dict[str, datetime] = field(default_factory=dict)  # the broker's ROOT_ROLLUP completions
    job_epoch: dict[str, int] = field(default_factory=dict)  # from the broker's epochNumber=N
    epoch_start: dict[int, datetime] = field(default_factory=dict)  # the node's "Starting epoch N"
    epoch_final: dict[int, datetime] = field(default_factory=dict)  # the node's "Finalized proof for epoch N"
    agents: dict[str, Evidence] = field(default_factory=dict)  # agent name the broker gave -> first line
    # job id -> the broker's completion line: file, container, line number, the line
    done_lines: dict[str, tuple[str, str, int, bytes]] = field(default_factory=dict)

    def add(self, other: JobLog, shift: timedelta = timedelta()) -> None:
        """Take ``other``'s records (its times moved by ``shift``), keeping the earliest of each."""
        for name in TIMES:
            into = getattr(self, name)
            for key, when in getattr(other, name).items():
                if key not in into or when + shift < into[key]:
                    into[key] = when + shift
        for epochs, theirs in ((self.epoch_start, other.epoch_start), (self.epoch_final, other.epoch_final)):
            for epoch, when in theirs.items():
                if epoch not in epochs or when + shift < epochs[epoch]:
                    epochs[epoch] = when + shift
        for job, epoch in other.job_epoch.items():
            self.job_epoch.setdefault(job, epoch)


# --- scanning job lines -------------------------------------------------------------------------

def _job_ids(block: bytes) -> Iterator[tuple[int, int, bytes]]:
    """(where it starts, where it ends, the id) of every `` id=X`` in ``block``."""
    pos = block.find(b" id=")
    while pos >= 0:
        start = pos + 4
        found = _ID.match(block, start)
        if found:
            yield start, found.end(), found.group()
        pos = block.find(b" id=", start)


def _blocks(inp: LoadedInput, rel: str) -> Iterator[bytes]:
    """The file in blocks of whole lines (the last may lack its newline)."""
    frame: OwnFrame | None = inp.own_frames.get(rel)
    try:
        with FrameMemberReader(frame) if frame else open(Path(inp.root) / rel, "rb") as reader:
            rest = b""
            while chunk := reader.read(BLOCK):
                cut = chunk.rfind(b"\n")
                if cut < 0:
                    rest += chunk
                    continue
                yield rest + chunk[:cut + 1]
                rest = chunk[cut + 1:]
            if rest:
                yield rest
    except (OSError, ValueError):
        return  # the analysis reads the file again and reports what is wrong with it


def scan_jobs(inp: LoadedInput, facts: Facts, *, agents_too: bool = True, nodes_too: bool = False,
              shift_s: float = 0.0) -> JobLog:
    """The job lines of ``inp``'s broker logs (its agents' when ``agents_too``, its nodes' when
    ``nodes_too``: only the clocks of several hosts need them)."""
    jobs = JobLog()
    wanted = {"prover-broker"} | ({"prover-agent"} if agents_too else set()) | ({"prover-node"} if nodes_too else set())
    for log in facts.log_files:
        if log.role in wanted:
            _scan(inp, log, jobs, shift_s)
    return jobs


def _time(stamp: bytes) -> datetime | None:
    if len(stamp) == 30 and stamp.endswith(b"Z"):  # Docker's: nanoseconds, UTC
        try:
            return datetime.fromisoformat(stamp[:26].decode()).replace(tzinfo=timezone.utc)
        except ValueError:
            return None
    return parse_docker_time(stamp.decode(errors="replace"))


def _stamp(line: bytes, shift_s: float) -> datetime | None:
    match = _STAMP.match(line)
    moment = _time(match.group(1)) if match else None
    return moment + timedelta(seconds=shift_s) if moment and shift_s else moment


class _LineNumbers:
    """Line numbers of positions in a block, asked for in increasing order."""

    def __init__(self, block: bytes, first: int) -> None:
        self.block, self.pos, self.line = block, 0, first

    def at(self, pos: int) -> int:
        self.line += self.block.count(b"\n", self.pos, pos)
        self.pos = pos
        return self.line


def _line_time(block: bytes, at: int, shift: timedelta) -> tuple[int, datetime] | None:
    """(where the line holding ``at`` begins, its Docker time moved by ``shift``)."""
    begin = block.rfind(b"\n", 0, at) + 1
    stamp = _STAMP_AT.match(block, begin)
    when = _time(stamp.group(1)) if stamp else None
    if when is None:
        return None
    return begin, when + shift if shift else when


def _keep_first(into: dict, key: object, when: datetime) -> bool:
    if key in into and into[key] <= when:
        return False
    into[key] = when
    return True


def _scan(inp: LoadedInput, log: LogFile, jobs: JobLog, shift_s: float) -> None:
    kinds = _ROLE_KINDS.get(log.role, ())
    markers = tuple((marker, kind) for marker, kind in _MARKERS if kind in kinds)
    node, broker = log.role == "prover-node", log.role == "prover-broker"
    shift = timedelta(seconds=shift_s)
    first_line = 1
    for block in _blocks(inp, log.path):
        numbers = _LineNumbers(block, first_line)
        for at, id_end, raw_id in _job_ids(block):
            kind = next((k for marker, k in markers if block.endswith(marker, 0, at)), "")
            if not kind:
                continue
            if kind == "agent_done" and (block[at - 8:at - 7].isalnum()  # "Job id=" as a word only
                                         or not _COMPLETED.match(block, id_end)):
                continue
            found = _line_time(block, at, shift)
            if found is None:
                continue
            begin, when = found
            job = raw_id.decode(errors="replace")
            if kind == "broker_new":
                end = block.find(b"\n", id_end)
                epoch_at = _EPOCH_OF_JOB.search(block, id_end, end if end >= 0 else len(block))
                if epoch_at:
                    jobs.job_epoch.setdefault(job, int(epoch_at.group(1)))
            if not _keep_first(getattr(jobs, kind), job, when):
                continue
            if kind == "broker_done":  # where the broker recorded it complete: evidence, should no agent do it
                end = block.find(b"\n", id_end)
                jobs.done_lines[job] = (log.path, log.container, numbers.at(begin),
                                        block[begin:end if end >= 0 else len(block)])
                if _ROOT_ROLLUP.match(block, id_end):
                    jobs.root_done[job] = when
        if node:
            for literal, line_re, kind in _NODE_LINES:
                into = getattr(jobs, kind)
                pos = block.find(literal)
                while pos >= 0:
                    begin = block.rfind(b"\n", 0, pos) + 1
                    end = block.find(b"\n", pos)
                    read = line_re.search(block, begin, end if end >= 0 else len(block))
                    found = _line_time(block, pos, shift) if read else None
                    if read and found is not None:
                        key = read.group(1).decode(errors="replace")
                        _keep_first(into, key if kind == "node_requested" else int(key), found[1])
                    pos = block.find(literal, pos + len(literal))
        if broker:
            numbers = _LineNumbers(block, first_line)
            for agent in _BROKER_AGENT.finditer(block):
                name = (agent.group(1) or agent.group(2)).decode(errors="replace")
                if name in jobs.agents:
                    continue
                begin = block.rfind(b"\n", 0, agent.start()) + 1
                end = block.find(b"\n", agent.end())
                line = block[begin:end if end >= 0 else len(block)]
                number = numbers.at(begin)
                jobs.agents[name] = Evidence(file=log.path, line_start=number, line_end=number,
                                             lines=[line.decode(errors="replace").rstrip("\r")],
                                             container=log.container, time=_stamp(line, shift_s))
        first_line += block.count(b"\n")


# --- clock offsets ------------------------------------------------------------------------------

def _epoch(jobs: JobLog, job: str) -> int | None:
    if job in jobs.job_epoch:
        return jobs.job_epoch[job]
    prefix = _EPOCH_PREFIX.match(job)
    return int(prefix.group(1)) if prefix else None


def _first_by_epoch(jobs: JobLog, times: dict[str, datetime]) -> dict[int, datetime]:
    first: dict[int, datetime] = {}
    for job, when in times.items():
        epoch = _epoch(jobs, job)
        if epoch is not None and (epoch not in first or when < first[epoch]):
            first[epoch] = when
    return first


def pair_bounds(broker: JobLog, other: JobLog) -> tuple[list[float], list[float], dict[PairKind, int]]:
    """Every bound (seconds) the pairs give on the correction to add to ``other``'s times to put
    them on ``broker``'s clock: lower bounds and upper bounds, and how many pairs of each kind."""
    def diffs(ref: dict[str, datetime], theirs: dict[str, datetime]) -> list[float]:
        return [(ref[j] - t).total_seconds() for j, t in theirs.items() if j in ref]

    lows = diffs(broker.broker_new, other.agent_start)
    highs = diffs(broker.broker_done, other.agent_done)
    kinds: dict[PairKind, int] = {}
    if lows or highs:
        kinds["broker/agent jobs"] = len(lows) + len(highs)
    settled = {**broker.broker_failed, **broker.broker_done}
    node_lows = diffs(broker.broker_new, other.node_enqueued) + diffs(settled, other.node_settled)
    node_highs = diffs(broker.broker_new, other.node_requested)
    if node_lows or node_highs:
        kinds["node/broker jobs"] = len(node_lows) + len(node_highs)
    first_new = _first_by_epoch(broker, broker.broker_new)
    first_root = _first_by_epoch(broker, broker.root_done)
    epoch_highs = [(first_new[n] - t).total_seconds() for n, t in other.epoch_start.items() if n in first_new]
    epoch_lows = [(first_root[n] - t).total_seconds() for n, t in other.epoch_final.items() if n in first_root]
    if epoch_highs or epoch_lows:
        kinds["node/broker epochs"] = len(epoch_highs) + len(epoch_lows)
    return lows + node_lows + epoch_lows, highs + node_highs + epoch_highs, kinds


def offset_bounds(broker: JobLog, other: JobLog) -> tuple[float | None, float | None, int]:
    """Bounds (seconds) of the correction to add to the other host's times to put them on the
    broker host's clock, and how many record pairs gave them. A few pairs that contradict the
    rest (a late completion of a job another agent finished) are set aside."""
    low_list, high_list, kinds = pair_bounds(broker, other)
    return narrowest(low_list, high_list) + (sum(kinds.values()),)


def narrowest(low_list: list[float], high_list: list[float]) -> tuple[float | None, float | None]:
    """The tightest lower and upper bound that agree, setting aside at most a tenth of either side."""
    lows, highs = sorted(low_list, reverse=True), sorted(high_list)
    if not lows or not highs:
        return (lows[0] if lows else None), (highs[0] if highs else None)
    trim = max(len(lows), len(highs)) // 10
    for dropped in range(trim + 1):
        for low_drop in range(dropped + 1):
            high_drop = dropped - low_drop
            if low_drop < len(lows) and high_drop < len(highs) and lows[low_drop] <= highs[high_drop]:
                return lows[low_drop], highs[high_drop]
    return lows[0], highs[0]  # contradictory: the caller sees low > high


def estimate_offset(low: float | None, high: float | None, pairs: int) -> tuple[float, float | None]:
    """The correction and its error from the bounds ``offset_bounds`` gave."""
    if low is not None and high is not None:
        if low > high:  # the pairs contradict each other: no estimate
            return 0.0, None
        if low <= 0.0 <= high:  # no sign of skew: keep the times
            return 0.0, max(-low, high)
        return (low + high) / 2, (high - low) / 2
    if low is not None:  # only a lower bound: the least correction that satisfies it
        return (low, None) if low > 0 else (0.0, None)
    if high is not None:
        return (high, None) if high < 0 else (0.0, None)
    return 0.0, None


def order_grace(hosts: list[HostView]) -> Callable[[str, str], timedelta]:
    """For link_causes: how long after a symptom a cause may still be dated and linked. Within one
    host, the usual grace (two writers' lines interleaved under one clock); across hosts whose
    clock errors are estimated, those two errors and a second of slack (the processes log
    independently): the chain agent host -> broker host -> node host composes the agent's and
    the node's errors against the broker's clock; across hosts of unknown error, the usual grace.
    A place is a container name or, for a host-level finding, a host's label."""
    host_of = {name: host for host in hosts for name in host.containers}
    host_of.update({host.label: host for host in hosts})

    def grace(cause: str, symptom: str) -> timedelta:
        a, b = host_of.get(cause), host_of.get(symptom)
        if a is None or b is None or a is b or a.clock_error_s is None or b.clock_error_s is None:
            return ORDER_GRACE
        return timedelta(seconds=a.clock_error_s + b.clock_error_s + PAIR_SLACK_S)

    return grace


def clock_note(host: HostView, reference: HostView) -> str:
    """One line on how ``host``'s clock was set against the reference host's."""
    if host.clock_basis == "reference":
        return f"clock of {host.label}: the reference (it holds the broker's logs, or comes first)"
    if host.clock_basis == "paired-records":
        error = f" ± {host.clock_error_s:.1f} s" if host.clock_error_s is not None else " (error unknown: one-sided)"
        skewed = abs(host.clock_offset_s) > SKEW_SHOWN_S and (host.clock_error_s is None
                                                               or abs(host.clock_offset_s) > host.clock_error_s)
        verb = "is skewed: it runs" if skewed else "runs"
        side = "behind" if host.clock_offset_s > 0 else "ahead of"
        kinds = ", ".join(f"{n} {kind}" for kind, n in host.clock_pair_kinds.items())
        return (f"clock of {host.label} {verb} {abs(host.clock_offset_s):.1f} s{error} {side} {reference.label}'s "
                f"(from {host.clock_pairs} paired record(s): {kinds or 'job records'}); its times were corrected by "
                f"{host.clock_offset_s:+.1f} s")
    if host.clock_basis == "ntp":
        return (f"clock of {host.label}: no job records pair it with {reference.label}; both were NTP-synchronised "
                f"at collection, so its times are taken as they are (± {host.clock_error_s or 0:.1f} s)")
    return (f"clock of {host.label}: no job records pair it with {reference.label} and its NTP state is unknown; "
            "its times are taken as they are, and events across the two hosts may be misordered")
