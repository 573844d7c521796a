"""The watcher's loop without Docker: host sampling goes on, a host trigger captures a host-only
bundle through the same collection as `collect`, with the trigger and the samples in it."""

from __future__ import annotations

import json
import tarfile
import threading
import time
from pathlib import Path

import zstandard

from nodediag.bundle.verify import verify_bundle
from nodediag.collector.collect import CollectOptions
from nodediag.collector.watch.capture import CaptureSettings
from nodediag.collector.watch.loop import Watcher, WatchSettings
from nodediag.collector.watch.triggers import Thresholds


def unreachable() -> object:
    raise ConnectionError("no Docker here")


def members(bundle: Path) -> dict[str, bytes]:
    out = {}
    with open(bundle, "rb") as raw:
        reader = zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)
        with tarfile.open(fileobj=reader, mode="r|") as tar:
            for member in tar:
                fh = tar.extractfile(member)
                if fh is not None:
                    out[member.name.split("/", 1)[1]] = fh.read()
    return out


def run_watcher(settings: WatchSettings, until, timeout: float = 90.0) -> tuple[Watcher, list[tuple[str, str, dict]]]:
    events: list[tuple[str, str, dict]] = []
    watcher = Watcher(settings, log=lambda event, message, **fields: events.append((event, message, fields)),
                      connect=unreachable)
    result: list[int] = []
    thread = threading.Thread(target=lambda: result.append(watcher.run()), daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not until(events) and time.monotonic() < deadline:
        time.sleep(0.1)
    watcher._stop.set()  # what SIGTERM does when no capture runs
    thread.join(10)
    assert result == [0], events
    return watcher, events


def test_without_docker_host_samples_go_on_and_a_host_trigger_captures(tmp_path, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")  # collect finds no Docker either
    out = tmp_path / "out"
    seen = out / "seen.txt"
    capture = CaptureSettings(out_dir=out, collect_options=CollectOptions(timeout=60.0), interval_s=1.0,
                              on_capture=f"sh -c 'echo {{bundle}} > {seen}'")
    # every host is "low on memory" with this threshold: the trigger fires on the first sample
    settings = WatchSettings(capture=capture, interval_s=1.0, cooldown_s=3600,
                             thresholds=Thresholds(mem_available_fraction=1.01))
    # --on-capture runs on a thread of its own: wait for its end too, or on a slow machine its event may
    # come after "stopped"
    watcher, events = run_watcher(settings, lambda ev: any(e[0] == "capture-done" for e in ev)
                                  and any(e[0] in ("on-capture-done", "on-capture-failed") for e in ev))
    names = [e[0] for e in events]
    assert names[0] == "started" and "docker-lost" in names and names[-1] == "stopped"
    assert names.index("trigger") < names.index("capture-started") < names.index("capture-done")
    bundles = list(out.glob("nodediag-*-memory-low.tar.zst"))
    assert len(bundles) == 1 and verify_bundle(bundles[0]).ok
    files = members(bundles[0])
    manifest = json.loads(files["manifest.json"])
    assert manifest["trigger"]["kind"] == "memory-low" and manifest["trigger"]["container"] == ""
    assert manifest["watch"] == {"interval_s": 1.0, "history_s": 6 * 3600.0}
    samples = [json.loads(line) for line in files["watch/samples.jsonl"].decode().splitlines()]
    assert samples and all(s["kind"] in ("host", "fs") for s in samples)
    assert any(s["kind"] == "host" and s["mem_total"] > 0 for s in samples)
    assert "host/memory.json" in files  # the same collection as `collect`: a host-only bundle
    from nodediag.bundle.inspect import inspection, read_bundle_manifest, render_text

    shown = render_text(bundles[0], inspection(read_bundle_manifest(bundles[0])))
    assert "  trigger: memory-low at " in shown  # `nodediag inspect` says why the bundle was taken
    assert "on-capture-done" in names, events
    assert seen.read_text().strip() == str(bundles[0])  # --on-capture got the bundle's path
    assert watcher.store.path.exists()


def test_samples_survive_a_restart_of_the_watcher(tmp_path, monkeypatch):
    import sqlite3

    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    out = tmp_path / "out"

    def host_samples() -> int:
        with sqlite3.connect(str(out / "samples.sqlite")) as db:
            return int(db.execute("SELECT count(*) FROM samples WHERE kind = 'host'").fetchone()[0])

    def two_samples(events) -> bool:
        return (out / "samples.sqlite").exists() and host_samples() >= counts[-1] + 2

    counts = [0]
    for _ in range(2):
        capture = CaptureSettings(out_dir=out, collect_options=CollectOptions(timeout=60.0), interval_s=1.0)
        run_watcher(WatchSettings(capture=capture, interval_s=1.0), two_samples, timeout=30)
        counts.append(host_samples())
    assert counts[2] >= counts[1] + 2 >= 4  # the second run appended to the first run's samples


def test_peers_complaining_while_the_watcher_restarts_a_service_are_its_echo_not_a_new_incident(tmp_path):
    """After --restart-after-capture restarted the broker, the node's log and /status complain while the
    broker comes back: that is the restart's echo (no bundle); a host trigger or a complaint after the
    window is a failure again."""
    from nodediag.collector.watch.triggers import Trigger

    events: list[tuple[str, str, dict]] = []
    capture = CaptureSettings(out_dir=tmp_path / "out", collect_options=CollectOptions(timeout=60.0))
    watcher = Watcher(WatchSettings(capture=capture, interval_s=1.0, cooldown_s=600),
                      log=lambda event, message, **fields: events.append((event, message, fields)),
                      connect=unreachable)
    captured: list[str] = []
    watcher._capture = lambda trigger, also: captured.append(trigger.kind)  # type: ignore[method-assign]
    restarted_at = time.time() - 10
    watcher._own_restarts["p-prover-broker-1"] = restarted_at
    node_hit = Trigger("rule-hit", restarted_at + 8, "p-prover-node-1: broker unreachable", "p-prover-node-1",
                       "node", "p-prover-node-1", {"rule": "r", "severity": "high"})
    node_status = Trigger("status-failing", restarted_at + 9, "GET /status on p-prover-node-1 failed 3 times",
                          "p-prover-node-1", "node", "p-prover-node-1")
    watcher._handle([node_hit, node_status])
    assert captured == [] and [e[0] for e in events] == ["trigger-ignored", "trigger-ignored"], events
    assert "restart of p-prover-broker-1" in events[0][1]
    # a host running out of memory is not an echo of a restart; a complaint a minute later is news
    host = Trigger("memory-low", restarted_at + 9, "host memory available 1 MB", "", "", "host")
    later = Trigger("rule-hit", restarted_at + 75, "p-prover-node-1: broker unreachable", "p-prover-node-1",
                    "node", "p-prover-node-1", {"rule": "r", "severity": "high"})
    watcher._handle([host])
    watcher._handle([later])
    assert captured == ["memory-low", "rule-hit"], events
