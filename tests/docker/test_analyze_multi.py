"""Real engine: one failure-lab scenario (an agent OOM-killed) collected as one bundle and as two
(split with --container), a copy of the agent's bundle rewritten as if its host's clock ran
minutes fast, the node collected apart from the broker and rewritten as if its host's clock ran
minutes slow, and an unrelated deployment's agent: `nodediag analyze B1 B2` on them. The
scenario's node logs at LOG_LEVEL=verbose (the broker facade's job lines).

Everything runs once in the module fixture (a private engine under /tmp, the lab image, compose
up, wait for the failure, collect, compose down, the second deployment, engine down)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lab"))
from lab_runner import (
    DMESG_SHIM_DIR,
    Engine,
    compose,
    engine_work_dir,
    load_scenario,
    nodediag,
    start_engine,
    stop_engine,
    unique_project,
    wait_for_failure,
)

from tests.bundle_tools import extract_bundle, shift_bundle

pytestmark = pytest.mark.docker
OTHER_PROVER_ID = "0x1111111111111111111111111111111111111111"


@dataclass
class Collected:
    whole: Path
    node_side: Path  # node and broker
    agent_side: Path  # the agent alone
    stranger: Path  # the agent of another deployment (another project and PROVER_ID)
    node_only: Path  # the node alone
    broker_agent: Path  # the broker and the agent


@contextmanager
def _environment(name: str, value: str) -> Iterator[None]:
    """``name=value`` in the environment compose runs with (it overrides the scenario's .env)."""
    previous = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = previous


def _names(engine: Engine, project: str) -> dict[str, str]:
    import docker

    client = docker.DockerClient(base_url=engine.docker_host, timeout=30)
    try:
        found = client.containers.list(all=True, filters={"label": f"com.docker.compose.project={project}"})
        return {c.labels.get("com.docker.compose.service", ""): c.name for c in found}
    finally:
        client.close()


def _collect(engine: Engine, output: Path, *selection: str) -> Path:
    env = engine.env()
    env["PATH"] = f"{DMESG_SHIM_DIR}{os.pathsep}{env.get('PATH', '')}"
    done = nodediag("collect", *selection, "--since", "10m", "--log-cap", "256KB", "--timeout", "2m",
                    "-o", str(output), env=env)
    assert done.returncode in (0, 4) and output.is_file(), done.stderr[-800:]
    return output


@pytest.fixture(scope="module")
def collected(tmp_path_factory: pytest.TempPathFactory) -> Any:
    if shutil.which("dockerd") is None or shutil.which("docker") is None:
        pytest.fail("Docker engine not installed: run `bash .ci/setup`", pytrace=False)
    out = tmp_path_factory.mktemp("multi")
    work = engine_work_dir()
    engine = start_engine(work / "engine")
    try:
        scenario, project = load_scenario("agent-oom"), unique_project("agent-oom")
        with _environment("LOG_LEVEL", "verbose"):
            compose(engine, scenario, project, "up", "--detach", "--no-build", "--pull", "never")
        try:
            wait_for_failure(engine, scenario, project)
            names = _names(engine, project)
            whole = _collect(engine, out / "whole.tar.zst", "--project", project)
            node_side = _collect(engine, out / "node.tar.zst", "--container", names["prover-node"],
                                 "--container", names["prover-broker"])
            agent_side = _collect(engine, out / "agent.tar.zst", "--container", names["prover-agent"])
            node_only = _collect(engine, out / "node-only.tar.zst", "--container", names["prover-node"])
            broker_agent = _collect(engine, out / "broker-agent.tar.zst", "--container", names["prover-broker"],
                                    "--container", names["prover-agent"])
        finally:
            compose(engine, scenario, project, "down", "--volumes", "--remove-orphans", "--timeout", "2")
        healthy, other = load_scenario("healthy"), unique_project("other")
        with _environment("PROVER_ID", OTHER_PROVER_ID):  # the environment overrides the scenario's .env
            compose(engine, healthy, other, "up", "--detach", "--no-build", "--pull", "never")
            try:
                wait_for_failure(engine, healthy, other)  # (the healthy flow's wait: proofs submitted)
                stranger = _collect(engine, out / "stranger.tar.zst", "--container",
                                    _names(engine, other)["prover-agent"])
            finally:
                compose(engine, healthy, other, "down", "--volumes", "--remove-orphans", "--timeout", "2")
        yield Collected(whole, node_side, agent_side, stranger, node_only, broker_agent)
    finally:
        stop_engine(engine)
        shutil.rmtree(work, ignore_errors=True)


def analyze(*inputs: Path, out: Path) -> tuple[dict[str, Any], subprocess.CompletedProcess[str]]:
    done = nodediag("analyze", *map(str, inputs), "--format", "json", "-o", str(out))
    assert done.returncode == 0, done.stderr[-800:]
    return json.loads(out.read_text()), done


def test_one_bundle_or_two_split_by_container_give_the_same_top_finding(collected: Collected,
                                                                          tmp_path: Path) -> None:
    one, _ = analyze(collected.whole, out=tmp_path / "one.json")
    two, done = analyze(collected.node_side, collected.agent_side, out=tmp_path / "two.json")
    assert one["verdict"]["rule_id"] == two["verdict"]["rule_id"] == "container-oom-killed"
    assert one["verdict"]["container"] == two["verdict"]["container"]
    assert "prover-agent" in two["verdict"]["container"]
    assert one["findings"][0]["rule_id"] == two["findings"][0]["rule_id"]
    assert len(two["facts"]["hosts"]) == 1  # one host: the same host id in both bundles
    assert "different deployments" not in done.stderr


def test_the_node_side_alone_names_the_symptom_and_the_missing_agents(collected: Collected, tmp_path: Path) -> None:
    alone, _ = analyze(collected.node_side, out=tmp_path / "alone.json")
    ids = [f["rule_id"] for f in alone["findings"]]
    assert "agents-missing-from-evidence" in ids and "broker-job-timeout" in ids
    assert alone["verdict"]["rule_id"] != "container-oom-killed"
    assert "agents' side is missing from the evidence" in alone["verdict"]["headline"]


def test_a_bundle_whose_times_are_minutes_off_is_detected_as_skewed_and_ordered_right(
        collected: Collected, tmp_path: Path) -> None:
    agent = extract_bundle(collected.agent_side, tmp_path / "agent")
    shift_bundle(agent, timedelta(minutes=7), hostname="agent-host-b", host_id="machine:" + "b" * 24)
    one, _ = analyze(collected.whole, out=tmp_path / "one.json")
    skewed, _ = analyze(collected.node_side, agent, out=tmp_path / "skewed.json")
    hosts = {h["label"]: h for h in skewed["facts"]["hosts"]}
    b = hosts["agent-host-b"]
    assert b["clock_basis"] == "paired-records" and b["clock_pairs"] > 0
    assert abs(b["clock_offset_s"] + 420) < 5 and b["clock_error_s"] is not None and b["clock_error_s"] < 5
    assert any("agent-host-b is skewed" in w for w in skewed["input"]["warnings"])
    assert skewed["verdict"]["rule_id"] == "container-oom-killed"
    assert skewed["verdict"]["container"].startswith("agent-host-b/")
    # its times are put back on the broker's clock: the kill is where the single bundle has it
    from nodediag.analyzer.report.formatting import parse_iso

    started_one, started_skewed = parse_iso(one["verdict"]["started_at"]), parse_iso(skewed["verdict"]["started_at"])
    assert started_one is not None and started_skewed is not None
    assert abs((started_skewed - started_one).total_seconds()) < 5
    timeout = next(f for f in skewed["findings"] if f["rule_id"] == "broker-job-timeout")
    assert "container-oom-killed" in timeout["caused_by"]


def test_two_unrelated_deployments_are_not_merged_silently(collected: Collected, tmp_path: Path) -> None:
    report, done = analyze(collected.node_side, collected.stranger, out=tmp_path / "mixed.json")
    warnings = [line for line in done.stderr.splitlines() if line.startswith("warning:")]
    assert any("different deployments" in w and str(collected.stranger) in w for w in warnings), done.stderr
    assert any("different deployments" in w for w in report["input"]["warnings"])


def test_a_node_collected_apart_from_the_broker_is_set_from_its_job_pairs(collected: Collected,
                                                                          tmp_path: Path) -> None:
    """The node's bundle, rewritten as if its host's clock ran six minutes slow, beside the broker's
    and the agent's: its offset is estimated from its job lines against the broker's (the facade's
    'Job enqueued with broker' after the broker's 'New proving job', its epoch's start before the
    epoch's first job) and the verdict is the one the single bundle gives."""
    node = extract_bundle(collected.node_only, tmp_path / "node")
    shift_bundle(node, timedelta(minutes=-6), hostname="node-host-c", host_id="machine:" + "c" * 24)
    one, _ = analyze(collected.whole, out=tmp_path / "one.json")
    split, done = analyze(collected.broker_agent, node, out=tmp_path / "split.json")
    hosts = {h["label"]: h for h in split["facts"]["hosts"]}
    c = hosts["node-host-c"]
    print(f"node-host-c: correction {c['clock_offset_s']:+.3f} s ± {c['clock_error_s']} s (truth +360 s), "
          f"pairs {c['clock_pair_kinds']}")
    assert c["clock_basis"] == "paired-records", c
    assert c["clock_pair_kinds"].get("node/broker jobs", 0) > 0 and c["clock_pair_kinds"].get("node/broker epochs")
    assert c["clock_error_s"] is not None and c["clock_error_s"] < 10, c
    # the true correction lies within the error, give or take how late dockerd may stamp a line it
    # read from a busy container's pipe (the pairs' causality holds for the writes, not the stamps)
    assert abs(c["clock_offset_s"] - 360) <= c["clock_error_s"] + 2, c
    assert any("node-host-c is skewed" in w for w in split["input"]["warnings"])
    assert split["verdict"]["rule_id"] == one["verdict"]["rule_id"] == "container-oom-killed"
    assert split["verdict"]["container"].endswith(one["verdict"]["container"].rsplit("/", 1)[-1])
    from nodediag.analyzer.report.formatting import parse_iso

    started_one, started_split = parse_iso(one["verdict"]["started_at"]), parse_iso(split["verdict"]["started_at"])
    assert started_one is not None and started_split is not None
    assert abs((started_split - started_one).total_seconds()) < 5
    assert "different deployments" not in done.stderr
