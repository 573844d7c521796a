"""A capture: the same collection as `nodediag collect` (same redaction, format and checks), with
the trigger in the manifest and the recent samples as a source of its own; then the bundle is
verified, old bundles are pruned, ``--on-capture`` runs and, if asked, the failed service restarts.

Bundle files added by the watcher (``watch_samples`` source):

    watch/samples.jsonl   one sample per line, oldest first: {"t", "kind", "name", ...} (docs/bundle-format.md)
    watch/watch.json      the watcher's settings and the window the samples cover
"""

from __future__ import annotations

import dataclasses
import os
import shlex
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from nodediag.collector import discovery
from nodediag.collector.collect import CollectError, CollectOptions, collect
from nodediag.collector.engine import Source, SourceContext
from nodediag.collector.plan import Plan
from nodediag.collector.watch.store import SampleStore
from nodediag.collector.watch.triggers import Trigger

BUNDLE_GLOB = "nodediag-*.tar.zst"
# the triggers that name a failed service; a log line (rule-hit) may be one role complaining about another
# (a restart trigger means the container runs again already)
RESTARTABLE = ("container-died", "container-oom", "status-failing")
ON_CAPTURE_TIMEOUT_S = 300.0
MAX_BUNDLE_SAMPLES = 50_000  # rows put in one bundle (6 h at 10 s is about 22 000 for three containers)


@dataclass
class CaptureSettings:
    out_dir: Path
    collect_options: CollectOptions  # projects, containers, redaction: everything but output and hooks
    history_s: float = 6 * 3600.0  # samples put in the bundle
    interval_s: float = 10.0
    keep: int = 20
    max_disk: int = 2 * 1024**3
    on_capture: str | None = None
    restart_after_capture: bool = False


@dataclass
class CaptureOutcome:
    path: Path | None
    status: str  # collect's status (complete | interrupted | deadline) or "failed"
    error: str = ""
    samples: int = 0
    verified: bool = False
    seconds: float = 0.0
    deleted: list[Path] = field(default_factory=list)


def bundle_name(trigger: Trigger, out_dir: Path) -> Path:
    host = discovery.safe_name(socket.gethostname()) or "host"
    when = datetime.fromtimestamp(trigger.time, tz=timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    subject = f"-{discovery.safe_name(trigger.container)}" if trigger.container else ""
    path = out_dir / f"nodediag-{host}-{when}-{trigger.kind}{subject}.tar.zst"
    n = 2
    while path.exists():
        path = out_dir / f"nodediag-{host}-{when}-{trigger.kind}{subject}-{n}.tar.zst"
        n += 1
    return path


def samples_source(store: SampleStore, settings: CaptureSettings, until: float, counter: list[int]) -> Callable[
        [Plan], list[Source]]:
    def collect_samples(ctx: SourceContext) -> None:
        since = until - settings.history_s
        rows = [s.as_row() for s in store.between(since, until, newest=MAX_BUNDLE_SAMPLES)]
        counter.append(len(rows))
        if len(rows) == MAX_BUNDLE_SAMPLES:
            ctx.mark_truncated(f"watch/samples.jsonl: the newest {MAX_BUNDLE_SAMPLES} samples of the window")
        ctx.write_jsonl("watch/samples.jsonl", rows)
        oldest = store.oldest()
        ctx.write_json("watch/watch.json", {
            "interval_s": settings.interval_s, "history_s": settings.history_s,
            "since": _iso(since), "until": _iso(until), "samples": len(rows),
            "oldest_in_store": _iso(oldest) if oldest else None,
        })

    def sources(plan: Plan) -> list[Source]:
        return [Source("watch_samples", collect_samples, timeout=60,
                       description="the watcher's samples of the last hours",
                       writes=("watch/samples.jsonl", "watch/watch.json"))]

    return sources


def run_capture(trigger: Trigger, also: list[Trigger], store: SampleStore, settings: CaptureSettings,
                progress: Any = None) -> CaptureOutcome:
    """Collect one bundle for ``trigger`` (and the triggers ``also`` covered by it)."""
    started = time.monotonic()
    settings.out_dir.mkdir(parents=True, exist_ok=True)
    output = bundle_name(trigger, settings.out_dir)
    counter: list[int] = []
    options = dataclasses.replace(
        settings.collect_options, output=output,
        extra_sources=(*settings.collect_options.extra_sources, samples_source(store, settings, time.time(), counter)),
        manifest_extra={"trigger": trigger.as_manifest(), "triggers_also": [t.as_manifest() for t in also],
                        "watch": {"interval_s": settings.interval_s, "history_s": settings.history_s}})
    try:
        outcome = collect(options, progress)
    except CollectError as exc:
        return CaptureOutcome(None, "failed", str(exc), seconds=time.monotonic() - started)
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as exc:  # noqa: BLE001 - a failed capture is logged; the watcher goes on watching
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return CaptureOutcome(None, "failed", f"{type(exc).__name__}: {text}"[:300], seconds=time.monotonic() - started)
    from nodediag.bundle.verify import VerifyError, verify_bundle

    try:
        verified = verify_bundle(outcome.path).ok
    except VerifyError:
        verified = False
    return CaptureOutcome(outcome.path, outcome.status, samples=counter[0] if counter else 0, verified=verified,
                          seconds=time.monotonic() - started)


def prune_bundles(out_dir: Path, keep: int, max_disk: int) -> list[Path]:
    """Delete the oldest bundles until at most ``keep`` remain and they use at most ``max_disk``
    bytes; the newest is never deleted. Returns what was deleted."""
    found = []
    for path in out_dir.glob(BUNDLE_GLOB):
        try:
            st = path.stat()
        except OSError:
            continue
        found.append((st.st_mtime, path.name, path, st.st_size))
    found.sort()
    total = sum(size for *_, size in found)
    deleted = []
    while len(found) > 1 and (len(found) > keep or total > max_disk):
        _, _, path, size = found.pop(0)
        try:
            path.unlink()
        except OSError:
            continue
        total -= size
        deleted.append(path)
    return deleted


def on_capture_command(command: str, bundle: Path, trigger: Trigger) -> list[str]:
    """The command's arguments: ``{bundle}`` replaced by the path, else the path appended."""
    args = shlex.split(command)
    if any("{bundle}" in a for a in args):
        return [a.replace("{bundle}", str(bundle)) for a in args]
    return [*args, str(bundle)]


def run_on_capture(command: str, bundle: Path, trigger: Trigger, log: Callable[..., None]) -> threading.Thread:
    """Runs ``--on-capture`` on a thread; its failure is logged, never fatal."""
    def run() -> None:
        try:
            args = on_capture_command(command, bundle, trigger)
            env = {**os.environ, "NODEDIAG_BUNDLE": str(bundle), "NODEDIAG_TRIGGER": trigger.kind,
                   "NODEDIAG_CONTAINER": trigger.container}
            proc = subprocess.run(args, capture_output=True, timeout=ON_CAPTURE_TIMEOUT_S, env=env, check=False)
        except (OSError, ValueError, subprocess.TimeoutExpired) as exc:
            log("on-capture-failed", f"--on-capture could not run: {exc}", bundle=str(bundle))
            return
        if proc.returncode != 0:
            tail = proc.stderr.decode(errors="replace").strip().splitlines()[-1:] or [""]
            log("on-capture-failed", f"--on-capture exited {proc.returncode}: {tail[0][:200]}", bundle=str(bundle),
                exit_code=proc.returncode)
        else:
            log("on-capture-done", "--on-capture finished", bundle=str(bundle))

    thread = threading.Thread(target=run, name="watch-on-capture", daemon=True)
    thread.start()
    return thread


def restart_failed_service(client: Any, trigger: Trigger, outcome: CaptureOutcome) -> tuple[bool, str]:
    """``--restart-after-capture``: restart only the container the trigger names, only after its bundle
    was written and verified, with Docker's restart (never `compose down -v`). (done, what happened)."""
    if not trigger.container:
        return False, "nothing restarted: the trigger names no container"
    if trigger.kind not in RESTARTABLE:
        return False, f"{trigger.container} not restarted: a {trigger.kind} trigger does not show which service failed"
    if outcome.path is None or not outcome.verified:
        return False, f"{trigger.container} not restarted: its bundle was not written and verified"
    if client is None:
        return False, f"{trigger.container} not restarted: Docker is not reachable"
    try:
        state = client.api.inspect_container(trigger.container).get("State") or {}
        started = state.get("StartedAt") or ""
        started_at = _docker_time(started)
        if state.get("Status") == "running" and started_at and started_at > trigger.time \
                and trigger.kind != "status-failing":
            return False, f"{trigger.container} not restarted: it was already restarted (at {started})"
        client.api.restart(trigger.container, timeout=10)
    except Exception as exc:  # noqa: BLE001 - reported, never fatal
        return False, f"restarting {trigger.container} failed: {exc}"
    return True, f"restarted {trigger.container} (docker restart, volumes untouched)"


def _docker_time(text: str) -> float | None:
    if not text or text.startswith("0001"):
        return None
    head, _, frac = text.rstrip("Z").partition(".")
    try:
        base = datetime.strptime(head, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc).timestamp()
    except ValueError:
        return None
    return base + float(f"0.{frac[:6] or 0}")


def _iso(t: float | None) -> str | None:
    if t is None:
        return None
    return (datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(seconds=t)).strftime("%Y-%m-%dT%H:%M:%SZ")
