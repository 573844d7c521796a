"""`nodediag collect` against a real Docker engine and a fake prover deployment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import zstandard

pytestmark = pytest.mark.docker

REPO = Path(__file__).resolve().parents[2]


def nodediag(*args: str, env: dict | None = None, cwd: Path | None = None, timeout: float = 300):
    full_env = dict(os.environ)
    full_env.update(env or {})
    full_env["PYTHONPATH"] = str(REPO) + os.pathsep + full_env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-m", "nodediag", *args], capture_output=True, text=True,
                          env=full_env, cwd=cwd, timeout=timeout)


def hung_kernel_log(folder: Path) -> dict[str, str]:
    """Environment overrides under which `dmesg` never answers: collect's kernel_oom source then runs
    for 20 s (its wait for dmesg), so a signal sent once another source is done, or an overall
    --timeout shorter than that, always finds a source still running, however fast or slow the
    machine is (without it every source may be done before the signal arrives)."""
    folder.mkdir(parents=True, exist_ok=True)
    shim = folder / "dmesg"
    shim.write_text("#!/bin/sh\nexec sleep 25\n")
    shim.chmod(0o755)
    return {"PATH": f"{folder}{os.pathsep}{os.environ.get('PATH', '')}"}


def engine_pid(docker_engine: str) -> int:
    """The pid of the test engine's dockerd (tests/engine/dockerd.sh keeps it beside the socket)."""
    return int((Path(docker_engine.removeprefix("unix://")).parent / "dockerd.pid").read_text().strip())


def freezing_kernel_log(folder: Path, dockerd_pid: int) -> dict[str, str]:
    """Environment overrides under which `dmesg` stops the Docker engine (SIGSTOP) and never answers.
    collect reads the kernel log before any container, so every container source then waits on the
    frozen engine and an overall --timeout always cuts them, on a fast machine or a loaded one (a
    short --timeout alone is either too short to learn the secrets or long enough to finish). The
    caller sends SIGCONT."""
    folder.mkdir(parents=True, exist_ok=True)
    shim = folder / "dmesg"
    shim.write_text(f"#!/bin/sh\nkill -STOP {dockerd_pid}\nexec sleep 25\n")
    shim.chmod(0o755)
    return {"PATH": f"{folder}{os.pathsep}{os.environ.get('PATH', '')}"}


def engine_actions(client, container_id: str, since: float) -> list[tuple[str, str | None]]:
    """(action, exit code) of the engine's events for one container from ``since`` until now."""
    events = client.events(since=since, until=time.time(), decode=True, filters={"container": container_id})
    return [(e["Action"], e["Actor"]["Attributes"].get("exitCode")) for e in events]


def wait_for_oom_event(client, container_id: str, since: float) -> list[tuple[str, str | None]]:
    """The container's events once the engine has recorded its OOM kill. On cgroup v2 the kernel's
    notice reaches Docker after the exit, sometimes well after (then State.OOMKilled stays false, and
    a collection made the moment the container exits has no oom event yet)."""
    from waiting import wait_until

    def with_oom() -> list[tuple[str, str | None]]:
        actions = engine_actions(client, container_id, since)
        return actions if any(action == "oom" for action, _ in actions) else []

    return wait_until(with_oom, 60, f"the engine's oom event for {container_id[:12]}", interval=0.5)


def extract(bundle: Path, into: Path) -> Path:
    """Open the bundle with the system tar, as a support engineer without nodediag would."""
    into.mkdir(parents=True, exist_ok=True)
    subprocess.run(["tar", "--zstd", "-xf", str(bundle), "-C", str(into)], check=True)
    tops = list(into.iterdir())
    assert len(tops) == 1, f"one top folder expected, got {tops}"
    return tops[0]


def all_bytes(folder: Path) -> bytes:
    return b"\n".join(p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file())


@pytest.fixture(scope="module")
def official_bundle(deployment_module, tmp_path_factory):
    """Collect the official-naming deployment once for the read-only tests below."""
    dep = deployment_module
    out = tmp_path_factory.mktemp("bundle") / "b.tar.zst"
    proc = nodediag("collect", "--project", dep.project, "--since", "1h", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    root = extract(out, tmp_path_factory.mktemp("x"))
    return dep, out, root, proc


def test_layout_holds_every_source(official_bundle):
    dep, out, root, proc = official_bundle
    manifest = json.loads((root / "manifest.json").read_text())
    assert manifest["format"] == "nodediag-bundle" and manifest["format_version"] == 1
    assert manifest["status"] == "complete"
    for rel in ("host/summary.json", "host/memory.json", "host/disk.json", "host/cpu.json",
                "host/processes.json", "host/listening.json", "docker/version.json", "docker/info.json",
                "docker/containers.json", "docker/events.jsonl"):
        assert (root / rel).is_file(), rel
    for name in dep.containers.values():
        folder = root / "containers" / name
        for f in ("inspect.json", "logs.txt", "stats.json", "top.json"):
            assert (folder / f).is_file(), f"{name}/{f}"
        assert (folder / "logs.txt").stat().st_size > 0
    roles = {c["role"] for c in manifest["deployment"]["containers"]}
    assert {"prover-node", "prover-broker", "prover-agent"} <= roles
    configs = [p.name for p in (root / "config").rglob("*") if p.is_file()]
    assert ".env" in configs and any(n.startswith("compose") for n in configs)


def test_logs_hold_both_streams_with_timestamps(official_bundle):
    dep, _, root, _ = official_bundle
    text = (root / "containers" / dep.containers["prover-node"] / "logs.txt").read_text()
    first = text.splitlines()[0]
    assert first[:4].isdigit() and "T" in first[:11] and first.split(" ", 1)[0].endswith("Z")
    assert "INFO: " in text  # pino records are written to stderr by the roles


def test_probe_reaches_broker_status_inside_its_namespace(official_bundle):
    dep, _, root, _ = official_bundle
    probe = json.loads((root / "probes" / f"{dep.containers['prover-broker']}-status.json").read_text())
    assert probe["status"] == 200 and probe["via"] == "netns"
    assert probe["url"].endswith("/status")


def test_manifest_checksums_and_verify(official_bundle, tmp_path):
    _, out, root, _ = official_bundle
    manifest = json.loads((root / "manifest.json").read_text())
    import hashlib
    for entry in manifest["files"]:
        data = (root / entry["path"]).read_bytes()
        assert len(data) == entry["size"] and hashlib.sha256(data).hexdigest() == entry["sha256"], entry["path"]
    ok = nodediag("verify", str(out))
    assert ok.returncode == 0 and ok.stdout.startswith("OK:")
    # one flipped byte inside a file (re-packed so the zstd frame itself is valid): verify names the file
    tampered = tmp_path / "tampered.tar.zst"
    raw = bytearray(zstandard.ZstdDecompressor().stream_reader(out.read_bytes()).read())
    pos = raw.find(b"\"hostname\"")
    raw[pos + 1] ^= 0x01
    tampered.write_bytes(zstandard.ZstdCompressor().compress(bytes(raw)))
    bad = nodediag("verify", str(tampered))
    assert bad.returncode == 1
    assert "host/summary.json" in bad.stderr and "Traceback" not in bad.stderr
    # one flipped byte in the compressed stream: refused in one line
    flipped = tmp_path / "flipped.tar.zst"
    data = bytearray(out.read_bytes())
    data[len(data) // 2] ^= 0xFF
    flipped.write_bytes(bytes(data))
    bad = nodediag("verify", str(flipped))
    assert bad.returncode != 0 and "Traceback" not in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1


def test_no_planted_secret_survives_anywhere(official_bundle):
    dep, _, root, proc = official_bundle
    blob = all_bytes(root)
    lower = blob.lower()
    for name, value in dep.planted["secrets"].items():
        for variant in {value, value.lower(), value.upper(), value.removeprefix("0x")}:
            if len(variant) >= 6:
                assert variant.lower().encode() not in lower, f"secret {name} leaked"
    assert b"[REDACTED:" in blob
    for name, value in dep.planted["survivors"].items():
        assert value.encode() in blob, f"{name} should survive redaction"
    # the URL keeps its provider and network
    assert b"eth-sepolia.g.alchemy.com/v2/" in blob
    assert "redacted:" in proc.stderr


def test_system_tar_lists_one_top_folder(official_bundle):
    _, out, _, _ = official_bundle
    names = subprocess.run(["tar", "--zstd", "-tf", str(out)], capture_output=True, text=True, check=True).stdout
    tops = {n.split("/", 1)[0] for n in names.splitlines() if n}
    assert tops == {out.name.removesuffix(".tar.zst")} or len(tops) == 1
    assert names.splitlines()[-1].endswith("manifest.json")


def test_oom_killed_container_is_recorded(docker_client, test_image, tmp_path):
    name = f"nodediag-oom-{os.getpid()}"
    since = time.time() - 1
    c = docker_client.containers.run(
        test_image, ["sh", "-c", "echo allocating >&2; x=$(head -c 64000000 /dev/zero | tr '\\0' a); echo done"],
        name=name, mem_limit="16m", memswap_limit="16m", network_mode="none", detach=True)
    try:
        c.wait(timeout=60)
        wait_for_oom_event(docker_client, c.id, since)  # what the bundle must then hold
        out = tmp_path / "oom.tar.zst"
        proc = nodediag("collect", "--container", name, "--since", "10m", "-o", str(out))
        assert proc.returncode == 0, proc.stderr
        root = extract(out, tmp_path / "x")
        inspect = json.loads((root / "containers" / name / "inspect.json").read_text())
        # Docker sets State.OOMKilled only when the OOM event reaches it before the exit; on
        # cgroup v2 it sometimes does not (hashicorp/nomad#13119). The bundle must say what the
        # engine says, and the oom event below is the reliable record.
        assert inspect["State"]["ExitCode"] == 137, inspect["State"]
        assert inspect["State"]["OOMKilled"] is docker_client.api.inspect_container(name)["State"]["OOMKilled"]
        events = [json.loads(line) for line in (root / "docker" / "events.jsonl").read_text().splitlines()]
        actions = {e.get("Action") or e.get("status") for e in events}
        assert "oom" in actions and "die" in actions
        die = next(e for e in events if (e.get("Action") or e.get("status")) == "die")
        assert die["Actor"]["Attributes"]["exitCode"] == "137"
    finally:
        c.remove(force=True)


def test_newest_lines_kept_when_log_exceeds_cap(docker_client, test_image, tmp_path):
    name = f"nodediag-cap-{os.getpid()}"
    c = docker_client.containers.run(
        test_image, ["sh", "-c", "i=0; while [ $i -lt 20000 ]; do echo \"line $i padding-padding-padding\" >&2; "
                                 "i=$((i+1)); done; echo LAST-LINE >&2"],
        name=name, network_mode="none", detach=True)
    try:
        c.wait(timeout=120)
        out = tmp_path / "cap.tar.zst"
        proc = nodediag("collect", "--container", name, "--since", "10m", "--log-cap", "64KB", "-o", str(out))
        assert proc.returncode == 0, proc.stderr
        root = extract(out, tmp_path / "x")
        logs = (root / "containers" / name / "logs.txt").read_bytes()
        assert 0 < len(logs) <= 64 * 1024
        lines = logs.decode().splitlines()
        assert lines[-1].endswith("LAST-LINE")
        assert lines[0].split(" ", 1)[1].startswith("line ")  # the first kept line is whole
        manifest = json.loads((root / "manifest.json").read_text())
        src = next(s for s in manifest["sources"] if s["name"] == f"container_logs:{name}")
        assert src["status"] == "truncated" and "--log-cap" in src["error"]
    finally:
        c.remove(force=True)


def test_container_removed_during_collection(docker_client, test_image, tmp_path, monkeypatch):
    """A container that disappears between discovery and collection costs only its own sources."""
    import nodediag.collector.collect as collect_mod
    from nodediag.collector.collect import CollectOptions, collect

    keep = docker_client.containers.run(test_image, ["sh", "-c", "echo still-here >&2; sleep 300"],
                                        name=f"nodediag-keep-{os.getpid()}", network_mode="none", detach=True)
    gone = docker_client.containers.run(test_image, ["sh", "-c", "echo about-to-go >&2; sleep 300"],
                                        name=f"nodediag-gone-{os.getpid()}", network_mode="none", detach=True)
    real_make_plan = collect_mod.make_plan

    def plan_then_remove(options, now):
        plan, warnings = real_make_plan(options, now)
        gone.remove(force=True)
        return plan, warnings

    monkeypatch.setattr(collect_mod, "make_plan", plan_then_remove)
    try:
        time.sleep(1)
        out = tmp_path / "gone.tar.zst"
        outcome = collect(CollectOptions(output=out, containers=(keep.name, gone.name)))
        assert outcome.path == out and out.exists()
        status = {r.name: r.status for r in outcome.results}
        assert status[f"container_logs:{keep.name}"] == "ok"
        assert status[f"container_logs:{gone.name}"] in ("skipped", "failed")
        assert status[f"container_inspect:{gone.name}"] in ("truncated", "failed")
    finally:
        keep.remove(force=True)


def test_unreachable_docker_gives_host_only_bundle(tmp_path):
    out = tmp_path / "hostonly.tar.zst"
    proc = nodediag("collect", "-o", str(out), env={"DOCKER_HOST": f"unix://{tmp_path}/nope.sock"})
    assert proc.returncode == 4, proc.stderr  # a bundle, but partial
    assert "Docker is not reachable" in proc.stderr and "Traceback" not in proc.stderr
    root = extract(out, tmp_path / "x")
    manifest = json.loads((root / "manifest.json").read_text())
    src = {s["name"]: s for s in manifest["sources"]}
    assert src["docker_connect"]["status"] == "failed"
    assert (root / "host" / "summary.json").is_file() and not (root / "docker").exists()


def test_unwritable_output_folder(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        if os.access(folder, os.W_OK):  # root ignores permission bits: use a path under a file instead
            folder = tmp_path / "a-file"
            folder.write_text("x")
        proc = nodediag("collect", "-o", str(folder / "b.tar.zst"))
        assert proc.returncode == 1
        assert proc.stderr.strip().splitlines()[-1].startswith("nodediag: error:")
        assert "Traceback" not in proc.stderr
    finally:
        (tmp_path / "ro").chmod(0o700)


def test_unknown_project_lists_the_known_ones(deployment_module, tmp_path):
    proc = nodediag("collect", "--project", "no-such-project", "-o", str(tmp_path / "x.tar.zst"))
    assert proc.returncode == 1
    assert "no compose project named 'no-such-project'" in proc.stderr
    assert deployment_module.project in proc.stderr
    assert not (tmp_path / "x.tar.zst").exists()


def test_never_overwrites(tmp_path):
    out = tmp_path / "exists.tar.zst"
    out.write_bytes(b"precious")
    proc = nodediag("collect", "-o", str(out), env={"DOCKER_HOST": f"unix://{tmp_path}/nope.sock"})
    assert proc.returncode == 1 and "already exists" in proc.stderr
    assert out.read_bytes() == b"precious"


def test_ctrl_c_writes_a_valid_partial_bundle(deployment_module, tmp_path):
    """SIGINT while sources run: the bundle is still written, valid, and marked interrupted."""
    import signal

    out = tmp_path / "partial.tar.zst"
    env = dict(os.environ, PYTHONPATH=str(REPO), **hung_kernel_log(tmp_path / "bin"))
    proc = subprocess.Popen([sys.executable, "-m", "nodediag", "collect", "--project", deployment_module.project,
                             "-o", str(out)], stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    # wait for the first finished source, then interrupt while kernel_oom still waits for dmesg
    for line in proc.stderr:
        if line.startswith("  ok "):
            break
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 4, stderr
    assert "PARTIAL: collection was interrupted (Ctrl-C)" in stderr and "Traceback" not in stderr
    assert nodediag("verify", str(out)).returncode == 0
    root = extract(out, tmp_path / "x")
    manifest = json.loads((root / "manifest.json").read_text())
    assert manifest["status"] == "interrupted"
    statuses = {s["status"] for s in manifest["sources"]}
    assert statuses & {"timeout", "skipped"}, "some sources must show they were cut short"


def test_overall_deadline_writes_a_partial_bundle(deployment_module, docker_engine, tmp_path):
    import signal

    out = tmp_path / "deadline.tar.zst"
    pid = engine_pid(docker_engine)
    try:  # 6 s: ample to learn the secrets on a loaded machine; the frozen engine outlasts it
        proc = nodediag("collect", "--project", deployment_module.project, "--timeout", "6s", "-o", str(out),
                        env=freezing_kernel_log(tmp_path / "bin", pid))
    finally:
        os.kill(pid, signal.SIGCONT)
    assert proc.returncode == 4, proc.stderr
    root = extract(out, tmp_path / "x")
    manifest = json.loads((root / "manifest.json").read_text())
    assert manifest["status"] == "deadline"
    cut = [s for s in manifest["sources"] if s["status"] in ("timeout", "skipped")]
    assert cut and all("--timeout" in (s["error"] or "") or "within" in (s["error"] or "") for s in cut)
    logs_cut = [s for s in manifest["sources"]
                if s["name"].startswith("container_logs:") and s["status"] == "truncated"]
    assert all("--timeout" in s["error"] and "kept the" in s["error"] for s in logs_cut)
