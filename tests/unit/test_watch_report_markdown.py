"""A bundle captured by `nodediag watch` shows its samples in every report: per container, memory and
CPU at the first sample, at the peak and at the last sample before the trigger, and the limit, in
the Markdown report (as in the HTML charts) and in the JSON report (`facts.resources.summary`)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from nodediag.cli import main
from nodediag.collector.collect import CollectOptions
from nodediag.collector.watch.capture import CaptureSettings, run_capture
from nodediag.collector.watch.store import Sample, SampleStore
from nodediag.collector.watch.triggers import Trigger

AGENT = "aztec-prover-prover-agent-1"
NODE = "aztec-prover-prover-node-1"
MIB = 1024 * 1024
LIMIT = 64 * MIB


@pytest.fixture(scope="module")
def watch_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bundle written by the watcher's capture (host-only collection: no Docker here) with what
    its sampler stored: the agent's memory climbing to its limit, then the kill; a node without a
    limit; samples after the trigger, which the summary must not count as "before"."""
    folder = tmp_path_factory.mktemp("watch")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DOCKER_HOST", f"unix://{folder}/no-docker.sock")
        store = SampleStore(folder / "samples.db")
        now = time.time()
        t0 = now - 100
        rows = []
        for i, (used, cpu) in enumerate(((10, 80.0), (30, 190.0), (50, 250.0), (61, 120.0))):
            rows.append(Sample(t0 + i * 10, "container", AGENT, {
                "role": "prover-agent", "state": "running", "mem_used": used * MIB, "mem_limit": LIMIT,
                "mem_limited": True, "cpu_percent": cpu, "restart_count": 0}))
            rows.append(Sample(t0 + i * 10, "container", NODE, {
                "role": "prover-node", "state": "running", "mem_used": (200 + i) * MIB, "mem_limit": 8 * 1024 * MIB,
                "mem_limited": False, "cpu_percent": 5.0 + i, "restart_count": 0}))
        trigger_at = t0 + 35
        rows.append(Sample(t0 + 40, "container", AGENT, {"role": "prover-agent", "state": "exited",
                                                         "mem_used": None, "mem_limit": None, "restart_count": 0}))
        rows.append(Sample(t0 + 40, "container", NODE, {
            "role": "prover-node", "state": "running", "mem_used": 900 * MIB, "mem_limit": 8 * 1024 * MIB,
            "mem_limited": False, "cpu_percent": 99.0, "restart_count": 0}))  # after the trigger
        store.add(rows)
        trigger = Trigger("container-oom", trigger_at, f"{AGENT} was killed by the OOM killer", container=AGENT,
                          role="prover-agent", subject=AGENT)
        settings = CaptureSettings(out_dir=folder / "out", collect_options=CollectOptions(timeout=60.0),
                                   interval_s=10.0)
        outcome = run_capture(trigger, [], store, settings)
        store.close()
    assert outcome.path is not None and outcome.verified, outcome
    return outcome.path


def report(bundle: Path, fmt: str, tmp_path: Path) -> str:
    out = tmp_path / f"report.{fmt}"
    result = CliRunner().invoke(main, ["analyze", str(bundle), "-f", fmt, "-o", str(out)])
    assert result.exit_code == 0, result.output
    return out.read_text()


def section(md: str) -> str:
    assert "### Resources before the trigger (watch samples)" in md
    return md.split("### Resources before the trigger (watch samples)", 1)[1].split("\n### ", 1)[0]


def test_markdown_shows_each_containers_samples_before_the_trigger(watch_bundle: Path, tmp_path: Path) -> None:
    part = section(report(watch_bundle, "md", tmp_path))
    assert "**container-oom** on aztec-prover-prover-agent-1" in part.replace("\\-", "-")
    rows = {line.split("|")[1].strip().replace("\\-", "-"): [c.strip() for c in line.split("|")[2:-1]]
            for line in part.splitlines() if line.startswith("| aztec")}
    agent = rows[f"{AGENT} (prover-agent)"]
    # samples | memory start | peak | last before trigger | limit | CPU start | peak | last
    assert agent[0].startswith("4, ")
    assert agent[1:5] == ["10.0 MiB", "61.0 MiB (95%)", "61.0 MiB", "64.0 MiB"]
    assert agent[5:] == ["80%", "250%", "120%"]
    node = rows[f"{NODE} (prover-node)"]
    assert node[1:5] == ["200 MiB", "203 MiB", "203 MiB", "none (host 8.0 GiB)"]  # the 900 MiB came after
    assert node[5:] == ["5%", "8%", "8%"]
    assert list(rows) == [f"{AGENT} (prover-agent)", f"{NODE} (prover-node)"]  # the agent first


def test_json_carries_the_same_summary(watch_bundle: Path, tmp_path: Path) -> None:
    resources = json.loads(report(watch_bundle, "json", tmp_path))["facts"]["resources"]
    summary = {s["container"]: s for s in resources["summary"]}
    agent = summary[AGENT]
    assert (agent["samples"], agent["mem_start"], agent["mem_peak"], agent["mem_last"], agent["mem_limit"]) == \
        (4, 10 * MIB, 61 * MIB, 61 * MIB, LIMIT)
    assert (agent["cpu_start"], agent["cpu_peak"], agent["cpu_last"]) == (80.0, 250.0, 120.0)
    assert summary[NODE]["mem_limit"] is None and summary[NODE]["host_memory"] == 8 * 1024 * MIB
    assert summary[NODE]["mem_peak"] == 203 * MIB
    assert len(resources["containers"][NODE]) == 5  # every sample is still there


def test_a_bundle_without_samples_has_no_such_section(tmp_path: Path) -> None:
    sample = Path(__file__).resolve().parents[2] / "samples" / "agent-oom.tar.zst"
    assert "Resources before the trigger" not in report(sample, "md", tmp_path)
