"""What counts as broken, and how often it may cause a bundle.

Triggers: a watched container's ``die``, ``oom`` or restart (Docker's event stream, or a restart
count that rose between two samples); ``GET /status`` failing ``status_failures`` times in a row on
the node or the broker; a log line hitting a rule of the analyzer's pack at severity high or above
(the matcher is passed in); a filesystem at ``fs_percent`` or more; host memory available under
``mem_available_fraction`` of the total.

Cooldown: each kind has one per subject (the container, the mount point, the host): a restart loop
gives one bundle per cooldown, not one per restart. Container deaths, OOM kills and restarts are one
kind for this purpose (an OOM kill is also a ``die``). Besides, one incident fires several kinds at
once (a full disk, then ENOSPC in the log, then /status failing): a trigger within ``min_gap_s`` of
the previous capture that happened no later than ``COVER_S`` after that capture started is recorded
as covered by it instead of starting another; a later one may not be in that bundle (a container's
state is taken as the collection starts) and captures, in its own cooldown.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from nodediag.collector.watch.events import ContainerEvent
from nodediag.collector.watch.sampler import Tick, Watched

TriggerKind = Literal["container-died", "container-oom", "container-restarted", "status-failing", "rule-hit",
                      "filesystem-full", "memory-low"]
TRIGGER_KINDS: tuple[TriggerKind, ...] = ("container-died", "container-oom", "container-restarted", "status-failing",
                                          "rule-hit", "filesystem-full", "memory-low")
Admission = Literal["capture", "cooldown", "covered"]
# (container, role, new lines) -> [(rule id, severity, title, Unix time of the line or None)]: built from
# the analyzer's rule pack by the CLI
LineMatcher = Callable[[str, str, list[str]], list[tuple[str, str, str, float | None]]]

COVER_S = 3.0  # a trigger this close after a capture started is part of the same incident (its evidence is in it)
_FAMILY: dict[TriggerKind, str] = {"container-died": "container", "container-oom": "container",
                                   "container-restarted": "container"}


@dataclass(frozen=True)
class Trigger:
    kind: TriggerKind
    time: float  # Unix time, seconds
    detail: str
    container: str = ""  # "" when the trigger is about the host
    role: str = ""
    subject: str = ""  # what the cooldown is counted for: container name, mount point, "host"
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def cooldown_key(self) -> tuple[str, str]:
        return _FAMILY.get(self.kind, self.kind), self.subject or self.container or "host"

    def as_manifest(self) -> dict[str, Any]:
        from datetime import datetime, timezone

        when = datetime.fromtimestamp(self.time, tz=timezone.utc)
        return {"kind": self.kind, "container": self.container, "role": self.role,
                "time": when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z",
                "detail": self.detail, **({"data": self.data} if self.data else {})}


@dataclass
class Thresholds:
    status_failures: int = 3
    fs_percent: float = 90.0
    mem_available_fraction: float = 0.05


class TriggerState:
    """Turns events and samples into triggers and decides which of them may capture."""

    def __init__(self, cooldown_s: float, *, thresholds: Thresholds | None = None,
                 matcher: LineMatcher | None = None, min_gap_s: float = 60.0) -> None:
        self.cooldown_s = cooldown_s
        self.thresholds = thresholds or Thresholds()
        self.matcher = matcher
        self.min_gap_s = min(min_gap_s, cooldown_s)
        self._status_fails: dict[str, int] = {}
        self._last: dict[tuple[str, str], float] = {}  # cooldown key -> time of the trigger that captured
        self.last_capture: float | None = None
        self._fs_full: set[str] = set()  # subjects above the threshold now (a trigger when they cross it)
        self._mem_low = False

    # -- where triggers come from -------------------------------------------------------------
    def from_event(self, event: ContainerEvent, watched: dict[str, Watched]) -> Trigger | None:
        w = watched.get(event.container)
        if w is None:
            return None
        if event.action == "oom":
            return Trigger("container-oom", event.time, f"{w.name} was killed by the OOM killer (memory limit "
                           "or host memory exhausted)", w.name, w.role, w.name)
        if event.action == "die":
            code = event.attributes.get("exitCode", "?")
            return Trigger("container-died", event.time, f"{w.name} exited with code {code}", w.name, w.role, w.name,
                           {"exit_code": int(code) if code.isdigit() else code})
        return Trigger("container-restarted", event.time, f"{w.name} was restarted", w.name, w.role, w.name)

    def from_tick(self, tick: Tick, watched: dict[str, Watched]) -> list[Trigger]:
        found: list[Trigger] = []
        th = self.thresholds
        for w, before, now in tick.restarted:
            found.append(Trigger("container-restarted", _tick_time(tick),
                                 f"{w.name} restarted (restart count {before} -> {now})", w.name, w.role, w.name,
                                 {"restart_count": now}))
        fs_now: set[str] = set()
        for s in tick.samples:
            if s.kind == "status":
                ok = s.data.get("status") == 200
                if s.data.get("via") == "skipped":
                    continue
                fails = 0 if ok else self._status_fails.get(s.name, 0) + 1
                self._status_fails[s.name] = fails
                if fails == th.status_failures:
                    last = f"HTTP {s.data['status']}" if s.data.get("status") else (s.data.get("error") or "no answer")
                    found.append(Trigger("status-failing", s.t, f"GET /status on {s.name} failed {fails} times in a "
                                         f"row (last: {last})", s.name, str(s.data.get("role", "")), s.name,
                                         {"status": s.data.get("status"), "error": s.data.get("error", "")}))
            elif s.kind == "fs":
                percent = float(s.data.get("percent") or 0.0)
                if percent >= th.fs_percent:
                    fs_now.add(s.name)
                    if s.name not in self._fs_full:
                        found.append(Trigger("filesystem-full", s.t, f"{s.name} is {percent:g}% full "
                                             f"({_mb(s.data.get('used'))} of {_mb(s.data.get('total'))})",
                                             str(s.data.get("container") or ""), "", s.name,
                                             {"percent": percent, "path": s.name}))
            elif s.kind == "host":
                total, avail = s.data.get("mem_total") or 0, s.data.get("mem_available") or 0
                low = bool(total) and avail < total * th.mem_available_fraction
                if low and not self._mem_low:
                    found.append(Trigger("memory-low", s.t, f"host memory available {_mb(avail)} of {_mb(total)} "
                                         f"({avail / total * 100:.1f}%)", "", "", "host",
                                         {"mem_available": avail, "mem_total": total}))
                self._mem_low = low
        self._fs_full = fs_now
        if self.matcher is not None:
            for name, lines in tick.new_lines.items():
                known = watched.get(name)
                role = known.role if known else "other"
                for rule_id, severity, title, when in self.matcher(name, role, lines):
                    found.append(Trigger("rule-hit", when or _tick_time(tick),
                                         f"{name}: {title} (rule {rule_id}, {severity})",
                                         name, role, name, {"rule": rule_id, "severity": severity}))
        return found

    def rearm_status(self, name: str) -> None:
        """Count ``name``'s /status failures from zero again: a failing streak whose trigger was set
        aside (the echo of a restart) fires again if it goes on."""
        self._status_fails.pop(name, None)

    # -- which may capture ---------------------------------------------------------------------
    def admit(self, trigger: Trigger, now: float | None = None) -> Admission:
        """``capture`` (and its cooldown starts), ``cooldown`` (its kind fired for this subject less
        than the cooldown ago) or ``covered`` (another capture started less than min_gap_s ago)."""
        now = time.time() if now is None else now
        last = self._last.get(trigger.cooldown_key)
        if last is not None and now - last < self.cooldown_s:
            return "cooldown"
        self._last[trigger.cooldown_key] = now
        if self.last_capture is not None and now - self.last_capture < self.min_gap_s \
                and trigger.time <= self.last_capture + COVER_S:
            return "covered"  # happened as that collection started: its evidence is in it
        self.last_capture = now
        return "capture"


def _tick_time(tick: Tick) -> float:
    return tick.samples[0].t if tick.samples else time.time()


def _mb(value: Any) -> str:
    return f"{(value or 0) / 1024 / 1024:.1f} MB"
