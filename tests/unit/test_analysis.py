"""analyze_input end to end on small inputs written to disk: causal ordering, verdicts,
incident window, timeline and level series."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

from nodediag.analyzer.analysis import analyze_input
from nodediag.analyzer.model import ContainerInfo, DataGap, Event, Facts, LoadedInput, LogFile

T0 = datetime(2026, 11, 27, 10, 0, tzinfo=timezone.utc)
NODE = "aztec-prover-prover-node-1"
BROKER = "aztec-prover-prover-broker-1"
AGENT = "aztec-prover-prover-agent-1"


def line(at: datetime, level: str, module: str, message: str) -> str:
    stamp = at.strftime("%Y-%m-%dT%H:%M:%S.%f") + "000Z"
    return f"{stamp} [{at.strftime('%H:%M:%S.%f')[:-3]}] {level}: {module} {message}"


def facade_burst(start: datetime, n: int = 12) -> list[str]:
    return [line(start + timedelta(milliseconds=20 * i), "ERROR", "prover-client:orchestrator",
                 "Error thrown when proving job: Error: Broker facade stopped") for i in range(n)]


def healthy(start: datetime, n: int = 5) -> list[str]:
    return [line(start + timedelta(seconds=i), "INFO", "prover-client:proving-broker",
                 f"Proving job complete id=1:{i:04x} type=PUBLIC_BASE_ROLLUP") for i in range(n)]


def make_input(tmp_path: Path, logs: dict[str, list[str]], containers: list[ContainerInfo] | None = None,
               gaps: list[DataGap] | None = None, events: list[Event] | None = None) -> tuple[LoadedInput, Facts]:
    files, log_files = [], []
    roles = {NODE: "prover-node", BROKER: "prover-broker", AGENT: "prover-agent"}
    for name, lines in logs.items():
        rel = f"containers/{name}/logs.txt"
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(lines) + "\n")
        files.append(rel)
        log_files.append(LogFile(path=rel, container=name, role=roles[name]))
    inp = LoadedInput(kind="bundle-v1", root=tmp_path, files=files, manifest=None, gaps=gaps or [])
    facts = Facts(containers=containers or [], log_files=log_files, events=events or [])
    return inp, facts


def test_proof_failure_before_a_facade_burst_is_the_verdict_and_the_burst_its_symptom(tmp_path: Path) -> None:
    failed = "Marking proving job as failed id=12:0x1f type=PUBLIC_VM totalAttempts=3 err=bb crashed"
    broker = healthy(T0) + [line(T0 + timedelta(minutes=2), "INFO", "prover-client:proving-broker", failed)]
    node = healthy(T0) + facade_burst(T0 + timedelta(minutes=3))
    inp, facts = make_input(tmp_path, {BROKER: broker, NODE: node})
    result = analyze_input(inp, facts, tool_version="test")

    assert result.verdict.rule_id == "proof-failed"
    assert result.verdict.confidence == "high"
    assert result.verdict.container == BROKER
    assert result.verdict.started_at == T0 + timedelta(minutes=2)
    assert result.verdict.headline.startswith("Most likely root cause: A proof failed for good")
    assert BROKER in result.verdict.headline and "2026-11-27 10:02:00 UTC" in result.verdict.headline
    ids = [f.rule_id for f in result.findings]
    assert ids.index("proof-failed") < ids.index("broker-facade-stopped")
    burst = next(f for f in result.findings if f.rule_id == "broker-facade-stopped")
    assert burst.caused_by == ["proof-failed"] and burst.count == 12
    cause = next(f for f in result.findings if f.rule_id == "proof-failed")
    assert cause.evidence[0].line_start == 6 and "Marking proving job as failed" in cause.evidence[0].lines[0]
    start, end = result.incident_window
    assert start <= T0 + timedelta(minutes=2) and end >= T0 + timedelta(minutes=3)
    assert [s.file for s in result.parse_stats] == [f"containers/{BROKER}/logs.txt", f"containers/{NODE}/logs.txt"]
    assert result.parse_stats[1].records == 17


def test_an_oom_killed_agent_explains_a_facade_burst(tmp_path: Path) -> None:
    agent = ContainerInfo(name=AGENT, role="prover-agent", image="aztecprotocol/aztec:2.1.2", state="exited",
                          exit_code=137, oom_killed=True, finished_at=T0 + timedelta(minutes=2),
                          env={"NODE_OPTIONS": "--max-old-space-size=65536"})
    inp, facts = make_input(tmp_path, {NODE: healthy(T0) + facade_burst(T0 + timedelta(minutes=4))},
                            containers=[agent])
    result = analyze_input(inp, facts)
    assert result.verdict.rule_id == "container-oom-killed"
    assert result.verdict.confidence == "high" and result.verdict.container == AGENT
    burst = next(f for f in result.findings if f.rule_id == "broker-facade-stopped")
    assert burst.caused_by == ["container-oom-killed"]
    oom = next(f for f in result.findings if f.rule_id == "container-oom-killed")
    assert oom.details["NODE_OPTIONS heap limit"] == "--max-old-space-size=65536 (65536 MB)"
    assert any(e.kind == "event" and "OOMKilled" in e.text for e in result.timeline)


def test_a_facade_burst_alone_gives_a_low_confidence_thin_evidence_verdict(tmp_path: Path) -> None:
    inp, facts = make_input(tmp_path, {NODE: healthy(T0) + facade_burst(T0 + timedelta(minutes=4))})
    result = analyze_input(inp, facts)
    assert result.verdict.rule_id is None and result.verdict.confidence == "low"
    assert result.verdict.headline.startswith("Evidence is thin:")
    assert "Broker facade stopped" in result.verdict.headline
    assert result.incident_window is not None


def test_a_cause_long_before_the_burst_is_not_linked(tmp_path: Path) -> None:
    broker = [line(T0, "WARN", "prover-node:epoch-proving-job", "Stopping job due to deadline hit")]
    inp, facts = make_input(tmp_path, {BROKER: broker, NODE: facade_burst(T0 + timedelta(hours=2))})
    result = analyze_input(inp, facts)
    burst = next(f for f in result.findings if f.rule_id == "broker-facade-stopped")
    assert burst.caused_by == []
    assert result.verdict.rule_id == "proof-deadline-hit" and result.verdict.confidence == "medium"


def test_data_gaps_come_first_and_nothing_found_is_said_honestly(tmp_path: Path) -> None:
    gap = DataGap(source="container_logs:" + AGENT, status="timeout", detail="no answer within 60 s")
    inp, facts = make_input(tmp_path, {NODE: healthy(T0)}, gaps=[gap])
    result = analyze_input(inp, facts)
    assert result.findings[0].rule_id == "data-gap"
    assert result.verdict.rule_id is None and "evidence is thin" in result.verdict.headline
    assert result.incident_window is None


def test_level_series_counts_warnings_and_errors_per_container_and_minute(tmp_path: Path) -> None:
    node = [line(T0 + timedelta(seconds=s), "WARN", "p2p", "peer scoring low") for s in (1, 2, 70)]
    node += [line(T0 + timedelta(seconds=75), "ERROR", "archiver", "boom")]
    inp, facts = make_input(tmp_path, {NODE: node})
    series = analyze_input(inp, facts).level_series
    assert series == {NODE: [(T0, {"WARN": 2}), (T0 + timedelta(minutes=1), {"WARN": 1, "ERROR": 1})]}


def test_timeline_collapses_repeats_caps_its_size_and_says_so(tmp_path: Path) -> None:
    node = [line(T0 + timedelta(seconds=s), "WARN", "p2p", f"peer {s} misbehaved in unique way {s * 7919 % 1000:x}k")
            for s in range(0, 7200, 2)]
    node += facade_burst(T0 + timedelta(hours=2, minutes=1), n=50)
    start_event = Event(time=T0, container=NODE, action="start", line=3)
    inp, facts = make_input(tmp_path, {NODE: node}, events=[start_event])
    result = analyze_input(inp, facts)
    records = [e for e in result.timeline if e.kind == "record"]
    burst_entries = [e for e in records if e.rule_id == "broker-facade-stopped"]
    assert len(burst_entries) == 1 and "(x50," in burst_entries[0].text
    assert len(records) < 3700
    assert any(e.kind == "event" and e.text == "docker event: start" for e in result.timeline)
    assert any(e.kind == "finding" and e.rule_id == "broker-facade-stopped" for e in result.timeline)
    note = next(f for f in result.findings if f.rule_id == "timeline-sampled")
    assert "left out" in note.meaning and result.findings[-1] is note
    assert [e.time for e in result.timeline] == sorted(e.time for e in result.timeline)


def test_restart_banners_and_a_poll_interval_config_issue(tmp_path: Path) -> None:
    banner = "Aztec Server listening on port 8080"
    node = [line(T0, "INFO", "aztec", banner), line(T0 + timedelta(minutes=5), "INFO", "aztec", banner)]
    broker = [line(T0 + timedelta(minutes=1), "WARN", "prover-client:proving-broker",
                   "Proving job id=1:0x2 timed out. Adding it back to the queue.")]
    agent = ContainerInfo(name=AGENT, role="prover-agent", env={"PROVER_AGENT_POLL_INTERVAL_MS": "30000"})
    inp, facts = make_input(tmp_path, {NODE: node, BROKER: broker}, containers=[agent])
    result = analyze_input(inp, facts)
    restart = next(f for f in result.findings if f.rule_id == "server-restarted")
    assert restart.count == 1 and restart.evidence[0].line_start == 2
    timeout = next(f for f in result.findings if f.rule_id == "broker-job-timeout")
    assert timeout.caused_by == ["agent-poll-interval-too-long"]
    ids = [f.rule_id for f in result.findings]
    assert ids.index("agent-poll-interval-too-long") < ids.index("broker-job-timeout")


def test_only_a_serious_config_problem_is_named_with_medium_confidence(tmp_path: Path) -> None:
    env = {"ETHEREUM_HOSTS": "[REDACTED:api_key#1]", "PROVER_BROKER_HOST": "http://b:8080",
           "PROVER_PUBLISHER_PRIVATE_KEY": "[REDACTED:private_key#2]"}
    node = ContainerInfo(name=NODE, role="prover-node", env=env)
    inp, facts = make_input(tmp_path, {NODE: healthy(T0)}, containers=[node])
    result = analyze_input(inp, facts)
    assert result.verdict.rule_id == "required-setting-missing" and result.verdict.confidence == "medium"
    assert "No failure was seen in 5 log records" in result.verdict.headline
