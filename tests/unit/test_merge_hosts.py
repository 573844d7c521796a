"""Host-level rules read each host of a deployment analysed from several bundles on its own: its
RAM and CPUs against the roles that run on it, its filesystems, its kernel OOM records; a finding
names its host, and the report groups resources and data gaps by host."""

from __future__ import annotations

import json
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from nodediag.analyzer.model import AnalysisResult, Finding
from nodediag.cli import main
from tests.bundle_tools import rechecksum, shift_bundle

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_merge import AGENT, BROKER, NODE, T0, analyze, bundle, inspect, jobs, line

GIB = 2**30
AGENT_2 = "aztec-prover-prover-agent-2"


def agent_inspect(name: str, count: int, *, container_id: str = "") -> bytes:
    data = json.loads(inspect(AGENT))
    data["Name"] = "/" + name
    data["Config"]["Env"].append(f"PROVER_AGENT_COUNT={count}")
    data["HostConfig"]["Memory"] = 0
    if container_id:
        data["Id"] = container_id
    return json.dumps(data).encode()


def set_host(folder: Path, *, memory_gb: int, cpus: int, disks: tuple[tuple[str, float], ...] = (),
             kernel_oom: str = "") -> Path:
    """Give the extracted bundle ``folder`` a host of this size, these filesystems (mount, percent
    used) and kernel OOM lines."""
    summary_path = folder / "host/summary.json"
    summary = json.loads(summary_path.read_text())
    summary.update(memory_total=memory_gb * GIB, cpus_logical=cpus, memory_available=memory_gb * GIB // 4)
    summary_path.write_text(json.dumps(summary))
    rows = [{"mountpoint": mount, "device": "/dev/nvme0n1p1", "fstype": "ext4", "total": 1000 * GIB,
             "used": int(10 * percent * GIB), "free": int((1000 - 10 * percent) * GIB), "percent": percent}
            for mount, percent in disks]
    (folder / "host/disk.json").write_text(json.dumps({"filesystems": rows}, indent=1))
    if kernel_oom:
        (folder / "host/kernel-oom.txt").write_text(kernel_oom)
    rechecksum(folder)
    return folder


def deployment(tmp_path: Path, *, node_host: dict[str, Any], agent_host: dict[str, Any], agents: int = 2) -> list[Path]:
    """Node and broker on host A, one agent container running ``agents`` agents on host B."""
    broker_jobs, agent_jobs = jobs(6, T0)
    a = bundle(tmp_path / "a", {NODE: [line(T0, "INFO", "prover-node", "Starting epoch 3 proving job")],
                                BROKER: broker_jobs}, hostname="prover-a", host_id="machine:aaaa")
    b = bundle(tmp_path / "b", {AGENT: agent_jobs}, hostname="agent-b", host_id="machine:bbbb",
               inspects={AGENT: agent_inspect(AGENT, agents)})
    return [set_host(a, **node_host), set_host(b, **agent_host)]


def host_findings(result: AnalysisResult) -> list[Finding]:
    wanted = ("host-memory-below-minimum", "host-cpu-below-minimum", "filesystem-almost-full", "kernel-oom-kill",
              "container-memory-limit-kill")
    return [f for f in result.findings if f.rule_id in wanted]


def test_agents_on_a_big_host_are_not_judged_by_the_node_host(tmp_path: Path) -> None:
    """Two agents (256 GB) on a 256 GB, 64-core host B; node and broker (32 GB, 24 cores) on a
    64 GB, 32-core host A. Judged against A with every role, it was 'A has 64 GiB; its roles
    need 288 GB'; host by host, nothing is short."""
    paths = deployment(tmp_path, node_host={"memory_gb": 64, "cpus": 32}, agent_host={"memory_gb": 256, "cpus": 64})
    assert host_findings(analyze(paths, tmp_path / "w")) == []


def test_a_small_agent_host_is_named_and_judged_by_its_own_roles(tmp_path: Path) -> None:
    paths = deployment(tmp_path, node_host={"memory_gb": 512, "cpus": 128}, agent_host={"memory_gb": 128, "cpus": 32})
    result = analyze(paths, tmp_path / "w")
    found = {f.rule_id: f for f in host_findings(result)}
    assert sorted(found) == ["host-cpu-below-minimum", "host-memory-below-minimum"]
    memory = found["host-memory-below-minimum"]
    assert memory.title == "Host agent-b has 128 GiB RAM; its roles need 256 GB"
    assert memory.details["host"] == "agent-b" and memory.details["roles"] == f"agent-b/{AGENT} (prover-agent x2): 256"
    shown = memory.evidence[0]
    assert shown.file == "agent-b/host/summary.json" and shown.line_start > 0  # the line itself, in that host's file
    assert found["host-cpu-below-minimum"].title == "Host agent-b has 32 CPUs; its roles need 64 cores"


def test_a_full_disk_and_a_kernel_oom_kill_are_those_of_their_host(tmp_path: Path) -> None:
    oom = ("[Fri Nov 27 10:02:00 2026] bb invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0\n"
           "[Fri Nov 27 10:02:00 2026] Out of memory: Killed process 4242 (bb) total-vm:1kB, anon-rss:1kB\n")
    paths = deployment(tmp_path, node_host={"memory_gb": 64, "cpus": 32, "disks": (("/", 40.0), ("/data", 98.0))},
                       agent_host={"memory_gb": 256, "cpus": 64, "disks": (("/", 50.0),), "kernel_oom": oom})
    result = analyze(paths, tmp_path / "w")
    found = {f.rule_id: f for f in host_findings(result)}
    assert sorted(found) == ["filesystem-almost-full", "kernel-oom-kill"]
    disk = found["filesystem-almost-full"]
    assert disk.title == "Filesystem /data on host prover-a is 98 % full (20.0 GiB free)"
    assert disk.details["host"] == "prover-a" and disk.details["mountpoint"] == "/data"
    assert disk.evidence[0].file == "prover-a/host/disk.json" and '"/data"' in disk.evidence[0].lines[0]
    kill = found["kernel-oom-kill"]
    assert kill.details["host"] == "agent-b" and kill.title.endswith("on host agent-b")
    assert kill.evidence[0].file == "agent-b/host/kernel-oom.txt"
    row = next(e for e in result.timeline if e.action == "kernel-oom")
    assert row.container == "agent-b"  # the host it happened on, in the timeline


def test_a_kernel_kill_on_a_skewed_host_is_dated_on_the_reference_clock(tmp_path: Path) -> None:
    """The agent host's clock runs five minutes fast: its kernel wrote the kill at 10:12 by that
    clock; on the broker host's clock it happened at 10:07."""
    paths = deployment(tmp_path, node_host={"memory_gb": 64, "cpus": 32}, agent_host={"memory_gb": 256, "cpus": 64})
    shift_bundle(paths[1], timedelta(minutes=5))
    (paths[1] / "host/kernel-oom.txt").write_text(
        "[Fri Nov 27 10:12:00 2026] Out of memory: Killed process 4242 (bb) total-vm:1kB, anon-rss:1kB\n")
    rechecksum(paths[1])
    result = analyze(paths, tmp_path / "w")
    kill = next(f for f in result.findings if f.rule_id == "kernel-oom-kill")
    assert kill.first_seen is not None and abs(kill.first_seen - (T0 + timedelta(minutes=7))) < timedelta(seconds=1)


def test_the_report_groups_resources_and_gaps_by_host(tmp_path: Path) -> None:
    paths = deployment(tmp_path, node_host={"memory_gb": 64, "cpus": 32, "disks": (("/data", 42.0),)},
                       agent_host={"memory_gb": 256, "cpus": 64, "disks": (("/scratch", 77.0),)})
    manifest = json.loads((paths[1] / "manifest.json").read_text())  # the agent host's collection lost its events
    manifest["sources"] = [{"name": "docker_events", "status": "failed", "detail": "timed out after 30 s",
                            "duration_s": 30.0, "writes": ["docker/events.jsonl"]}]
    (paths[1] / "manifest.json").write_text(json.dumps(manifest))
    for fmt in ("html", "md"):
        out = tmp_path / f"r.{fmt}"
        run = CliRunner().invoke(main, ["analyze", *map(str, paths), "-f", fmt, "-o", str(out)])
        assert run.exit_code == 0, run.output
        text = out.read_text()
        start = text.index('id="resources"') if fmt == "html" else text.index("### Host resources")
        resources = text[start:]
        a, b = resources.index("prover-a"), resources.index("agent-b")
        assert a < resources.index("/data") < b < resources.index("/scratch"), fmt  # each host's own disks
        assert "of 256 GiB" in resources[b:] and "of 256 GiB" not in resources[a:b], fmt
        gaps = text[text.index('id="gaps"'):text.index('id="findings"')] if fmt == "html" else \
            text[:text.index("### Findings")]
        if fmt == "html":  # the containers table has a row per host before its containers
            table = text[text.index('id="containers"'):text.index('id="resources"')]
            assert table.index("Host prover-a</a>") < table.index(f"prover-a/{NODE}") < table.index(
                "Host agent-b</a>") < table.index(f"agent-b/{AGENT}")
        heading, gap = ("Host agent-b</th>", "agent-b: docker_events") if fmt == "html" else (
            "\n\n**Host agent-b:**", "agent-b: docker\\_events")
        assert heading in gaps and gap in gaps[gaps.index(heading):], fmt


def test_one_host_judges_every_role_against_itself_as_before(tmp_path: Path) -> None:
    """One bundle holding node, broker and a two-agent container on one 128 GB host: every role
    is this host's (288 GB needed), and the finding keeps its one-host wording (no host named)."""
    broker_jobs, agent_jobs = jobs(4, T0)
    one = bundle(tmp_path / "one", {NODE: [line(T0, "INFO", "prover-node", "Starting epoch 3 proving job")],
                                    BROKER: broker_jobs, AGENT: agent_jobs}, hostname="prover-1",
                 host_id="machine:1111", inspects={AGENT: agent_inspect(AGENT, 2)})
    set_host(one, memory_gb=128, cpus=32)
    found = next(f for f in analyze([one], tmp_path / "w").findings if f.rule_id == "host-memory-below-minimum")
    assert found.title == "Host has 128 GiB RAM; its roles need 288 GB" and "host" not in found.details
    assert found.evidence[0].file == "host/summary.json"


def test_the_watch_samples_of_the_agent_host_still_tell_its_memory_before_the_kill(tmp_path: Path) -> None:
    """`nodediag watch` ran on the agent host (its clock 30 s fast): joined with the node host's
    bundle, the OOM kill still says what the agent's memory did before it, on the reference clock."""
    from test_merge import agent_oom_scenario

    logs, inspects, events = agent_oom_scenario(tmp_path)
    start = (T0 + timedelta(seconds=60)).timestamp()
    rows = [{"t": start + 10 * i, "kind": "container", "name": AGENT, "role": "prover-agent", "state": "running",
             "mem_used": (100 + 20 * i) * 2**20, "mem_limit": 2**30, "mem_limited": True} for i in range(6)]
    a = bundle(tmp_path / "a", {NODE: logs[NODE], BROKER: logs[BROKER]}, hostname="prover-a", host_id="machine:aaaa")
    b = bundle(tmp_path / "b", {AGENT: logs[AGENT]}, hostname="agent-b", host_id="machine:bbbb", inspects=inspects,
               events=events)
    shift_bundle(b, timedelta(seconds=30))
    (b / "watch").mkdir()
    (b / "watch/samples.jsonl").write_text("\n".join(json.dumps({**r, "t": r["t"] + 30}) for r in rows) + "\n")
    rechecksum(b)
    result = analyze([a, b], tmp_path / "w")
    killed = next(f for f in result.findings if f.rule_id == "container-oom-killed")
    assert killed.container == f"agent-b/{AGENT}"
    assert "100.0 MiB -> 200.0 MiB of its 1024.0 MiB limit" in killed.details["memory before (watch samples)"]
    series = result.facts.resources
    assert series is not None and series.file == "agent-b/watch/samples.jsonl"
    moved = series.containers[f"agent-b/{AGENT}"][0].time - (T0 + timedelta(seconds=60))
    assert abs(moved) < timedelta(seconds=0.2)  # on the broker host's clock (within the estimate's error)
