"""load_facts on realistic bundle files: inspect, events, host, kernel OOM, stats, config, probes."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from nodediag.analyzer.facts import compose_environment, load_facts, parse_docker_time
from nodediag.analyzer.model import LoadedInput
from nodediag.envfile import env_values

NODE = "aztec-prover-prover-node-1"
AGENT = "aztec-prover-prover-agent-1"
BROKER = "aztec-prover-prover-broker-1"
GIB = 1024**3


def inspect_json(name: str, role_flag: str, *, status: str, exit_code: int, oom: bool, restarts: int,
                 started: str, finished: str, memory: int = 0) -> dict[str, object]:
    """Shaped like the Engine API's GET /containers/{id}/json (docker SDK ``attrs``)."""
    service = role_flag.removeprefix("--")
    return {
        "Id": "4f1c2d3e" * 8, "Created": "2026-11-25T09:12:44.123456789Z",
        "Path": "node",
        "Args": ["--no-warnings", "/usr/src/yarn-project/aztec/dest/bin/index.js", "start", role_flag],
        "State": {"Status": status, "Running": status == "running", "Paused": False,
                  "Restarting": status == "restarting", "OOMKilled": oom, "Dead": False, "Pid": 0,
                  "ExitCode": exit_code, "Error": "", "StartedAt": started, "FinishedAt": finished},
        "Image": "sha256:" + "ab" * 32, "Name": "/" + name, "RestartCount": restarts,
        "HostConfig": {"Memory": memory, "RestartPolicy": {"Name": "unless-stopped", "MaximumRetryCount": 0}},
        "Config": {"Hostname": "4f1c2d3e", "Image": "aztecprotocol/aztec:2.1.2",
                   "Cmd": ["start", role_flag],
                   "Entrypoint": ["node", "--no-warnings", "/usr/src/yarn-project/aztec/dest/bin/index.js"],
                   "Env": ["ETHEREUM_HOSTS=https://eth-mainnet.g.alchemy.com/v2/[REDACTED:api_key#1a2b3c4d]",
                           "PROVER_ID=0x1234567890abcdef1234567890abcdef12345678",
                           "LOG_LEVEL=info;debug:prover-client", "EMPTY="],
                   "Labels": {"com.docker.compose.project": "aztec-prover",
                              "com.docker.compose.service": service}},
    }


def write(root: Path, rel: str, content: object) -> str:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        path.write_text(content)
    else:
        path.write_text(json.dumps(content))
    return rel


def loaded(root: Path, kind: str = "bundle-v1", manifest: dict[str, object] | None = None) -> LoadedInput:
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    return LoadedInput(kind=kind, root=root, files=files, manifest=manifest or {"format_version": 1})


def test_docker_time() -> None:
    assert parse_docker_time("2026-11-27T18:02:11.123456789Z") == datetime(
        2026, 11, 27, 18, 2, 11, 123456, tzinfo=timezone.utc)
    assert parse_docker_time("2026-11-27T19:02:11+01:00") == datetime(2026, 11, 27, 18, 2, 11, tzinfo=timezone.utc)
    assert parse_docker_time("0001-01-01T00:00:00Z") is None
    assert parse_docker_time("yesterday") is None and parse_docker_time(None) is None


def test_containers_from_inspect(tmp_path: Path) -> None:
    write(tmp_path, f"containers/{AGENT}/inspect.json", inspect_json(
        AGENT, "--prover-agent", status="exited", exit_code=137, oom=True, restarts=3,
        started="2026-11-27T17:40:00.5Z", finished="2026-11-27T18:02:11.123456789Z", memory=64 * GIB))
    write(tmp_path, f"containers/{AGENT}/logs.txt", "2026-11-27T18:00:00.000000000Z hi\n")
    write(tmp_path, f"containers/{NODE}/inspect.json", [inspect_json(  # docker inspect CLI: a list
        NODE, "--prover-node", status="running", exit_code=0, oom=False, restarts=0,
        started="2026-11-27T10:00:00Z", finished="0001-01-01T00:00:00Z")])
    facts = load_facts(loaded(tmp_path))
    by_name = {c.name: c for c in facts.containers}
    agent, node = by_name[AGENT], by_name[NODE]
    assert (agent.role, agent.state, agent.exit_code, agent.oom_killed, agent.restart_count) == (
        "prover-agent", "exited", 137, True, 3)
    assert agent.finished_at == datetime(2026, 11, 27, 18, 2, 11, 123456, tzinfo=timezone.utc)
    assert agent.started_at == datetime(2026, 11, 27, 17, 40, 0, 500000, tzinfo=timezone.utc)
    assert agent.memory_limit == 64 * GIB and agent.restart_policy == "unless-stopped"
    assert agent.env["LOG_LEVEL"] == "info;debug:prover-client" and agent.env["EMPTY"] == ""
    assert agent.image == "aztecprotocol/aztec:2.1.2" and "--prover-agent" in agent.cmd
    assert agent.log_file == f"containers/{AGENT}/logs.txt"
    assert (node.role, node.finished_at, node.memory_limit, node.log_file) == ("prover-node", None, None, None)
    assert [(lf.path, lf.container, lf.role) for lf in facts.log_files] == [
        (f"containers/{AGENT}/logs.txt", AGENT, "prover-agent")]


def test_container_list_adds_uninspected_containers(tmp_path: Path) -> None:
    write(tmp_path, "docker/containers.json", [
        {"Id": "aa" * 32, "Names": [f"/{BROKER}"], "Image": "aztecprotocol/aztec:2.1.2",
         "Command": "node --no-warnings /usr/src/yarn-project/aztec/dest/bin/index.js start --prover-broker",
         "State": "exited", "Status": "Exited (1) 4 minutes ago",
         "Labels": {"com.docker.compose.service": "prover-broker"}},
        {"Id": "bb" * 32, "Names": ["/watchtower"], "Image": "containrrr/watchtower", "Command": "/watchtower",
         "State": "running", "Status": "Up 3 days", "Labels": {}}])
    facts = load_facts(loaded(tmp_path))
    assert [(c.name, c.role, c.state, c.exit_code) for c in facts.containers] == [
        (BROKER, "prover-broker", "exited", 1), ("watchtower", "other", "running", None)]


def test_events(tmp_path: Path) -> None:
    base = 1795802531_000000000  # 2026-11-27T18:02:11Z
    lines = [
        {"status": "die", "id": "cc" * 32, "from": "aztecprotocol/aztec:2.1.2", "Type": "container",
         "Action": "die", "Actor": {"ID": "cc" * 32, "Attributes": {"exitCode": "137", "name": AGENT,
                                                                    "image": "aztecprotocol/aztec:2.1.2"}},
         "scope": "local", "time": base // 10**9, "timeNano": base + 5_000},
        {"Type": "container", "Action": "oom", "Actor": {"ID": "cc" * 32, "Attributes": {"name": AGENT}},
         "time": base // 10**9, "timeNano": base},
        {"Type": "container", "Action": "health_status: unhealthy",
         "Actor": {"Attributes": {"name": NODE}}, "time": base // 10**9 + 60},
        {"Type": "network", "Action": "connect", "Actor": {"Attributes": {"name": "aztec-prover_default"}},
         "time": base // 10**9},
    ]
    text = "\n".join(json.dumps(line) for line in lines[:2]) + "\n{not json\n" + "\n".join(
        json.dumps(line) for line in lines[2:]) + "\n"
    write(tmp_path, "docker/events.jsonl", text)
    inp = loaded(tmp_path)
    events = load_facts(inp).events
    assert [(e.action, e.container, e.line) for e in events] == [
        ("oom", AGENT, 2), ("die", AGENT, 1), ("health_status: unhealthy", NODE, 4)]
    assert events[1].attributes["exitCode"] == "137"
    assert events[1].time == datetime.fromtimestamp(base // 10**9, tz=timezone.utc).replace(microsecond=5)
    assert any("events.jsonl" in w and "1 line" in w for w in inp.warnings)


def test_host_facts(tmp_path: Path) -> None:
    write(tmp_path, "host/summary.json", {
        "hostname": "prover-1", "os": "Linux", "kernel": "6.1.0-18-amd64", "uptime_s": 86400.5,
        "cpus_logical": 32, "cpus_physical": 16, "cpu_model": "AMD EPYC 7543P 32-Core Processor",
        "load_avg": [31.5, 28.0, 20.25], "memory_total": 128 * GIB, "memory_available": 2 * GIB,
        "swap_total": 0, "swap_used": 0})
    write(tmp_path, "host/memory.json", {
        "virtual": {"total": 128 * GIB, "available": 3 * GIB, "percent": 97.7, "used": 120 * GIB},
        "swap": {"total": 8 * GIB, "used": 8 * GIB, "free": 0, "percent": 100.0}})
    write(tmp_path, "host/disk.json", {"filesystems": [
        {"mountpoint": "/", "device": "/dev/nvme0n1p2", "fstype": "ext4", "total": 1900 * GIB,
         "used": 1850 * GIB, "free": 50 * GIB, "percent": 97.4, "role": "docker-data-root,deployment-data"},
        {"mountpoint": "/mnt/gone", "device": "/dev/sdb1", "fstype": "ext4", "error": "Permission denied"}],
        "docker_root": "/var/lib/docker", "data_dirs": ["/root/aztec/data"]})
    oom = ("# source: dmesg\n"
           "[Thu Nov 27 18:02:10 2026] node invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0\n"
           "[Thu Nov 27 18:02:11 2026] oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=docker-cc,"
           "task=node,pid=48211,uid=0\n"
           "[Thu Nov 27 18:02:11 2026] Memory cgroup out of memory: Killed process 48211 (node) "
           "total-vm:80123456kB, anon-rss:67108864kB, file-rss:0kB\n"
           "[Thu Nov 27 18:40:00 2026] Out of memory: Killed process 50002 (bb) total-vm:1kB\n")
    write(tmp_path, "host/kernel-oom.txt", oom)
    facts = load_facts(loaded(tmp_path))
    host = facts.host
    assert (host.hostname, host.cpus, host.cpu_model) == ("prover-1", 32, "AMD EPYC 7543P 32-Core Processor")
    assert host.load == [31.5, 28.0, 20.25] and host.uptime_s == 86400.5
    assert (host.memory_total, host.memory_available, host.swap_total, host.swap_used) == (
        128 * GIB, 3 * GIB, 8 * GIB, 8 * GIB)
    assert [(f.mountpoint, f.percent, f.role) for f in host.filesystems] == [
        ("/", 97.4, "docker-data-root,deployment-data")]
    first, second = host.kernel_oom
    assert (first.file, first.line_start, first.line_end) == ("host/kernel-oom.txt", 2, 4)
    assert "Killed process 48211 (node)" in first.lines[-1] and "48211" in first.note
    assert first.time == datetime(2026, 11, 27, 18, 2, 11, tzinfo=timezone.utc)
    assert (second.line_start, second.line_end) == (5, 5) and "(bb)" in second.note


def test_kernel_oom_from_journal_without_killed_line(tmp_path: Path) -> None:
    write(tmp_path, "host/kernel-oom.txt",
          "# source: journal\n"
          "2026-11-27T18:02:11+0100 prover-1 kernel: oom-kill:constraint=CONSTRAINT_NONE,task=node,pid=7,uid=0\n")
    (record,) = load_facts(loaded(tmp_path)).host.kernel_oom
    assert record.line_start == 2 and "node" in record.note
    assert record.time == datetime(2026, 11, 27, 17, 2, 11, tzinfo=timezone.utc)


def test_container_stats(tmp_path: Path) -> None:
    write(tmp_path, f"containers/{NODE}/inspect.json", inspect_json(
        NODE, "--prover-node", status="running", exit_code=0, oom=False, restarts=0,
        started="2026-11-27T10:00:00Z", finished="0001-01-01T00:00:00Z"))
    write(tmp_path, f"containers/{NODE}/stats.json", {
        "read": "2026-11-27T18:30:01Z", "name": f"/{NODE}", "pids_stats": {"current": 42},
        "memory_stats": {"usage": 10 * GIB, "limit": 16 * GIB, "stats": {"inactive_file": 2 * GIB}},
        "cpu_stats": {"cpu_usage": {"total_usage": 2_000_000_000}, "system_cpu_usage": 110_000_000_000,
                      "online_cpus": 32},
        "precpu_stats": {"cpu_usage": {"total_usage": 1_000_000_000}, "system_cpu_usage": 100_000_000_000}})
    stats = load_facts(loaded(tmp_path)).host.container_stats[NODE]
    assert stats == {"memory_usage": 8 * GIB, "memory_limit": 16 * GIB, "memory_percent": 50.0,
                     "cpu_percent": 320.0, "pids": 42}


def test_config_files_env_and_compose(tmp_path: Path) -> None:
    write(tmp_path, "config/aztec-prover/.env",
          "# prover\nexport LOG_LEVEL=info\nETHEREUM_HOSTS=\"https://rpc.example/[REDACTED:api_key#00aa11bb]\"\n"
          "PROVER_AGENT_COUNT=2 # two agents\nnot a line\n")
    write(tmp_path, "config/aztec-prover/docker-compose.yml",
          "services:\n"
          "  prover-agent:\n    image: aztecprotocol/aztec:2.1.2\n"
          "    environment:\n      PROVER_AGENT_POLL_INTERVAL_MS: \"30000\"\n      LOG_JSON: true\n"
          "  prover-broker:\n    environment:\n      - PROVER_BROKER_JOB_TIMEOUT_MS=30000\n      - DATA_DIRECTORY\n")
    write(tmp_path, "config/other/broken.yaml", "services: [unclosed\n")
    inp = loaded(tmp_path)
    configs = {c.path: c for c in load_facts(inp).config_files}
    assert configs["config/aztec-prover/.env"].env == {
        "LOG_LEVEL": "info", "ETHEREUM_HOSTS": "https://rpc.example/[REDACTED:api_key#00aa11bb]",
        "PROVER_AGENT_COUNT": "2"}
    assert configs["config/aztec-prover/docker-compose.yml"].env == {
        "PROVER_AGENT_POLL_INTERVAL_MS": "30000", "LOG_JSON": "true", "PROVER_BROKER_JOB_TIMEOUT_MS": "30000"}
    assert configs["config/other/broken.yaml"].env == {}
    assert any("broken.yaml" in w and "YAML" in w for w in inp.warnings)


def test_env_and_compose_helpers_tolerate_odd_input() -> None:
    assert env_values("A='x y'\n=novalue\n B = c \n") == {"A": "x y", "B": "c"}
    assert compose_environment(None) == {} and compose_environment({"services": {"x": None}}) == {}


def test_probes_and_unparseable_files(tmp_path: Path) -> None:
    write(tmp_path, f"probes/{NODE}-status.json",
          {"container": NODE, "url": "http://127.0.0.1:8080/status", "via": "host", "status": 500,
           "error": "", "latency_ms": 12.5})
    write(tmp_path, f"probes/{BROKER}-status.json",
          {"container": BROKER, "url": "http://127.0.0.1:8080/status", "via": "netns", "status": None,
           "error": "URLError: [Errno 111] Connection refused", "latency_ms": 1.0})
    write(tmp_path, f"containers/{AGENT}/inspect.json", '{"Name": "/agent", "State": ')
    write(tmp_path, "host/disk.json", "[1, 2")
    inp = loaded(tmp_path)
    facts = load_facts(inp)
    assert [(p.container, p.status, p.via) for p in facts.probes] == [
        (BROKER, None, "netns"), (NODE, 500, "host")]
    assert "Connection refused" in facts.probes[0].error
    assert facts.containers == [] and facts.host.filesystems == []
    assert sum("not valid JSON" in w for w in inp.warnings) == 2


def test_manifest_host_fills_missing_summary(tmp_path: Path) -> None:
    write(tmp_path, "manifest.json", {})
    manifest = {"format_version": 1, "host": {"hostname": "prover-9", "cpus": 64, "memory_bytes": 256 * GIB},
                "deployment": {"containers": [{"name": "odd-name", "role": "prover-agent"}]}}
    write(tmp_path, "containers/odd-name/logs.txt", "x\n")
    facts = load_facts(loaded(tmp_path, manifest=manifest))
    assert (facts.host.hostname, facts.host.cpus, facts.host.memory_total) == ("prover-9", 64, 256 * GIB)
    assert [(lf.container, lf.role) for lf in facts.log_files] == [("odd-name", "prover-agent")]


def test_single_log_has_no_container(tmp_path: Path) -> None:
    write(tmp_path, "prover-node.log", "x\n")
    facts = load_facts(loaded(tmp_path, kind="single-log"))
    assert [(lf.path, lf.container, lf.role) for lf in facts.log_files] == [("prover-node.log", "", "prover-node")]
