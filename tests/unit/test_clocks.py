"""Host clocks from paired records (analyzer/clocks.py): a node on another host than the broker's is
set from its facade's and epochs' lines against the broker's, at several offsets; the errors of a
chain (agent host, broker host, node host) compose; a cause logged after its effect beyond them is
not linked."""

from __future__ import annotations

import json
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from nodediag.analyzer.clocks import JobLog, order_grace, pair_bounds, scan_jobs
from nodediag.analyzer.facts import load_facts
from nodediag.analyzer.inputs import open_input
from nodediag.analyzer.model import HostView
from nodediag.cli import main
from tests.bundle_tools import shift_bundle

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_merge import AGENT, BROKER, NODE, T0, agent_oom_scenario, analyze, bundle, jobs, line

FACADE = "prover-client:broker-circuit-prover-facade"


def node_job_lines(broker_lines: list[str], *, enqueued: bool = True, resolved: bool = True,
                   requests: bool = False, epochs: bool = True) -> list[str]:
    """What a node logs about the broker's jobs, on the broker's clock: its JSON-RPC request
    (DEBUG) just before the broker took the job, the facade's "Job enqueued with broker" once the
    broker answered, "Resolved proving job" a poll after the broker completed it; and the epoch's
    start before its first job, its finalisation after the root rollup."""
    out: list[str] = []
    first = min(_when(text) for text in broker_lines)
    last = max(_when(text) for text in broker_lines)
    epoch = next(t for t in broker_lines if "epochNumber=" in t).split("epochNumber=")[1].split()[0]
    if epochs:
        out.append(line(first - timedelta(milliseconds=600), "INFO", "prover-node",
                        f"Starting epoch {epoch} proving job with checkpoints 10 to 12"))
        out.append(line(last + timedelta(milliseconds=900), "INFO", "prover-node",
                        f"Finalized proof for epoch {epoch}"))
    for text in broker_lines:
        at = _when(text)
        job = text.split(" id=")[1].split()[0]
        if "New proving job" in text:
            if requests:
                out.append(line(at - timedelta(milliseconds=30), "DEBUG", "json-rpc:client",
                                f"request proverBroker_enqueueProvingJob [ {{ id: '{job}', type: 3, "
                                f"inputsUri: 'data:...', epochNumber: {epoch} }} ]"))
            if enqueued:
                out.append(line(at + timedelta(milliseconds=40), "VERBOSE", FACADE,
                                f"Job enqueued with broker id={job} type=PUBLIC_BASE_ROLLUP epochNumber={epoch}"))
        elif "Proving job complete" in text and resolved:
            out.append(line(at + timedelta(milliseconds=700), "VERBOSE", FACADE,
                            f"Resolved proving job id={job} type=PUBLIC_BASE_ROLLUP"))
    return sorted(out)


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text.split(" ", 1)[0][:26] + "+00:00")


def with_root(broker_lines: list[str]) -> list[str]:
    """The broker's lines with the epoch's root rollup proved last."""
    last = max(_when(text) for text in broker_lines)
    return sorted(broker_lines + [
        line(last + timedelta(seconds=1), "INFO", "prover-client:proving-broker",
             "New proving job id=3:root epochNumber=3"),
        line(last + timedelta(seconds=3), "INFO", "prover-client:proving-broker",
             "Proving job complete id=3:root type=ROOT_ROLLUP totalAttempts=1")])


@pytest.mark.parametrize("skew", [timedelta(minutes=-6), timedelta(seconds=-45), timedelta(seconds=90),
                                  timedelta(minutes=11)])
def test_a_node_on_another_host_is_set_from_its_job_pairs_with_the_broker(tmp_path: Path, skew: timedelta) -> None:
    broker_lines, agent_lines = jobs(10, T0)
    node = node_job_lines(broker_lines)
    host_b = bundle(tmp_path / "b", {BROKER: broker_lines, AGENT: agent_lines}, hostname="broker-b",
                    host_id="machine:bbbb")
    host_c = bundle(tmp_path / "c", {NODE: node}, hostname="node-c", host_id="machine:cccc")
    shift_bundle(host_c, skew)  # its clock runs ``skew`` off: every time in its bundle
    result = analyze([host_b, host_c], tmp_path / "w")
    view = next(h for h in result.facts.hosts if h.label == "node-c")
    assert view.clock_basis == "paired-records"
    assert view.clock_pair_kinds == {"node/broker jobs": 20, "node/broker epochs": 1}
    assert view.clock_error_s is not None and view.clock_error_s < 0.4
    assert abs(view.clock_offset_s + skew.total_seconds()) <= view.clock_error_s  # the truth lies within the error
    assert view.clock_low_s is not None and view.clock_high_s is not None
    assert view.clock_low_s <= -skew.total_seconds() <= view.clock_high_s


def test_node_lines_at_info_level_alone_bound_its_clock_from_the_epochs(tmp_path: Path) -> None:
    """LOG_LEVEL=info: no facade lines, only the epoch's start (before the broker's first job of
    it) and its finalisation (after the broker completed its root rollup)."""
    broker_lines, _ = jobs(6, T0)
    broker_lines = with_root(broker_lines)
    node = node_job_lines(broker_lines, enqueued=False, resolved=False)
    host_b = bundle(tmp_path / "b", {BROKER: broker_lines}, hostname="broker-b", host_id="machine:bbbb")
    host_c = bundle(tmp_path / "c", {NODE: node}, hostname="node-c", host_id="machine:cccc")
    shift_bundle(host_c, timedelta(minutes=3))
    view = next(h for h in analyze([host_b, host_c], tmp_path / "w").facts.hosts if h.label == "node-c")
    assert view.clock_pair_kinds == {"node/broker epochs": 2}
    assert view.clock_error_s is not None and view.clock_error_s < 1.0
    assert abs(view.clock_offset_s + 180) <= view.clock_error_s


def test_the_node_rpc_requests_at_debug_level_bound_its_clock_from_above(tmp_path: Path) -> None:
    broker_lines, _ = jobs(5, T0)
    folder = bundle(tmp_path / "c", {NODE: node_job_lines(broker_lines, requests=True, epochs=False)},
                    hostname="node-c", host_id="machine:cccc")
    inp = open_input(folder, workdir=tmp_path / "w")
    node = scan_jobs(inp, load_facts(inp), nodes_too=True)
    assert sorted(node.node_requested) == sorted(node.node_enqueued) == [f"1:{i:04x}" for i in range(5)]
    broker = JobLog(broker_new={j: _when(t) for t in broker_lines if "New proving" in t
                                for j in [t.split(" id=")[1].split()[0]]})
    lows, highs, kinds = pair_bounds(broker, node)
    assert kinds == {"node/broker jobs": 10}
    assert max(lows) == pytest.approx(-0.04) and min(highs) == pytest.approx(0.03)
    # a single bundle does not read the node's log for job lines (only several hosts need it)
    assert not scan_jobs(inp, load_facts(inp)).node_enqueued


def test_a_node_burst_is_linked_to_an_agent_kill_only_with_the_node_clock_set(tmp_path: Path) -> None:
    """Three hosts: the agent's (its kill), the broker's (the reference), the node's, its clock five
    minutes slow. Uncorrected, the node's burst of "Broker facade stopped" would be logged four
    minutes before the kill that caused it; set from its job pairs, it follows the kill."""
    logs, inspects, events = agent_oom_scenario(tmp_path)
    broker_lines = [t for t in logs[BROKER] if "timed out" not in t]
    node = sorted(logs[NODE] + node_job_lines(broker_lines, epochs=False))
    host_a = bundle(tmp_path / "a", {AGENT: logs[AGENT]}, hostname="agent-a", host_id="machine:aaaa",
                    inspects=inspects, events=events)
    host_b = bundle(tmp_path / "b", {BROKER: broker_lines}, hostname="broker-b", host_id="machine:bbbb")
    host_c = bundle(tmp_path / "c", {NODE: node}, hostname="node-c", host_id="machine:cccc")
    shift_bundle(host_a, timedelta(seconds=40))
    shift_bundle(host_c, timedelta(minutes=-5))
    result = analyze([host_a, host_b, host_c], tmp_path / "w")
    views = {h.label: h for h in result.facts.hosts}
    assert views["broker-b"].clock_basis == "reference"
    assert views["agent-a"].clock_offset_s == pytest.approx(-40, abs=0.5)
    assert views["node-c"].clock_offset_s == pytest.approx(300, abs=0.5)
    assert result.verdict.rule_id == "container-oom-killed" and result.verdict.container == f"agent-a/{AGENT}"
    burst = next(f for f in result.findings if f.rule_id == "broker-facade-stopped")
    assert burst.container == f"node-c/{NODE}" and "container-oom-killed" in burst.caused_by
    assert burst.first_seen is not None and burst.first_seen > T0 + timedelta(minutes=2)


def test_the_errors_of_a_chain_of_hosts_add_up() -> None:
    agent = HostView(label="a", containers=["a/agent"], clock_error_s=0.3, clock_basis="paired-records")
    broker = HostView(label="b", containers=["b/broker"], clock_error_s=0.0, clock_basis="reference")
    node = HostView(label="c", containers=["c/node"], clock_error_s=0.4, clock_basis="paired-records")
    unknown = HostView(label="d", containers=["d/agent"], clock_error_s=None)
    grace = order_grace([agent, broker, node, unknown])
    assert grace("a/agent", "c/node") == timedelta(seconds=1.7)  # agent -> broker -> node: 0.3 + 0.4 + slack
    assert grace("a/agent", "b/broker") == timedelta(seconds=1.3)
    assert grace("a", "c/node") == timedelta(seconds=1.7)  # a host-level finding is placed by its host
    assert grace("d/agent", "c/node") == timedelta(seconds=2)  # unknown: the usual grace


def test_the_hosts_table_shows_each_clock_estimate_and_what_it_rests_on(tmp_path: Path) -> None:
    broker_lines, agent_lines = jobs(8, T0)
    host_b = bundle(tmp_path / "b", {BROKER: broker_lines, AGENT: agent_lines}, hostname="broker-b",
                    host_id="machine:bbbb")
    host_c = bundle(tmp_path / "c", {NODE: node_job_lines(broker_lines, requests=True)}, hostname="node-c",
                    host_id="machine:cccc")
    shift_bundle(host_c, timedelta(minutes=2))
    for fmt in ("html", "md", "json"):
        out = tmp_path / f"r.{fmt}"
        run = CliRunner().invoke(main, ["analyze", str(host_b), str(host_c), "-f", fmt, "-o", str(out)])
        assert run.exit_code == 0, run.output
        text = out.read_text()
        if fmt == "json":
            view = next(h for h in json.loads(text)["facts"]["hosts"] if h["label"] == "node-c")
            assert view["clock_pair_kinds"] == {"node/broker jobs": 24, "node/broker epochs": 1}
            continue
        table = text[text.index('id="hosts"'):text.index('id="containers"')] if fmt == "html" else \
            text[text.index("### Hosts"):text.index("### Containers")]
        assert "-120.0 s ± 0.0 s" in table, fmt
        assert "24 node/broker jobs, 1 node/broker epochs" in table, fmt
        assert "node-c is skewed: it runs 120.0 s ± 0.0 s ahead of broker-b" in text.replace("&#39;", "'"), fmt
