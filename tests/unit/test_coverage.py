"""Data gaps are honest: a single log names what it lacks, a stdout-only docker log is flagged,
and a log whose kept part starts after the incident began is a gap."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from test_analysis import BROKER, NODE, T0, facade_burst, healthy, line, make_input

from nodediag.analyzer.analysis import analyze_input
from nodediag.analyzer.facts import load_facts
from nodediag.analyzer.inputs import open_input
from nodediag.analyzer.model import ContainerInfo
from nodediag.analyzer.report import render_html


def _single(tmp_path: Path, name: str, lines: list[str]):  # type: ignore[no-untyped-def]
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    inp = open_input(path, workdir=tmp_path / "work")
    return analyze_input(inp, load_facts(inp), tool_version="t")


def test_a_single_log_names_what_it_lacks(tmp_path: Path) -> None:
    result = _single(tmp_path, "node.log", healthy(T0) + facade_burst(T0 + timedelta(minutes=1)))
    by_source = {gap.source: gap for gap in result.input.gaps}
    assert {"container state", "docker events", "host", "other roles"} <= set(by_source)
    assert "the proving broker" in by_source["other roles"].detail
    assert "the prover node," not in by_source["other roles"].detail  # the file is the node's (its name says so)
    assert "every source was collected" not in render_html(result)


def test_compose_logs_of_two_roles_leave_only_the_third_missing(tmp_path: Path) -> None:
    lines = [f"aztec-prover-prover-node-1    | {entry}" for entry in healthy(T0)]
    lines += [f"aztec-prover-prover-broker-1  | {entry}" for entry in healthy(T0)]
    result = _single(tmp_path, "compose.log", lines)
    (roles,) = [gap for gap in result.input.gaps if gap.source == "other roles"]
    assert "the proving agents" in roles.detail and "broker" not in roles.detail


def test_a_docker_log_with_stdout_only_is_flagged(tmp_path: Path) -> None:
    stamp = "2026-11-27T10:00:00.000000000Z"
    stdout = [f"{stamp} Starting Aztec with args: start --prover-node --archiver",
              f"{stamp} Some console banner line"]
    result = _single(tmp_path, "agent.log", stdout)
    assert [gap.status for gap in result.input.gaps if gap.source == "stderr"] == ["missing"]
    assert "stdout only" in next(g.detail for g in result.input.gaps if g.source == "stderr")
    full = _single(tmp_path / "b", "node.log", healthy(T0))
    assert not [gap for gap in full.input.gaps if gap.source == "stderr"]


def test_a_window_that_starts_after_the_incident_began_is_a_gap(tmp_path: Path) -> None:
    failed = "Marking proving job as failed id=12:0x1f type=PUBLIC_VM totalAttempts=3 err=bb crashed"
    late = [line(T0, "INFO", "prover-client:proving-broker", failed)] + healthy(T0 + timedelta(seconds=1))
    node = facade_burst(T0 + timedelta(seconds=5))
    containers = [ContainerInfo(name=BROKER, role="prover-broker", started_at=T0 - timedelta(hours=5)),
                  ContainerInfo(name=NODE, role="prover-node", started_at=T0 - timedelta(hours=5))]
    inp, facts = make_input(tmp_path, {BROKER: late, NODE: node}, containers=containers)
    inp.manifest = {"window": {"since": "2026-11-27T09:59:59Z", "until": "2026-11-27T10:10:00Z"}}
    result = analyze_input(inp, facts, tool_version="t")
    gaps = [gap for gap in result.input.gaps if gap.source == "log window"]
    assert gaps and gaps[0].status == "truncated" and "already under way" in gaps[0].detail
    assert f"containers/{BROKER}/logs.txt" in [f for gap in gaps for f in gap.files]

    early = healthy(T0 - timedelta(hours=1)) + late
    inp, facts = make_input(tmp_path / "full", {BROKER: early, NODE: healthy(T0 - timedelta(hours=1)) + node},
                            containers=containers)
    inp.manifest = {"window": {"since": "2026-11-27T08:59:59Z", "until": "2026-11-27T10:10:00Z"}}
    assert not [gap for gap in analyze_input(inp, facts).input.gaps if gap.source == "log window"]


def test_a_cap_that_kept_only_the_newest_lines_is_a_gap_when_the_incident_is_at_their_start(tmp_path: Path) -> None:
    failed = "Marking proving job as failed id=12:0x1f type=PUBLIC_VM totalAttempts=3 err=bb crashed"
    late = [line(T0, "INFO", "prover-client:proving-broker", failed)] + healthy(T0 + timedelta(seconds=1))
    inp, facts = make_input(tmp_path, {BROKER: late, NODE: facade_burst(T0 + timedelta(seconds=5))})
    inp.manifest = {"window": None, "sources": [
        {"name": "logs", "status": "truncated", "files": [f"containers/{BROKER}/logs.txt"]}]}
    gaps = [gap for gap in analyze_input(inp, facts).input.gaps if gap.source == "log window"]
    assert [gap.files for gap in gaps] == [[f"containers/{BROKER}/logs.txt"]]
    assert "the log cap kept only its newest lines" in gaps[0].detail


def test_console_output_that_says_why_there_is_no_log_is_not_called_stdout_only(tmp_path: Path) -> None:
    stamp = "2026-11-27T10:00:00.000000000Z"
    refusal = [f"{stamp} Missing prover broker URL. Pass --proverAgent.proverBrokerUrl <value>"]
    result = _single(tmp_path, "agent.log", refusal)
    assert not [gap for gap in result.input.gaps if gap.source == "stderr"]
