"""`nodediag collect` when things go wrong on a real engine: a full disk, SIGTERM, a stalled log
stream, the engine killed mid-collect, an overlong log line, the overall deadline. Each run leaves
no temporary file behind, keeps what was read, and exits with the documented code."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.docker.test_collect import REPO, engine_pid, extract, freezing_kernel_log, hung_kernel_log, nodediag

pytestmark = pytest.mark.docker


def engine_state(docker_engine: str) -> Path:
    return Path(docker_engine.removeprefix("unix://")).parent


@pytest.fixture
def logger(docker_client, test_image):
    """``logger(script)`` runs a busybox container with that shell script, waits for it to exit."""
    made = []

    def start(script: str, name: str) -> str:
        c = docker_client.containers.run(test_image, ["sh", "-c", script], name=f"{name}-{os.getpid()}",
                                         network_mode="none", detach=True)
        made.append(c)
        c.wait(timeout=120)
        return c.name

    yield start
    for c in made:
        c.remove(force=True)


# 400 000 lines (16 MB), "line 0 padding.." to "line 399999 padding..": more than the first read of a
# log stream. seq and sed (one pipeline at C speed), not a busybox shell loop of 400 000 iterations.
BIG_LOG = "seq 0 399999 | sed 's/.*/line & padding-padding-padding-padding/' >&2"


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".") or "partial" in p.name)


def test_disk_full_is_an_error_that_says_how_much_and_leaves_nothing(logger, tmp_path):
    name = logger("head -c 1200000 /dev/urandom | base64 >&2", "nodediag-fill")  # 1.6 MB of noise
    disk = tmp_path / "small"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2560k", "tmpfs", str(disk)], check=True)
    try:
        proc = nodediag("collect", "--container", name, "--since", "10m", "-o", str(disk / "b.tar.zst"))
        assert proc.returncode == 1, proc.stderr
        last = proc.stderr.strip().splitlines()[-1]
        assert last.startswith("nodediag: error: the disk holding") and "needed more than" in last, last
        assert "Traceback" not in proc.stderr
        assert list(disk.iterdir()) == [], list(disk.iterdir())
    finally:
        subprocess.run(["umount", str(disk)], check=False)


def _start(args: list[str], cwd: Path) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO), **hung_kernel_log(cwd / "bin"))  # a source always still runs
    return subprocess.Popen([sys.executable, "-m", "nodediag", "collect", *args], stderr=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, env=env, cwd=cwd)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_gives_a_valid_partial_bundle_and_no_temporaries(deployment_module, tmp_path, sig):
    out = tmp_path / "sig.tar.zst"
    proc = _start(["--project", deployment_module.project, "-o", str(out)], tmp_path)
    assert proc.stderr is not None
    for line in proc.stderr:
        if line.startswith("  ok "):
            break
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 4, stderr
    assert "PARTIAL" in stderr and "interrupted" in stderr and "Traceback" not in stderr
    assert leftovers(tmp_path) == []
    assert nodediag("verify", str(out)).returncode == 0
    manifest = json.loads((extract(out, tmp_path / "x") / "manifest.json").read_text())
    assert manifest["status"] == "interrupted" and manifest["partial_reasons"]


def test_deadline_durations_are_true_and_complete_logs_are_not_truncated(deployment_module, docker_engine, tmp_path):
    out = tmp_path / "deadline.tar.zst"
    pid = engine_pid(docker_engine)
    started = time.monotonic()
    try:  # 6 s: ample to learn the secrets on a loaded machine; the frozen engine outlasts it
        proc = nodediag("collect", "--project", deployment_module.project, "--timeout", "6s", "--json", "-o",
                        str(out), env=freezing_kernel_log(tmp_path / "bin", pid))
    finally:
        os.kill(pid, signal.SIGCONT)
    took = time.monotonic() - started
    assert proc.returncode == 4, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["status"] == "deadline" and "the overall --timeout ran out" in summary["partial_reasons"]
    for source in summary["sources"]:
        assert source["duration_s"] <= took + 0.5, source
    root = extract(out, tmp_path / "x")
    for source in summary["sources"]:
        if source["name"].startswith("container_logs:") and source["status"] == "truncated":
            # only a log that was really cut says so, and it keeps what was read
            assert "kept the" in source["error"] and source["files"], source
        elif source["name"].startswith("container_logs:") and source["status"] == "ok":
            log = root / source["files"][0]
            assert log.stat().st_size > 0


def test_a_huge_line_is_cut_in_bounded_memory(logger, tmp_path):
    name = logger("printf 'start PROVER_PUBLISHER_PRIVATE_KEY=0x%s ' "
                  "$(head -c 32 /dev/zero | tr '\\0' 'a' | sed 's/a/ab/g') >&2; "
                  "head -c 120000000 /dev/zero | tr '\\0' 'z' >&2; echo ' end' >&2; echo next-line >&2",
                  "nodediag-longline")
    out = tmp_path / "long.tar.zst"
    code = ("import resource, subprocess, sys; p = subprocess.run(sys.argv[1:]); "
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(p.returncode)")
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run([sys.executable, "-c", code, sys.executable, "-m", "nodediag", "collect", "--container",
                           name, "--since", "10m", "--log-cap", "50MB", "-q", "-o", str(out)],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    peak_kb = int(proc.stdout.strip().splitlines()[-1])
    assert peak_kb < 400 * 1024, f"collect of one 120 MB line peaked at {peak_kb // 1024} MB"
    root = extract(out, tmp_path / "x")
    lines = (root / "containers" / name / "logs.txt").read_text().splitlines()
    assert len(lines) == 2 and lines[1].endswith("next-line")
    assert "[nodediag: line cut here" in lines[0] and len(lines[0]) < (1 << 20) + 200
    assert "abab" not in lines[0] and "[REDACTED:private_key#" in lines[0]


def _collect_with_hook(name: str, out: Path, on_first_feed, **options):
    """Collect one container in-process; ``on_first_feed()`` runs when the first log bytes arrive."""
    from nodediag.collector import log_writer
    from nodediag.collector.collect import CollectOptions, collect

    real_feed = log_writer.LogWriter.feed
    fired: list[bool] = []

    def feed(self, data: bytes) -> None:
        real_feed(self, data)
        if not fired:
            fired.append(True)
            on_first_feed()

    log_writer.LogWriter.feed = feed  # type: ignore[method-assign]
    try:
        return collect(CollectOptions(output=out, containers=(name,), **options))
    finally:
        log_writer.LogWriter.feed = real_feed  # type: ignore[method-assign]


def test_a_stalled_log_stream_keeps_what_was_read(logger, docker_engine, tmp_path):
    name = logger(BIG_LOG, "nodediag-stall")
    pid = engine_pid(docker_engine)
    try:
        outcome = _collect_with_hook(name, tmp_path / "stall.tar.zst", lambda: os.kill(pid, signal.SIGSTOP),
                                     docker_timeout=3, timeout=40, since=__import__("datetime").timedelta(minutes=10))
    finally:
        os.kill(pid, signal.SIGCONT)
    logs = next(r for r in outcome.results if r.name == f"container_logs:{name}")
    assert logs.status == "truncated" and "stalled" in (logs.error or ""), logs
    assert logs.files and outcome.exit_code == 4
    root = extract(outcome.path, tmp_path / "x")
    text = (root / "containers" / name / "logs.txt").read_text()
    assert text.startswith(text.split(" ", 1)[0]) and "line 0 padding" in text
    assert leftovers(tmp_path) == []


def test_engine_killed_mid_collect_keeps_the_log_read_so_far(logger, docker_engine, tmp_path):
    name = logger(BIG_LOG, "nodediag-crash")
    pid = engine_pid(docker_engine)
    try:
        outcome = _collect_with_hook(name, tmp_path / "crash.tar.zst", lambda: os.kill(pid, signal.SIGKILL),
                                     docker_timeout=5, timeout=60,
                                     since=__import__("datetime").timedelta(minutes=10))
    finally:
        env = dict(os.environ, NODEDIAG_ENGINE_DIR=str(engine_state(docker_engine)))
        subprocess.run(["bash", str(REPO / "tests/engine/dockerd.sh"), "start"], env=env, capture_output=True,
                       timeout=120, check=True)
    logs = next(r for r in outcome.results if r.name == f"container_logs:{name}")
    assert logs.status == "truncated" and "broke" in (logs.error or ""), logs
    assert outcome.exit_code == 4 and any("ended early" in r for r in outcome.partial_reasons)
    root = extract(outcome.path, tmp_path / "x")
    assert "line 0 padding" in (root / "containers" / name / "logs.txt").read_text()


def test_ctrl_c_mid_log_keeps_the_part_already_read(logger, tmp_path):
    name = logger(BIG_LOG, "nodediag-ctrlc")
    outcome = _collect_with_hook(name, tmp_path / "ctrlc.tar.zst", lambda: os.kill(os.getpid(), signal.SIGINT),
                                 since=__import__("datetime").timedelta(minutes=10))
    assert outcome.status == "interrupted" and outcome.exit_code == 4
    logs = next(r for r in outcome.results if r.name == f"container_logs:{name}")
    assert logs.status == "truncated" and "interrupted (Ctrl-C)" in (logs.error or "") and logs.ended_early
    root = extract(outcome.path, tmp_path / "x")
    text = (root / "containers" / name / "logs.txt").read_text()
    assert "line 0 padding" in text and "line 399999 padding" not in text
    assert leftovers(tmp_path) == []

