"""The watcher: sample every interval, listen to Docker's events, capture when something breaks.

Runs in the main thread until :meth:`Watcher.request_stop` (SIGTERM, Ctrl-C). A capture runs in the
main thread too; a stop request during a capture interrupts it the way Ctrl-C interrupts
`nodediag collect`, which writes a valid partial bundle. Docker going away never stops the watcher:
host samples go on, and sampling and the event stream reconnect with back-off.
"""

from __future__ import annotations

import json
import queue
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TextIO

from nodediag.collector.watch.capture import (
    RESTARTABLE,
    CaptureOutcome,
    CaptureSettings,
    prune_bundles,
    restart_failed_service,
    run_capture,
    run_on_capture,
)
from nodediag.collector.watch.events import ContainerEvent, EventListener
from nodediag.collector.watch.sampler import DockerLink, Sampler
from nodediag.collector.watch.store import SampleStore, StoreError
from nodediag.collector.watch.triggers import LineMatcher, Thresholds, Trigger, TriggerState

STORE_FILE = "samples.sqlite"
PRUNE_EVERY_S = 300.0
OWN_RESTART_S = 60.0  # container events and complaints this soon after the watcher's own restart are its echo
STOP_GRACE_S = 2.5  # a capture still running this long after SIGTERM is cut short (a partial bundle)


class EventLog:
    """One line per event on ``stream``: ``<time> <event>: <message>``, or a JSON object per line."""

    def __init__(self, stream: TextIO | None = None, as_json: bool = False) -> None:
        self.stream = stream or sys.stderr
        self.as_json = as_json
        self._lock = threading.Lock()

    def __call__(self, event: str, message: str, **fields: Any) -> None:
        now = datetime.now(timezone.utc)
        stamp = now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"
        if self.as_json:
            line = json.dumps({"time": stamp, "event": event, "message": message, **fields}, default=str)
        else:
            line = f"{stamp} {event}: {message}"
        with self._lock:
            try:
                self.stream.write(line + "\n")
                self.stream.flush()
            except (OSError, ValueError):  # stderr closed: nothing to tell anyone
                pass


@dataclass
class WatchSettings:
    capture: CaptureSettings
    interval_s: float = 10.0
    cooldown_s: float = 1800.0
    retain_s: float = 7 * 86400.0
    store_max_bytes: int = 64 * 1024 * 1024
    projects: tuple[str, ...] = ()
    containers: tuple[str, ...] = ()
    thresholds: Thresholds = field(default_factory=Thresholds)
    min_gap_s: float = 60.0


def docker_from_env() -> Any:
    import docker

    return docker.from_env(timeout=10)


class Watcher:
    def __init__(self, settings: WatchSettings, *, matcher: LineMatcher | None = None,
                 log: Callable[..., None] | None = None, connect: Callable[[], Any] = docker_from_env) -> None:
        self.settings = settings
        self.log = log or EventLog()
        self.link = DockerLink(connect)
        self.sampler = Sampler(self.link, projects=settings.projects, containers=settings.containers,
                               read_logs=matcher is not None)
        self.triggers = TriggerState(settings.cooldown_s, thresholds=settings.thresholds, matcher=matcher,
                                     min_gap_s=settings.min_gap_s)
        self.listener = EventListener(connect)
        self.store = SampleStore(settings.capture.out_dir / STORE_FILE, retain_s=settings.retain_s,
                                 max_bytes=settings.store_max_bytes)
        self._stop = threading.Event()
        self._capturing = False
        self.captures: list[CaptureOutcome] = []
        self._docker_ok: bool | None = None
        self._watched: frozenset[str] | None = None
        self._store_failing = False
        self._last_sample_error = ""
        self._own_restarts: dict[str, float] = {}  # container -> when the watcher restarted it

    # -- control -----------------------------------------------------------------------------
    def request_stop(self) -> None:
        """Call from a signal handler in the main thread: the loop ends within a second; a capture in
        progress gets STOP_GRACE_S to finish, then is interrupted like `collect` on Ctrl-C (which
        writes a valid partial bundle). A second request interrupts it at once."""
        again = self._stop.is_set()
        self._stop.set()
        if not self._capturing:
            return
        if again:
            self._interrupt_capture()
        else:
            signal.signal(signal.SIGALRM, lambda signum, frame: self._interrupt_capture())
            signal.setitimer(signal.ITIMER_REAL, STOP_GRACE_S)

    def _interrupt_capture(self) -> None:
        if self._capturing:
            self._capturing = False
            raise KeyboardInterrupt

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    # -- the loop ----------------------------------------------------------------------------
    def run(self) -> int:
        s = self.settings
        self.log("started", f"watching every {s.interval_s:g}s; bundles and samples in {s.capture.out_dir}",
                 interval_s=s.interval_s, cooldown_s=s.cooldown_s, out=str(s.capture.out_dir))
        self.listener.start()
        next_tick = time.monotonic()
        last_prune = time.monotonic() - PRUNE_EVERY_S  # prune at start: the database may be days old
        try:
            while not self._stop.is_set():
                found: list[Trigger] = []
                now = time.monotonic()
                if now >= next_tick:
                    try:
                        found.extend(self._tick())
                    except Exception as exc:  # noqa: BLE001 - one bad sample never ends the watch
                        self._sample_failed(exc)
                    next_tick = max(next_tick + s.interval_s, time.monotonic() + s.interval_s / 4)
                if now - last_prune >= PRUNE_EVERY_S:
                    last_prune = now
                    self._prune_store()
                self._drain_notes()
                wait = max(0.0, min(next_tick - time.monotonic(), 0.5))
                try:
                    event = self.listener.events.get(timeout=wait) if not found else self.listener.events.get_nowait()
                    found.extend(self._from_events(event))
                except queue.Empty:
                    pass
                if found and not self._stop.is_set():
                    self._handle(found)
        finally:
            self.listener.stop()
            self.store.close()
            self.log("stopped", "watcher stopped", captures=len(self.captures))
        return 0

    def _from_events(self, first: ContainerEvent) -> list[Trigger]:
        events = [first]
        while True:
            try:
                events.append(self.listener.events.get_nowait())
            except queue.Empty:
                break
        found = []
        for event in events:
            trigger = self.triggers.from_event(event, self.sampler.watched)
            if trigger is not None:
                found.append(trigger)
        return found

    def _drain_notes(self) -> None:
        while True:
            try:
                kind, text = self.listener.notes.get_nowait()
            except queue.Empty:
                return
            self.log(f"events-{kind}", text)

    def _tick(self) -> list[Trigger]:
        began = time.monotonic()
        tick = self.sampler.sample()
        took = time.monotonic() - began
        if took > max(5.0, 2 * self.settings.interval_s):
            self.log("sample-slow", f"a sample took {took:.1f}s (Docker answering slowly?)", seconds=round(took, 1))
        try:
            self.store.add(tick.samples)
            if self._store_failing:
                self._store_failing = False
                self.log("store-back", "samples are written again")
        except StoreError as exc:
            if not self._store_failing:  # once, not at every sample
                self._store_failing = True
                self.log("store-failed", f"{exc}; sampling goes on, samples are lost until it can write")
        if tick.docker_ok != self._docker_ok:
            if not tick.docker_ok:
                self.log("docker-lost", f"Docker is not reachable ({tick.docker_error}); host sampling goes on, "
                         "reconnecting with back-off")
            elif self._docker_ok is False:
                self.log("docker-back", "Docker is reachable again")
            self._docker_ok = tick.docker_ok
        names = frozenset(self.sampler.watched)
        if tick.docker_ok and names != self._watched:
            self._watched = names
            how = self.sampler.choice_error or self.sampler.chosen_how
            self.log("watching", f"{len(names)} container(s): {', '.join(sorted(names)) or 'none'} ({how})",
                     containers=sorted(names))
        return self.triggers.from_tick(tick, self.sampler.watched)

    def _sample_failed(self, exc: Exception) -> None:
        text = f"{type(exc).__name__}: {str(exc).strip()[:200]}"
        if text != self._last_sample_error:  # once per distinct failure, not at every sample
            self._last_sample_error = text
            self.log("sample-failed", f"a sample failed ({text}); the watch goes on")

    def _prune_store(self) -> None:
        try:
            deleted = self.store.prune()
        except StoreError as exc:
            self.log("store-failed", str(exc))
            return
        if deleted:
            self.log("samples-pruned", f"deleted {deleted} old samples (--retain, size cap)", deleted=deleted)

    def _handle(self, found: list[Trigger]) -> None:
        admitted = []
        for trigger in found:
            fields = trigger.as_manifest()
            fields["trigger_time"] = fields.pop("time")  # "time" is the event line's own
            echo = self._echo_of_own_restart(trigger)
            if echo:
                self.log("trigger-ignored", f"{trigger.detail} ({echo})", **fields)
                if trigger.kind == "status-failing":
                    self.triggers.rearm_status(trigger.container)  # still failing after the echo: a trigger
                continue
            verdict = self.triggers.admit(trigger)
            if verdict == "capture":
                admitted.append(trigger)
                self.log("trigger", trigger.detail, **fields)
            elif verdict == "cooldown":
                self.log("trigger-cooldown", f"{trigger.detail} (in cooldown: no bundle)", **fields)
            else:
                last = self.captures[-1] if self.captures else None
                where = f": {last.path}" if last and last.path else ""
                self.log("trigger-covered", f"{trigger.detail} (covered by the capture just taken{where})", **fields)
                if last is not None and trigger.kind in RESTARTABLE:
                    self._restart(trigger, last)  # its evidence is in that bundle
        if admitted:
            self._capture(admitted[0], admitted[1:])

    def _echo_of_own_restart(self, trigger: Trigger) -> str:
        """Why ``trigger`` is the echo of a restart the watcher made itself, or "". Its own die and start
        events are; so is any container's log or /status complaining in the minute after (the node
        cannot reach the broker while it restarts). A host trigger never is, nor a complaint later on."""
        for container, ours in self._own_restarts.items():
            if not (ours - 1 <= trigger.time < ours + OWN_RESTART_S):
                continue
            if trigger.container == container and trigger.kind.startswith("container-"):
                return "the watcher's own --restart-after-capture"
            if trigger.container and trigger.kind in ("rule-hit", "status-failing"):
                return f"within {OWN_RESTART_S:.0f} s of the watcher's own restart of {container}"
        return ""

    def _restart(self, trigger: Trigger, outcome: CaptureOutcome) -> None:
        if not self.settings.capture.restart_after_capture or self._stop.is_set():
            return
        started = time.time()
        done, text = restart_failed_service(self.link.get(), trigger, outcome)
        if done:
            self._own_restarts[trigger.container] = started
        self.log("restarted" if done else "not-restarted", text, container=trigger.container)

    def _capture(self, trigger: Trigger, also: list[Trigger]) -> None:
        settings = self.settings.capture
        self.log("capture-started", f"collecting a bundle for {trigger.kind} {trigger.container}".rstrip(),
                 kind=trigger.kind, container=trigger.container)
        self._capturing = True
        try:
            outcome = run_capture(trigger, also, self.store, settings)
        except KeyboardInterrupt:
            outcome = CaptureOutcome(None, "failed", "interrupted before the bundle could be written")
        finally:
            self._capturing = False
            if self._stop.is_set():
                signal.setitimer(signal.ITIMER_REAL, 0)
        self.captures.append(outcome)
        if outcome.path is None:
            self.log("capture-failed", f"no bundle: {outcome.error}", kind=trigger.kind)
            return
        partial = "" if outcome.status == "complete" else f" ({outcome.status}: partial)"
        self.log("capture-done", f"{outcome.path}{partial}, {outcome.samples} samples, "
                 f"{'verified' if outcome.verified else 'NOT verified'}, {outcome.seconds:.1f}s",
                 bundle=str(outcome.path), status=outcome.status, samples=outcome.samples, verified=outcome.verified)
        for path in prune_bundles(settings.out_dir, settings.keep, settings.max_disk):
            self.log("bundle-deleted", f"{path} (--keep {settings.keep}, --max-disk)", bundle=str(path))
        if settings.on_capture:
            run_on_capture(settings.on_capture, outcome.path, trigger, self.log)
        self._restart(trigger, outcome)


def store_path(out_dir: Path) -> Path:
    return out_dir / STORE_FILE
