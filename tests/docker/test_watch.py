"""`nodediag watch` against a real engine: fake Aztec roles (busybox) that run out of memory, answer
500 on /status, restart in a loop or fill a tmpfs; SIGTERM; the engine going away and coming back."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from nodediag.redaction.host_key import load_key

pytestmark = pytest.mark.docker

REPO = Path(__file__).resolve().parents[2]
LAB = REPO / "tests" / "lab" / "scenarios"
SCENARIOS = Path(__file__).resolve().parent / "watch_scenarios"
ENGINE_SCRIPT = REPO / "tests" / "engine" / "dockerd.sh"


class WatchProcess:
    """`nodediag watch --json` in a subprocess; its events (one JSON object per stderr line) as they come."""

    def __init__(self, out: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.out = out
        full_env = {**os.environ, **(env or {}), "PYTHONPATH": str(REPO)}
        self.proc = subprocess.Popen([sys.executable, "-m", "nodediag", "watch", "--json", "--out", str(out), *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=full_env)
        self.events: list[dict[str, Any]] = []
        self.other: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            try:
                self.events.append(json.loads(line))
            except ValueError:
                self.other.append(line)

    def of(self, event: str) -> list[dict[str, Any]]:
        return [e for e in list(self.events) if e.get("event") == event]

    def wait_for(self, check: Callable[[], Any], timeout: float, what: str) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = check()
            if found:
                return found
            if self.proc.poll() is not None:
                break
            time.sleep(0.2)
        raise AssertionError(f"{what} did not happen within {timeout}s; events: {self.events[-25:]}; "
                             f"other output: {''.join(self.other)[-2000:]}")

    def stop(self, timeout: float = 5.0) -> tuple[int, float]:
        start = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"watch did not exit within {timeout}s of SIGTERM; events: {self.events[-10:]}") \
                from None
        self._reader.join(5)
        return code, time.monotonic() - start

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def watch(tmp_path: Path) -> Iterator[Callable[..., WatchProcess]]:
    started: list[WatchProcess] = []

    def start(*args: str, env: dict[str, str] | None = None) -> WatchProcess:
        proc = WatchProcess(tmp_path / f"watch-{len(started)}", *args, env=env)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.kill()


@pytest.fixture
def scenario(compose, test_image) -> Iterator[Callable[..., str]]:
    """``scenario(folder)`` brings a compose project up under a unique name; down -v at the end."""
    running: list[tuple[Path, str]] = []

    def up(folder: Path, project: str | None = None) -> str:
        project = project or f"w{uuid.uuid4().hex[:8]}"
        running.append((folder, project))
        compose("up", "--detach", "--no-build", "--pull", "never", project_dir=folder, project=project)
        return project

    yield up
    for folder, project in running:
        compose("down", "--volumes", "--remove-orphans", "--timeout", "1", project_dir=folder, project=project,
                check=False)


def analyze_json(bundle: Path, tmp_path: Path) -> dict[str, Any]:
    out = tmp_path / "report.json"
    done = subprocess.run([sys.executable, "-m", "nodediag", "analyze", str(bundle), "--format", "json",
                           "-o", str(out)], capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)},
                          timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(out.read_text())


def iso_to_epoch(text: str) -> float:
    from datetime import datetime, timezone

    return datetime.strptime(text.rstrip("Z"), "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=timezone.utc).timestamp()


def triggers(proc: WatchProcess, kind: str) -> list[dict[str, Any]]:
    return [e for e in list(proc.events) if e.get("event", "").startswith("trigger") and e.get("kind") == kind]


def test_agent_memory_growing_to_its_limit_gives_a_bundle_with_its_memory_series(watch, scenario, tmp_path):
    folder = SCENARIOS / "agent-memory"
    project = f"w{uuid.uuid4().hex[:8]}"
    proc = watch("--project", project, "--interval", "1s", "--cooldown", "10m")
    proc.wait_for(lambda: proc.of("started"), 30, "start")
    # the project does not exist yet: the watcher keeps looking until it does
    scenario(folder, project)
    agent = f"{project}-prover-agent-1"
    trigger = proc.wait_for(lambda: [e for e in proc.of("trigger") if e.get("container") == agent], 90,
                            "a trigger for the agent's OOM kill")[0]
    assert trigger["kind"] in ("container-oom", "container-died")
    done = proc.wait_for(lambda: proc.of("capture-done"), 60, "the capture")[0]
    assert iso_to_epoch(done["time"]) - iso_to_epoch(trigger["trigger_time"]) < 60  # bundle within 60 s of the kill
    assert done["verified"] is True
    code, _ = proc.stop()
    assert code == 0
    report = analyze_json(Path(done["bundle"]), tmp_path)
    manifest_trigger = report["input"]["manifest"]["trigger"]
    assert manifest_trigger["container"] == agent and manifest_trigger["kind"] == trigger["kind"]
    redaction = report["input"]["manifest"]["redaction"]  # tagged with the host's key, as collect does
    assert redaction["key_source"] == "host" and redaction["key_id"] == load_key(create=False).key_id
    resources = report["facts"]["resources"]
    points = [p for p in resources["containers"][agent] if p["mem_used"] is not None]
    assert len(points) >= 3, points
    limit = 24 * 1024 * 1024
    assert all(p["mem_limit"] == limit and p["mem_limited"] for p in points)
    assert points[-1]["mem_used"] > points[0]["mem_used"]  # climbing towards the limit
    assert resources["trigger"]["kind"] == trigger["kind"]
    assert report["verdict"]["container"] == agent
    kill = next(f for f in report["findings"] if f["rule_id"] == report["verdict"]["rule_id"])
    assert "of its 24.0 MiB limit" in kill["details"]["memory before (watch samples)"]




def test_broker_answering_500_on_status_triggers_and_is_restarted_after_its_bundle(watch, scenario, docker_client):
    project = scenario(LAB / "broker-status-500")  # the broker turns unhealthy 7 s after start
    broker = f"{project}-prover-broker-1"
    started_before = docker_client.api.inspect_container(broker)["State"]["StartedAt"]
    proc = watch("--project", project, "--interval", "1s", "--cooldown", "10m", "--restart-after-capture")
    found = proc.wait_for(lambda: [t for t in triggers(proc, "status-failing") if t["container"] == broker], 60,
                          "a status-failing trigger for the broker")
    assert "failed 3 times in a row (last: HTTP 500)" in found[0]["message"]
    done = proc.wait_for(lambda: proc.of("capture-done"), 60, "a capture")[0]
    assert done["verified"] is True
    # the node's log may have said it first (broker unreachable): that bundle covers the broker's failure
    # too, and only the broker, whose /status failed, is restarted; never the node that complained
    restarted = proc.wait_for(lambda: proc.of("restarted"), 30, "the broker's restart")
    assert [e["container"] for e in restarted] == [broker]
    assert docker_client.api.inspect_container(broker)["State"]["StartedAt"] != started_before
    order = [e["event"] for e in proc.events]
    assert order.index("capture-done") < order.index("restarted")  # the bundle first, the restart second
    # the die and restart events of its own restart are not failures: no new bundle, no second restart
    proc.wait_for(lambda: [e for e in proc.of("trigger-ignored") if e["container"] == broker], 20,
                  "the echo of its own restart")
    time.sleep(3)
    after = [e["event"] for e in proc.events][order.index("restarted"):]
    assert "capture-started" not in after and len(proc.of("restarted")) == 1, proc.events
    assert proc.stop()[0] == 0


def test_restart_loop_gives_one_bundle_per_cooldown(watch, scenario, docker_client):
    project = scenario(LAB / "restart-loop")  # the node exits at start-up, restart: always
    cooldown = 12
    proc = watch("--project", project, "--interval", "1s", "--cooldown", f"{cooldown}s")
    node = f"{project}-prover-node-1"
    first = proc.wait_for(lambda: proc.of("capture-done"), 60, "the first capture")[0]
    watched_from = iso_to_epoch(first["time"])

    def deaths() -> list[dict[str, Any]]:
        return [t for t in list(proc.events) if t.get("event", "").startswith("trigger") and t.get("container") == node
                and t.get("kind") in ("container-died", "container-restarted")]

    def suppressed() -> list[dict[str, Any]]:
        return [e for e in list(proc.events) if e.get("event") in ("trigger-cooldown", "trigger-covered")]

    # Docker's restart back-off doubles (0.1 s .. 1 min): the first death a cooldown after the first bundle
    # may come tens of seconds later on a slow machine. Wait for it, not for a fixed time.
    proc.wait_for(lambda: len(proc.of("capture-done")) >= 2 and suppressed()
                  and len(deaths()) > len(proc.of("capture-done")), 180,
                  "a second bundle a cooldown later, with the deaths in between suppressed")
    code, _ = proc.stop()
    assert code == 0
    elapsed = time.time() - watched_from
    captures = proc.of("capture-done")
    restarts = docker_client.api.inspect_container(node)["RestartCount"]
    assert len(deaths()) > len(captures), (deaths(), captures)  # many deaths, fewer bundles
    assert 2 <= len(captures) <= 1 + int(elapsed // cooldown) + 1, (captures, elapsed)
    assert restarts >= 3
    times = sorted(iso_to_epoch(c["time"]) for c in proc.of("capture-started"))  # admitted >= a cooldown apart
    assert all(b - a >= cooldown - 1 for a, b in zip(times, times[1:], strict=False)), times


def test_full_tmpfs_triggers(watch, scenario):
    project = scenario(LAB / "disk-full")  # the broker's data folder is a 1 MB tmpfs that fills up
    proc = watch("--project", project, "--interval", "1s", "--cooldown", "10m")
    broker = f"{project}-prover-broker-1"
    found = proc.wait_for(lambda: triggers(proc, "filesystem-full"), 60, "a filesystem-full trigger")
    assert found[0]["container"] == broker and found[0]["data"]["path"] == f"{broker}:/data-broker"
    assert found[0]["data"]["percent"] >= 90
    proc.wait_for(lambda: proc.of("capture-done"), 60, "a capture")
    assert proc.stop()[0] == 0


def test_sigterm_exits_0_within_5s_idle_and_during_a_capture(watch, scenario, docker_client):
    project = scenario(LAB / "healthy")
    proc = watch("--project", project, "--interval", "1s")
    proc.wait_for(lambda: proc.of("watching"), 30, "watching")
    code, took = proc.stop()
    assert code == 0 and took < 5
    assert proc.of("stopped")

    busy = watch("--project", project, "--interval", "1s")
    busy.wait_for(lambda: busy.of("watching"), 30, "watching")
    docker_client.api.kill(f"{project}-prover-agent-1")
    busy.wait_for(lambda: busy.of("capture-started"), 30, "a capture")
    code, took = busy.stop()
    assert code == 0 and took < 5, (code, took)
    bundles = list(busy.out.glob("nodediag-*.tar.zst"))
    assert len(bundles) == 1, busy.events  # finished, or written as a partial bundle
    verified = subprocess.run([sys.executable, "-m", "nodediag", "verify", str(bundles[0])], capture_output=True,
                              text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert verified.returncode == 0, verified.stderr


def _engine(action: str, state: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(ENGINE_SCRIPT), action], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "NODEDIAG_ENGINE_DIR": state})


def test_engine_stopped_mid_watch_and_started_again_is_survived(watch, docker_engine, tmp_path):
    # an engine of its own (a folder next to the session's), so stopping it disturbs no other test
    state = (os.environ.get("NODEDIAG_ENGINE_DIR") or "/tmp/nodediag-engine") + "-watch-restart"
    started = _engine("start", state)
    assert started.returncode == 0, started.stderr
    host = started.stdout.strip().splitlines()[-1].split("DOCKER_HOST=", 1)[1]
    try:
        proc = watch("--interval", "1s", env={"DOCKER_HOST": host})
        proc.wait_for(lambda: proc.of("watching"), 30, "watching")
        assert _engine("stop", state).returncode == 0
        proc.wait_for(lambda: proc.of("docker-lost"), 30, "docker-lost")
        db = proc.out / "samples.sqlite"

        def host_samples() -> int:
            with sqlite3.connect(str(db)) as conn:
                return int(conn.execute("SELECT count(*) FROM samples WHERE kind = 'host'").fetchone()[0])

        before = host_samples()
        # host sampling goes on without Docker (two more samples; a loaded machine may take a while)
        proc.wait_for(lambda: host_samples() >= before + 2, 30, "two host samples without Docker")
        assert _engine("start", state).returncode == 0
        proc.wait_for(lambda: proc.of("docker-back"), 45, "docker-back")
        proc.wait_for(lambda: proc.of("events-back"), 45, "the event stream back")
        assert proc.proc.poll() is None
        code, took = proc.stop()
        assert code == 0 and took < 5
    finally:
        _engine("stop", state)
