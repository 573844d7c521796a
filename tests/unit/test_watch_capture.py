"""Bundle retention (--keep, --max-disk), --on-capture, and --restart-after-capture's guards."""

from __future__ import annotations

import os
import sys
import threading
import time

from nodediag.collector.watch.capture import (
    CaptureOutcome,
    on_capture_command,
    prune_bundles,
    restart_failed_service,
    run_on_capture,
)
from nodediag.collector.watch.triggers import Trigger


def _bundles(folder, sizes):
    paths = []
    for i, size in enumerate(sizes):
        path = folder / f"nodediag-host-2026010{i}T000000Z-container-died.tar.zst"
        path.write_bytes(b"x" * size)
        os.utime(path, (1000 + i, 1000 + i))
        paths.append(path)
    return paths


def test_keep_deletes_the_oldest_first(tmp_path):
    paths = _bundles(tmp_path, [10] * 5)
    (tmp_path / "samples.sqlite").write_bytes(b"not a bundle")
    deleted = prune_bundles(tmp_path, keep=3, max_disk=10**9)
    assert deleted == paths[:2]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([p.name for p in paths[2:]] + ["samples.sqlite"])


def test_max_disk_never_deletes_the_newest(tmp_path):
    paths = _bundles(tmp_path, [100, 100, 500])
    deleted = prune_bundles(tmp_path, keep=20, max_disk=50)
    assert deleted == paths[:2] and paths[2].exists()  # over the cap alone, but the newest stays


def test_on_capture_command_gets_the_path():
    trigger = Trigger("container-died", 0.0, "x")
    assert on_capture_command("notify --to ops", "/o/b.tar.zst", trigger) == ["notify", "--to", "ops", "/o/b.tar.zst"]  # type: ignore[arg-type]
    assert on_capture_command("cp {bundle} /backup/", "/o/b.tar.zst", trigger) == ["cp", "/o/b.tar.zst", "/backup/"]  # type: ignore[arg-type]


def test_on_capture_failure_is_logged_not_raised(tmp_path):
    events: list[tuple[str, str]] = []
    lock = threading.Lock()

    def log(event, message, **fields):
        with lock:
            events.append((event, message))

    bundle = tmp_path / "b.tar.zst"
    trigger = Trigger("container-died", time.time(), "x", "agent")
    code = 'import sys,os; open(sys.argv[1] + \".seen\", \"w\").write(os.environ[\"NODEDIAG_TRIGGER\"])'
    script = f"{sys.executable} -c '{code}'"
    run_on_capture(script, bundle, trigger, log).join(30)
    assert (tmp_path / "b.tar.zst.seen").read_text() == "container-died"
    run_on_capture(f"{sys.executable} -c 'import sys; sys.exit(3)'", bundle, trigger, log).join(30)
    run_on_capture("/nonexistent/notify", bundle, trigger, log).join(30)
    assert [e for e, _ in events] == ["on-capture-done", "on-capture-failed", "on-capture-failed"]
    assert "exited 3" in events[1][1] and "could not run" in events[2][1]


class _FakeApi:
    def __init__(self, state):
        self.state = state
        self.restarted: list[str] = []

    def inspect_container(self, name):
        return {"State": self.state}

    def restart(self, name, timeout=10):
        self.restarted.append(name)


class _FakeClient:
    def __init__(self, state):
        self.api = _FakeApi(state)


def test_restart_only_after_a_verified_bundle_and_only_the_failed_container(tmp_path):
    trigger = Trigger("status-failing", time.time(), "x", "broker")
    client = _FakeClient({"Status": "running", "StartedAt": "2020-01-01T00:00:00Z"})
    unverified = CaptureOutcome(tmp_path / "b.tar.zst", "complete", verified=False)
    assert restart_failed_service(client, trigger, unverified)[0] is False and not client.api.restarted
    host_trigger = Trigger("memory-low", time.time(), "x")
    verified = CaptureOutcome(tmp_path / "b.tar.zst", "complete", verified=True)
    assert restart_failed_service(client, host_trigger, verified) == (False, "nothing restarted: the trigger names "
                                                                             "no container")
    complaint = Trigger("rule-hit", time.time(), "x", "node")  # the node logging that the broker fails
    assert restart_failed_service(client, complaint, verified)[0] is False and not client.api.restarted
    done, text = restart_failed_service(client, trigger, verified)
    assert done and client.api.restarted == ["broker"] and "volumes untouched" in text


def test_no_restart_when_docker_already_restarted_it(tmp_path):
    trigger = Trigger("container-died", time.time() - 60, "x", "node")
    client = _FakeClient({"Status": "running", "StartedAt": time.strftime("%Y-%m-%dT%H:%M:%S.000000000Z",
                                                                          time.gmtime())})
    done, text = restart_failed_service(client, trigger, CaptureOutcome(tmp_path / "b", "complete", verified=True))
    assert not done and "already restarted" in text and client.api.restarted == []
