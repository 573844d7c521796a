"""The incident timeline and the per-minute level counts, gathered while records stream by.

Memory is bounded: repeated messages collapse into one entry with a count, and at most
``PER_HOUR_CAP`` entries are kept per container and hour (records a rule matched have their own
quota, so a flood of warnings cannot hide them). When the timeline is built, entries
inside the incident window are all kept (up to ``WINDOW_CAP``) and the rest are sampled evenly
down to ``OUTSIDE_CAP``; ``TimelineBuild.note`` says what was left out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from nodediag.analyzer.model import (
    LEVEL_RANK,
    ContainerInfo,
    Event,
    Evidence,
    Finding,
    Record,
    TimelineEntry,
    same_incarnation,
)
from nodediag.analyzer.parsing.logs import Repeats
from nodediag.analyzer.rules.evidence import inspect_path

COUNTED_LEVELS = ("WARN", "ERROR", "FATAL")
PER_HOUR_CAP = 300
WINDOW_CAP = 3000
OUTSIDE_CAP = 400
REPEAT_GAP = timedelta(seconds=120)
MAX_CYCLE = 3  # messages in a repeating cycle that collapses into one row ("A, B, A, B" .. "A, B, C, A, B, C")
MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
_NUMBERS = re.compile(r"0x[0-9a-fA-F]+|\d+")
# find every significant record's key at once, also for a record over its hour's quota that
# joins no row (what the timeline did before it found them only when needed: tests compare both)
EAGER_KEYS = False


@dataclass(slots=True)
class _Pending:
    entry: TimelineEntry
    key: str
    repeats: int = 1
    until: datetime | None = None
    # the other messages of the repeating cycle this entry heads (compared by their own fields)
    cycle: list[_Pending] | None = field(default=None, compare=False, repr=False)
    head: _Pending | None = field(default=None, compare=False, repr=False)  # the cycle's head, for the others
    cycle_keys: tuple[str, ...] = ()  # the keys of ``cycle``, for comparisons
    members: int = 0  # records the cycle stands for (all its messages), once it is one


@dataclass(slots=True)
class TimelineBuild:
    entries: list[TimelineEntry]
    note: str = ""  # what was collapsed or sampled away, "" when nothing


@dataclass
class TimelineCollector:
    entries: list[_Pending] = field(default_factory=list)
    # container -> its latest record entries (up to MAX_CYCLE), the latest last
    _recent: dict[str, list[_Pending]] = field(default_factory=dict)
    _per_hour: dict[tuple[str, datetime], int] = field(default_factory=dict)
    _minutes: dict[str, dict[datetime, dict[str, int]]] = field(default_factory=dict)
    _shapes: dict[str, str] = field(default_factory=dict)  # message head -> numbers replaced by '#'
    _keys: dict[tuple, tuple[str, str]] = field(default_factory=dict, compare=False, repr=False)
    significant: int = 0
    dropped: int = 0
    collapsed: int = 0
    # (start, end, tzinfo, container, counts) of the minute counted last: saves a replace()
    _minute_span: tuple | None = field(default=None, compare=False, repr=False)
    # who (container, or "rule:" and container) -> (start, end, tz, key) of the hour it was counted in last
    _hour_spans: dict[str, tuple] = field(default_factory=dict, compare=False, repr=False)

    def add_record(self, record: Record, rule_ids: tuple[str, ...] | list[str]) -> None:
        """Count the record's level; keep it when it is WARN or above or a rule matched it."""
        if record.time is not None:
            self._add(record, record.time, record.line_start, rule_ids)

    def add_repeats(self, repeats: Repeats, rule_ids: list[tuple[str, ...]]) -> None:
        """``add_record`` for each record ``repeats`` stands for, in order, with the ids of the
        rules each matched (LogRuleEngine.feed_repeats)."""
        add = self._add
        for (proto, line, when, _, _), ids in zip(repeats.items, rule_ids, strict=True):
            add(proto, when, line, ids)

    def _add(self, record: Record, when: datetime, line: int, rule_ids: tuple[str, ...] | list[str]) -> None:
        """``add_record`` for ``record`` at time ``when`` on ``line`` (its own, or a repeat's)."""
        level = record.level
        if level in COUNTED_LEVELS:
            span = self._minute_span  # the minute of the previous count: records come in order
            if span and span[0] <= when < span[1] and when.tzinfo is span[2] and span[3] == record.container:
                counts = span[4]
            else:
                minute = when.replace(second=0, microsecond=0)
                counts = self._minutes.setdefault(record.container, {}).setdefault(minute, {})
                if when.tzinfo is None or type(when.tzinfo) is timezone:  # fixed offsets: exact arithmetic
                    self._minute_span = (minute, minute + MINUTE, when.tzinfo, record.container, counts)
            counts[level] = counts.get(level, 0) + 1
        if not rule_ids and (level is None or LEVEL_RANK[level] < LEVEL_RANK["WARN"]) and record.kind != "node-fatal":
            return
        self.significant += 1
        ids = rule_ids if type(rule_ids) is tuple else tuple(rule_ids)
        container = record.container
        recent = self._recent.get(container)
        last = recent[-1] if recent else None
        until = None if last is None else last.until if last.head is None else last.head.until  # (a cycle: its span)
        known = self._key(record, ids) if EAGER_KEYS else None
        if last is not None and until and when - until <= REPEAT_GAP:
            text, key = known = known or self._key(record, ids)
            if last.key == key:
                if last.head is not None or last.cycle is not None:  # a cycle that repeats one message
                    self._cycle_member([last], when)
                else:
                    last.repeats += 1
                    last.until = when
                    self.collapsed += 1
                return
            for period in range(2, min(MAX_CYCLE, len(recent)) + 1):  # type: ignore[arg-type]
                members = recent[-period:]  # type: ignore[index]
                if members[0].key == key and _cyclable(members):
                    # "A, B, A" or "A, B, C, A": a repeating cycle (a retry and its errors) becomes one row
                    self._cycle_member(members, when)
                    recent[-period:] = [*members[1:], members[0]]  # type: ignore[index]
                    return
        # (a record that cannot join the rows before it needs its key only when it is kept: in a
        # storm, most are over the hour's quota)
        who = container if not rule_ids else "rule:" + container
        spans = self._hour_spans  # the hour of the previous quota check of each: records come in order
        span = spans.get(who)
        if span and span[0] <= when < span[1] and when.tzinfo is span[2]:
            hour = span[3]
        else:
            hour = (who, when.replace(minute=0, second=0, microsecond=0))
            if when.tzinfo is None or type(when.tzinfo) is timezone:  # fixed offsets: exact arithmetic
                spans[who] = (hour[1], hour[1] + HOUR, when.tzinfo, hour)
        if self._per_hour.get(hour, 0) >= PER_HOUR_CAP:
            self.dropped += 1
            return
        self._per_hour[hour] = self._per_hour.get(hour, 0) + 1
        text, key = known if known is not None else self._key(record, ids)
        entry = TimelineEntry(when, record.container, "record", level or "raw", text[:500], record.file,
                              line, rule_ids[0] if rule_ids else "")
        pending = _Pending(entry, key, until=when)
        self.entries.append(pending)
        if recent is None:
            self._recent[container] = [pending]
        else:
            recent.append(pending)
            if len(recent) > MAX_CYCLE:
                del recent[0]

    def _key(self, record: Record, ids: tuple[str, ...]) -> tuple[str, str]:
        """The record's text and its key (rules and text with numbers as '#': repeats share one),
        found once per message."""
        known = self._keys.get((record.module, record.message, ids))
        if known is None:
            text = record.message if not record.module else f"{record.module}: {record.message}"
            head = text[:160]
            shape = self._shapes.get(head)
            if shape is None:
                if len(self._shapes) > 4096:
                    self._shapes.clear()
                shape = self._shapes[head] = _NUMBERS.sub("#", head)
            if len(self._keys) > 4096:
                self._keys.clear()
            known = self._keys[(record.module, record.message, ids)] = (text, f"{','.join(ids)}|{shape}")
        return known

    def _cycle_member(self, members: list[_Pending], when: datetime) -> None:
        """Count a record at ``when`` that repeats ``members[0]``'s message, ``members`` being the
        messages of its cycle, in the cycle's head row (the cycle forms on the first call)."""
        first = members[0]
        head = first.head or (first if first.cycle is not None else None)
        if head is None:  # the cycle forms: its earliest message heads it, the others join its row
            ordered = sorted(members, key=lambda p: p.entry.time)
            head, others = ordered[0], ordered[1:]
            head.cycle, head.cycle_keys = others, tuple(p.key for p in others)
            head.members = sum(p.repeats for p in ordered)
            for other in others:
                other.head = head
                self.collapsed += other.repeats
        head.members += 1
        head.until = when if head.until is None or when > head.until else head.until
        self.collapsed += 1

    def absorb(self, other: TimelineCollector) -> None:
        """Take over what ``other`` gathered from other containers' records, as if they had been
        added here after everything added so far."""
        if self._recent.keys() & other._recent.keys() or self._minutes.keys() & other._minutes.keys():
            raise ValueError("timelines of the same container cannot be merged")
        self.entries += other.entries
        self._recent.update(other._recent)
        self._per_hour.update(other._per_hour)
        self._minutes.update(other._minutes)
        self.significant += other.significant
        self.dropped += other.dropped
        self.collapsed += other.collapsed

    def containers(self) -> set[str]:
        """The containers whose significant records were seen ("" for records of no container)."""
        return set(self._minutes) | {pending.entry.container for pending in self.entries}

    def level_series(self) -> dict[str, list[tuple[datetime, dict[str, int]]]]:
        return {c: sorted(minutes.items()) for c, minutes in sorted(self._minutes.items())}

    def build(
        self,
        events: list[Event],
        containers: list[ContainerInfo],
        findings: list[Finding],
        window: tuple[datetime, datetime] | None,
        kernel_oom: Iterable[Evidence] = (),
    ) -> TimelineBuild:
        """The timeline: the records kept, Docker events (but for execs and ``top``: health checks
        and nodediag's own look inside), container states, the findings' first hits and the
        kernel's OOM kills (labelled with the container they hit, or as outside the deployment)."""
        records = []
        for pending in self.entries:
            entry = pending.entry
            if pending.head is not None:  # shown in its cycle's row
                continue
            if pending.cycle is not None and pending.until:
                others = " ⇄ ".join(p.entry.text for p in pending.cycle)
                entry.text += (f" ⇄ {others} (alternating: {pending.members} records, "
                               f"until {pending.until.strftime('%H:%M:%S')})")
                entry.count, entry.until = pending.members, pending.until
            elif pending.repeats > 1 and pending.until:
                entry.text += f" (x{pending.repeats}, until {pending.until.strftime('%H:%M:%S')})"
                entry.count, entry.until = pending.repeats, pending.until
            records.append(entry)
        current = {c.name: c.id for c in containers if c.id}
        facts = [_event_entry(e, current.get(e.container, "")) for e in events if not quiet_event(e.action)]
        facts += [kernel_oom_entry(e, containers) for e in kernel_oom if e.time is not None]
        facts += [e for c in containers for e in _state_entries(c)]
        facts += [_finding_entry(f) for f in findings if f.first_seen]
        inside = [e for e in records if window and window[0] <= e.time <= window[1]]
        outside = [e for e in records if not (window and window[0] <= e.time <= window[1])]
        kept = _sample(inside, WINDOW_CAP) + _sample(outside, OUTSIDE_CAP)
        left_out = self.dropped + len(records) - len(kept)
        note = ""
        if left_out:
            where = "outside the incident window" if window and len(inside) <= WINDOW_CAP else "overall"
            note = (f"{left_out} of {self.significant} significant records left out (sampled {where}); "
                    f"{self.collapsed} repeats collapsed into counts")
        entries = sorted(kept + facts, key=lambda e: (e.time, e.container, e.kind))
        return TimelineBuild(entries, note)


def _cyclable(members: list[_Pending]) -> bool:
    """Whether ``members`` (consecutive entries of one container) are, or may become, one cycle:
    distinct messages, none in another cycle (or all in the same one)."""
    if len({p.key for p in members}) != len(members):
        return False
    heads = {id(p.head or p) for p in members if p.head is not None or p.cycle is not None}
    if not heads:
        return True
    head = members[0].head or members[0]
    return len(heads) == 1 and head.cycle is not None and len(head.cycle) + 1 == len(members) and \
        all(p is head or p.head is head for p in members)


def quiet_event(action: str) -> bool:
    """Events that are not part of an incident: ``exec_create``/``exec_start``/``exec_die`` (health
    checks, nodediag's own probes) and ``top`` (nodediag listing a container's processes)."""
    return action.startswith("exec_") or action == "top"


_CGROUP_ID = re.compile(r"(?:oom_memcg|task_memcg)=[^,\s]*?([0-9a-f]{64})")
_KILLED = re.compile(r"Killed process (\d+) \(([^)]*)\)")
DEPLOYMENT_PROCESSES = frozenset(("node", "bb", "bb-avm", "acvm", "MainThread"))


def kernel_oom_scope(record: Evidence, containers: list[ContainerInfo]) -> tuple[str, str]:
    """(container, label) of a kernel OOM kill record: the deployment's container its cgroup
    names; or "" and a label saying it hit a process outside the deployment (another container,
    or a process of the host), or that it cannot say."""
    text = "\n".join(record.lines)
    killed = _KILLED.search(text)
    process = killed.group(2) if killed else ""
    match = _CGROUP_ID.search(text)
    if match:
        for info in containers:
            if info.id and info.id == match.group(1):
                return info.name, f"kernel OOM killer killed {process or 'a process'} in {info.name}"
        return "", f"kernel OOM killer killed {process or 'a process'} in a container outside the deployment"
    if process and process not in DEPLOYMENT_PROCESSES:
        return "", f"kernel OOM killer killed {process}, a process outside the deployment"
    return "", f"kernel OOM killer killed {process or 'a process'} (which container is not recorded)"


def kernel_oom_entry(record: Evidence, containers: list[ContainerInfo]) -> TimelineEntry:
    container, label = kernel_oom_scope(record, containers)
    # a kill no container of the deployment owns stays the host's (merge.py names the host in the record)
    return TimelineEntry(record.time, container or record.container, "event", "event", label, record.file,  # type: ignore[arg-type]
                         record.line_end, action="kernel-oom")


def _sample(entries: list[TimelineEntry], cap: int) -> list[TimelineEntry]:
    if len(entries) <= cap:
        return entries
    step = len(entries) / cap
    return [entries[int(i * step)] for i in range(cap)]


def _event_entry(event: Event, current_id: str = "") -> TimelineEntry:
    attrs = ", ".join(f"{k}={v}" for k, v in sorted(event.attributes.items()) if k in ("exitCode", "signal"))
    text = f"docker event: {event.action}" + (f" ({attrs})" if attrs else "")
    action = event.action
    if not same_incarnation(event.id, current_id):  # history: not the state of the container running now
        text += f" (an earlier container of this name, id {event.id[:12]}, since replaced)"
        action = f"earlier-{event.action}"
    return TimelineEntry(event.time, event.container, "event", "event", text, event.file, event.line,
                         action=action)


def _state_entries(container: ContainerInfo) -> list[TimelineEntry]:
    path = inspect_path(container.name)
    entries = []
    if container.started_at:
        entries.append(TimelineEntry(container.started_at, container.name, "event", "event",
                                     f"container started (restart count {container.restart_count})", path))
    if container.finished_at and (not container.started_at or container.finished_at > container.started_at):
        how = f"exited with code {container.exit_code}" + (" (OOMKilled)" if container.oom_killed else "")
        entries.append(TimelineEntry(container.finished_at, container.name, "event", "event",
                                     f"container {how}", path, action="exit"))
    return entries


def _finding_entry(finding: Finding) -> TimelineEntry:
    evidence = finding.evidence[0] if finding.evidence else None
    return TimelineEntry(finding.first_seen, finding.container, "finding", finding.severity,  # type: ignore[arg-type]
                         f"first: {finding.title}", evidence.file if evidence else "",
                         evidence.line_start if evidence else 0, finding.rule_id)
