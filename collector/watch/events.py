"""Docker's event stream on a thread of its own: a container's ``die``, ``oom`` or ``restart``
reaches the watcher the moment it happens, not at the next sample.

The stream is filtered by the engine (type container, those three actions); the watcher decides
whether the container is one it watches. When the engine goes away the listener reconnects with
back-off and resumes from the time of the last event it saw, so an event during the gap is not lost
(the engine replays events since a time it still holds).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

ContainerAction = Literal["die", "oom", "restart"]
ACTIONS: tuple[ContainerAction, ...] = ("die", "oom", "restart")
BACKOFF_S = (1.0, 2.0, 5.0, 10.0, 30.0)


@dataclass(frozen=True)
class ContainerEvent:
    time: float  # Unix time, seconds
    action: ContainerAction
    container: str  # name
    id: str
    attributes: dict[str, str] = field(default_factory=dict)  # exitCode, image, compose labels ...


def to_event(raw: dict[str, Any]) -> ContainerEvent | None:
    action = str(raw.get("Action") or raw.get("status") or "")
    if raw.get("Type", "container") != "container" or action not in ACTIONS:
        return None
    actor = raw.get("Actor") or {}
    attributes = {str(k): str(v) for k, v in (actor.get("Attributes") or {}).items()}
    nano = raw.get("timeNano")
    when = nano / 1e9 if isinstance(nano, int) else float(raw.get("time") or time.time())
    return ContainerEvent(when, action, attributes.get("name", ""), str(actor.get("ID") or raw.get("id") or ""),
                          attributes)


class EventListener:
    """Puts :class:`ContainerEvent` objects on ``self.events``; ``notes`` gets ("lost"|"back", text)."""

    def __init__(self, connect: Callable[[], Any]) -> None:
        self._connect = connect
        self.events: queue.Queue[ContainerEvent] = queue.Queue()
        self.notes: queue.Queue[tuple[str, str]] = queue.Queue()
        self._stop = threading.Event()
        self._stream: Any = None
        self._client: Any = None
        self._thread = threading.Thread(target=self._run, name="watch-events", daemon=True)
        self._since: float | None = None
        self._seen: dict[tuple[float, str, str], None] = {}  # recent events: a reconnection replays its second

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        for closeable in (self._stream, self._client):
            try:
                if closeable is not None:
                    closeable.close()
            except Exception:  # noqa: BLE001 - closing during shutdown
                pass
        self._thread.join(timeout=2)

    def _run(self) -> None:
        failures = 0
        lost = False
        while not self._stop.is_set():
            try:
                self._client = self._connect()
                self._client.ping()
                since = self._since if self._since is not None else time.time()
                self._stream = self._client.api.events(
                    since=int(since), decode=True, filters={"type": "container", "event": list(ACTIONS)})
                if lost:
                    self.notes.put(("back", "Docker's event stream is back"))
                    lost = False
                failures = 0
                self._since = since
                for raw in self._stream:
                    if self._stop.is_set():
                        return
                    event = to_event(raw) if isinstance(raw, dict) else None
                    if event is None:
                        continue
                    key = (event.time, event.id, event.action)
                    if key in self._seen:
                        continue
                    self._seen[key] = None
                    if len(self._seen) > 512:
                        del self._seen[next(iter(self._seen))]
                    self._since = max(self._since or 0.0, event.time)
                    self.events.put(event)
                if self._stop.is_set():
                    return
                raise ConnectionError("the event stream ended")
            except Exception as exc:  # noqa: BLE001 - the engine went away: back off and reconnect
                if self._stop.is_set():
                    return
                if not lost:
                    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                    self.notes.put(("lost", f"Docker's event stream is gone ({text[:200]}); reconnecting"))
                    lost = True
                self._stop.wait(BACKOFF_S[min(failures, len(BACKOFF_S) - 1)])
                failures += 1
            finally:
                for closeable in (self._stream, self._client):
                    try:
                        if closeable is not None:
                            closeable.close()
                    except Exception:  # noqa: BLE001
                        pass
                self._stream = self._client = None
