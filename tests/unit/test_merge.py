"""Several bundles analysed as one deployment (analyzer/merge.py and `nodediag analyze B1 B2`):
hosts told apart, clocks set against the broker's host from paired job records, unrelated
deployments not joined silently, and what a set of bundles cannot see said in the report."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

from nodediag.analyzer.analysis import analyze_input
from nodediag.analyzer.clocks import JobLog, _stamp, estimate_offset, offset_bounds, scan_jobs
from nodediag.analyzer.facts import load_facts
from nodediag.analyzer.inputs import open_input
from nodediag.analyzer.merge import merge_inputs
from nodediag.analyzer.model import AnalysisResult
from nodediag.analyzer.report.json_report import render_json, result_from_json
from nodediag.cli import main
from tests.bundle_tools import shift_bundle, write_bundle_folder

T0 = datetime(2026, 11, 27, 10, 0, tzinfo=timezone.utc)
NODE = "aztec-prover-prover-node-1"
BROKER = "aztec-prover-prover-broker-1"
AGENT = "aztec-prover-prover-agent-1"
FLAGS = {NODE: "--prover-node", BROKER: "--prover-broker", AGENT: "--prover-agent"}
PROVER_ID = "0x1234567890abcdef1234567890abcdef12345678"


def line(at: datetime, level: str, module: str, message: str) -> str:
    stamp = at.strftime("%Y-%m-%dT%H:%M:%S.%f") + "000Z"
    return f"{stamp} [{at.strftime('%H:%M:%S.%f')[:-3]}] {level}: {module} {message}"


def inspect(name: str, *, oom: bool = False, finished: datetime | None = None, prover_id: str = PROVER_ID,
            project: str = "aztec-prover") -> bytes:
    flag = FLAGS[name]
    return json.dumps({
        "Id": ("a9" if name == AGENT else "b8" if name == BROKER else "c7") * 32, "Name": "/" + name,
        "Path": "node", "Args": ["/usr/src/yarn-project/aztec/dest/bin/index.js", "start", flag],
        "State": {"Status": "exited" if oom else "running", "OOMKilled": oom, "ExitCode": 137 if oom else 0,
                  "StartedAt": "2026-11-27T09:00:00.000000000Z",
                  "FinishedAt": (finished.strftime("%Y-%m-%dT%H:%M:%S.%f") + "000Z") if finished
                  else "0001-01-01T00:00:00Z"},
        "HostConfig": {"Memory": 2**30},
        "Config": {"Image": "aztecprotocol/aztec:2.1.2", "Cmd": ["start", flag],
                   "Env": [f"PROVER_ID={prover_id}", "PROVER_BROKER_HOST=http://prover-broker:8080"],
                   "Labels": {"com.docker.compose.project": project,
                              "com.docker.compose.service": flag.removeprefix("--")}},
    }).encode()


def jobs(count: int, start: datetime, agent_shift: timedelta = timedelta()) -> tuple[list[str], list[str]]:
    """Healthy job traffic: the broker's lines and the agent's (its clock ``agent_shift`` off)."""
    broker, agent = [], []
    for i in range(count):
        at = start + timedelta(seconds=4 * i)
        job = f"1:{i:04x}"
        broker.append(line(at, "INFO", "prover-client:proving-broker", f"New proving job id={job} epochNumber=3"))
        agent.append(line(at + timedelta(milliseconds=150) + agent_shift, "INFO", "prover-client:proving-agent",
                          f"Starting job id={job} type=PUBLIC_BASE_ROLLUP inputsUri=data:..."))
        agent.append(line(at + timedelta(seconds=2) + agent_shift, "INFO", "prover-client:proving-agent",
                          f"Job id={job} type=PUBLIC_BASE_ROLLUP completed outputUri=data:..."))
        broker.append(line(at + timedelta(seconds=2, milliseconds=80), "INFO", "prover-client:proving-broker",
                           f"Proving job complete id={job} type=PUBLIC_BASE_ROLLUP totalAttempts=1"))
    return sorted(broker), agent


def timeouts(at: datetime, n: int = 3) -> list[str]:
    return [line(at + timedelta(seconds=i), "WARN", "prover-client:proving-broker",
                 f"Proving job id=9:{i:04x} timed out. Adding it back to the queue.") for i in range(n)]


def heap_oom(at: datetime) -> list[str]:
    return [line(at, "ERROR", "node", "FATAL ERROR: Reached heap limit Allocation failed - "
                 "JavaScript heap out of memory")]


def files_for(logs: dict[str, list[str]], inspects: dict[str, bytes] | None = None,
              events: list[dict[str, object]] | None = None) -> dict[str, bytes]:
    files = {f"containers/{name}/logs.txt": ("\n".join(lines) + "\n").encode() for name, lines in logs.items()}
    for name in logs:
        files[f"containers/{name}/inspect.json"] = (inspects or {}).get(name) or inspect(name)
    if events:
        files["docker/events.jsonl"] = ("\n".join(json.dumps(e) for e in events) + "\n").encode()
    return files


def oom_event(at: datetime) -> dict[str, object]:
    nano = int(at.timestamp()) * 10**9 + at.microsecond * 1000
    return {"Type": "container", "Action": "oom", "timeNano": nano, "time": int(at.timestamp()),
            "Actor": {"ID": "a9" * 32, "Attributes": {"name": AGENT}}}


def bundle(folder: Path, logs: dict[str, list[str]], *, hostname: str, host_id: str,
           inspects: dict[str, bytes] | None = None, events: list[dict[str, object]] | None = None,
           project: str = "aztec-prover", synchronized: bool | None = None) -> Path:
    return write_bundle_folder(folder, files_for(logs, inspects, events), hostname=hostname, host_id=host_id,
                               project=project, synchronized=synchronized,
                               containers=[{"name": n, "role": "", "service": FLAGS[n].removeprefix("--")}
                                           for n in logs])


def analyze(paths: list[Path], work: Path) -> AnalysisResult:
    if len(paths) == 1:
        inp = open_input(paths[0], workdir=work)
        return analyze_input(inp, load_facts(inp))
    parts = []
    for i, path in enumerate(paths):
        inp = open_input(path, workdir=work / str(i))
        parts.append((inp, load_facts(inp)))
    merged = merge_inputs(parts, work)
    return analyze_input(merged.input, merged.facts)


def agent_oom_scenario(tmp_path: Path) -> tuple[dict[str, list[str]], dict[str, bytes], list[dict[str, object]]]:
    broker_jobs, agent_jobs = jobs(10, T0)
    killed = T0 + timedelta(minutes=2)
    logs = {NODE: [line(T0, "INFO", "prover-node", "Starting epoch 3 proving job")]
            + [line(killed + timedelta(seconds=50, milliseconds=20 * i), "ERROR", "prover-client:orchestrator",
                    "Error thrown when proving job: Error: Broker facade stopped") for i in range(8)],
            BROKER: broker_jobs + timeouts(killed + timedelta(seconds=31)),
            AGENT: agent_jobs}
    return logs, {AGENT: inspect(AGENT, oom=True, finished=killed)}, [oom_event(killed)]


def test_one_bundle_or_two_split_by_container_give_the_same_verdict(tmp_path: Path) -> None:
    logs, inspects, events = agent_oom_scenario(tmp_path)
    one = bundle(tmp_path / "one", logs, hostname="prover-1", host_id="machine:aaaa", inspects=inspects,
                 events=events)
    node_side = bundle(tmp_path / "a", {NODE: logs[NODE], BROKER: logs[BROKER]}, hostname="prover-1",
                       host_id="machine:aaaa", events=events)  # (both bundles hold the host's events)
    agent_side = bundle(tmp_path / "b", {AGENT: logs[AGENT]}, hostname="prover-1", host_id="machine:aaaa",
                        inspects=inspects, events=events)
    single = analyze([one], tmp_path / "w1")
    joined = analyze([node_side, agent_side], tmp_path / "w2")
    assert single.verdict.rule_id == joined.verdict.rule_id == "container-oom-killed"
    assert single.verdict.container == joined.verdict.container == AGENT  # one host: names unqualified
    assert single.verdict.started_at == joined.verdict.started_at
    assert [(f.rule_id, f.count) for f in single.findings] == [(f.rule_id, f.count) for f in joined.findings]
    assert len(joined.facts.events) == len(single.facts.events) == 1
    assert len(joined.facts.hosts) == 1 and joined.facts.hosts[0].clock_basis == "reference"


def test_two_hosts_name_containers_by_host_and_link_across_them(tmp_path: Path) -> None:
    logs, inspects, events = agent_oom_scenario(tmp_path)
    host_a = bundle(tmp_path / "a", {NODE: logs[NODE], BROKER: logs[BROKER]}, hostname="prover-a",
                    host_id="machine:aaaa")
    host_b = bundle(tmp_path / "b", {AGENT: logs[AGENT]}, hostname="agent-b", host_id="machine:bbbb",
                    inspects=inspects, events=events)
    result = analyze([host_a, host_b], tmp_path / "w")
    assert result.verdict.rule_id == "container-oom-killed"
    assert result.verdict.container == f"agent-b/{AGENT}"
    assert f"agent-b/{AGENT}" in result.verdict.headline
    names = sorted(c.name for c in result.facts.containers)
    assert names == [f"agent-b/{AGENT}", f"prover-a/{BROKER}", f"prover-a/{NODE}"]
    timeout = next(f for f in result.findings if f.rule_id == "broker-job-timeout")
    assert timeout.container == f"prover-a/{BROKER}" and timeout.caused_by == ["container-oom-killed"]
    agent_host = next(h for h in result.facts.hosts if h.label == "agent-b")
    assert agent_host.clock_basis == "paired-records" and agent_host.clock_pairs == 20
    assert abs(agent_host.clock_offset_s) < 0.2  # no skew: the pairs bound it tightly
    assert any("2 inputs analysed as one deployment" in w and "agent-b" in w for w in result.input.warnings)
    killed = next(f for f in result.findings if f.rule_id == "container-oom-killed")
    shown = killed.evidence[0]  # the line of the agent's own inspect.json, found under its host's name
    assert shown.file == f"containers/agent-b_{AGENT}/inspect.json" and shown.file in result.input.files
    assert shown.line_start > 0 and "OOMKilled" in shown.lines[0]
    assert (Path(result.input.root) / shown.file).read_text().count("OOMKilled") == 1


def test_a_host_whose_clock_is_minutes_off_is_detected_and_its_times_corrected(tmp_path: Path) -> None:
    """The agent host's clock runs 5 minutes fast: its heap running out is logged, by its clock,
    four minutes after the broker's timeouts. Corrected, it precedes them and is the verdict."""
    skew = timedelta(minutes=5)
    broker_jobs, agent_jobs = jobs(12, T0)
    died = T0 + timedelta(minutes=1)
    host_a = bundle(tmp_path / "a", {BROKER: broker_jobs + timeouts(died + timedelta(seconds=31))},
                    hostname="prover-a", host_id="machine:aaaa")
    host_b = bundle(tmp_path / "b", {AGENT: agent_jobs + heap_oom(died)}, hostname="agent-b",
                    host_id="machine:bbbb")
    shift_bundle(host_b, skew)  # every time in the agent's bundle, as its fast clock wrote them
    result = analyze([host_a, host_b], tmp_path / "w")
    agent_host = next(h for h in result.facts.hosts if h.label == "agent-b")
    assert agent_host.clock_basis == "paired-records"
    assert agent_host.clock_offset_s == pytest.approx(-300, abs=0.2)
    assert agent_host.clock_error_s is not None and agent_host.clock_error_s < 0.2
    assert any("agent-b is skewed" in w and "ahead of prover-a" in w for w in result.input.warnings)
    assert result_from_json(render_json(result)).facts.hosts == result.facts.hosts  # the JSON report keeps them
    assert result.verdict.rule_id == "v8-heap-oom"
    assert result.verdict.started_at is not None
    assert abs(result.verdict.started_at - died) < timedelta(seconds=1)
    timeline = [e for e in result.timeline if e.kind == "record" and e.level in ("ERROR", "WARN")]
    assert [e.container.split("/")[0] for e in timeline][:2] == ["agent-b", "prover-a"]


def test_the_skew_left_uncorrected_would_misorder_the_cause(tmp_path: Path) -> None:
    """The same evidence with no job pairs to set the clock: the cause stays four minutes after
    its effect, so it is not linked (the test above depends on the correction)."""
    died = T0 + timedelta(minutes=1)
    host_a = bundle(tmp_path / "a", {BROKER: timeouts(died + timedelta(seconds=31))}, hostname="prover-a",
                    host_id="machine:aaaa")
    host_b = bundle(tmp_path / "b", {AGENT: heap_oom(died + timedelta(minutes=5))}, hostname="agent-b",
                    host_id="machine:bbbb")
    result = analyze([host_a, host_b], tmp_path / "w")
    assert next(h for h in result.facts.hosts if h.label == "agent-b").clock_basis == "unknown"
    timeout = next(f for f in result.findings if f.rule_id == "broker-job-timeout")
    assert timeout.caused_by == []


def test_a_cause_logged_after_its_effect_beyond_the_clock_error_is_not_linked_across_hosts(tmp_path: Path) -> None:
    """Within one host a cause logged 1.8 s after its symptom is still linked (two writers' lines
    interleaved under one clock: ORDER_GRACE); across hosts whose clocks are known to within a
    fraction of a second, only that error and a second of slack are allowed: not linked."""
    broker_jobs, agent_jobs = jobs(12, T0)
    timed_out = T0 + timedelta(minutes=2)
    later = heap_oom(timed_out + timedelta(seconds=1.8))
    same_host = bundle(tmp_path / "one", {BROKER: broker_jobs + timeouts(timed_out), AGENT: agent_jobs + later},
                       hostname="prover-a", host_id="machine:aaaa")
    assert next(f for f in analyze([same_host], tmp_path / "w1").findings
                if f.rule_id == "broker-job-timeout").caused_by == ["v8-heap-oom"]
    host_a = bundle(tmp_path / "a", {BROKER: broker_jobs + timeouts(timed_out)}, hostname="prover-a",
                    host_id="machine:aaaa")
    host_b = bundle(tmp_path / "b", {AGENT: agent_jobs + later}, hostname="agent-b", host_id="machine:bbbb")
    result = analyze([host_a, host_b], tmp_path / "w2")
    assert next(f for f in result.findings if f.rule_id == "broker-job-timeout").caused_by == []


def test_offset_bounds_set_aside_a_late_completion_and_refuse_contradictions() -> None:
    broker_lines, agent_lines = jobs(20, T0, agent_shift=timedelta(seconds=-42))
    broker, agent = _job_logs(broker_lines), _job_logs(agent_lines)
    low, high, pairs = offset_bounds(broker, agent)
    assert pairs == 40 and low is not None and high is not None
    offset, error = estimate_offset(low, high, pairs)
    assert offset == pytest.approx(42, abs=0.1) and error is not None and error < 0.2
    # a job another agent finished, completed late here: one contradicting pair is set aside
    agent.agent_done["1:0003"] += timedelta(seconds=30)
    assert estimate_offset(*offset_bounds(broker, agent))[0] == pytest.approx(42, abs=0.1)
    assert estimate_offset(10.0, 5.0, 4) == (0.0, None)  # contradictory bounds: no estimate
    assert estimate_offset(None, None, 0) == (0.0, None)


def _job_logs(lines: list[str]) -> JobLog:
    found = JobLog()
    for text in lines:
        raw = text.encode()
        when = _stamp(raw, 0.0)
        assert when is not None
        for marker, into in (("New proving job id=", found.broker_new), ("Proving job complete id=", found.broker_done),
                             ("Starting job id=", found.agent_start), ("Job id=", found.agent_done)):
            if marker in text and not (marker == "Job id=" and "completed" not in text):
                into.setdefault(text.split(marker)[1].split()[0], when)
                break
    return found


def test_unrelated_deployments_are_joined_only_with_a_warning(tmp_path: Path) -> None:
    logs, _, _ = agent_oom_scenario(tmp_path)
    ours = bundle(tmp_path / "a", {NODE: logs[NODE], BROKER: logs[BROKER]}, hostname="prover-a",
                  host_id="machine:aaaa")
    other_id = "0x9999999999999999999999999999999999999999"
    theirs = bundle(tmp_path / "b", {AGENT: logs[AGENT]}, hostname="agent-z", host_id="machine:zzzz",
                    inspects={AGENT: inspect(AGENT, prover_id=other_id, project="someone-else")},
                    project="someone-else")
    out = tmp_path / "r.json"
    run = CliRunner().invoke(main, ["analyze", str(ours), str(theirs), "-f", "json", "-o", str(out)])
    assert run.exit_code == 0, run.output
    warning = next(w for w in run.stderr.splitlines() if w.startswith("warning:"))
    assert str(theirs) in warning and str(ours) in warning and "different deployments" in warning
    assert other_id in warning
    report = json.loads(out.read_text())
    assert any("different deployments" in w for w in report["input"]["warnings"])
    # the same two hosts of one deployment: no such warning
    same = bundle(tmp_path / "c", {AGENT: logs[AGENT]}, hostname="agent-b", host_id="machine:bbbb")
    run = CliRunner().invoke(main, ["analyze", str(ours), str(same), "-f", "json", "-o", str(out)])
    assert run.exit_code == 0 and "different deployments" not in run.stderr


def test_node_and_broker_alone_name_the_symptom_and_say_the_agents_are_missing(tmp_path: Path) -> None:
    logs, _, _ = agent_oom_scenario(tmp_path)
    alone = bundle(tmp_path / "a", {NODE: logs[NODE], BROKER: logs[BROKER]}, hostname="prover-a",
                   host_id="machine:aaaa")
    out = tmp_path / "r.json"
    run = CliRunner().invoke(main, ["analyze", str(alone), "-f", "json", "-o", str(out)])
    assert run.exit_code == 0, run.output
    report = json.loads(out.read_text())
    ids = [f["rule_id"] for f in report["findings"]]
    assert "agents-missing-from-evidence" in ids and "broker-job-timeout" in ids
    gap = next(f for f in report["findings"] if f["rule_id"] == "agents-missing-from-evidence")
    assert gap["category"] == "data-gap" and gap["severity"] == "medium"
    assert "Broker re-queued proving jobs that timed out" in gap["meaning"]
    assert "container-oom-killed" not in ids  # it cannot claim what it cannot see
    assert "agents' side is missing from the evidence" in report["verdict"]["headline"]


def test_agents_the_broker_names_that_no_input_holds_mean_a_missing_bundle(tmp_path: Path) -> None:
    broker_jobs, agent_jobs = jobs(4, T0)
    handed = [line(T0 + timedelta(seconds=1), "VERBOSE", "prover-client:proving-broker",
                   f"Agent {name} took job id=1:000{i} type=PUBLIC_BASE_ROLLUP attempt=1")
              for i, name in enumerate(["a9a9a9a9a9a9", "7f3e2d1c0b4a"])]
    host_a = bundle(tmp_path / "a", {BROKER: sorted(broker_jobs + handed), AGENT: agent_jobs},
                    hostname="prover-a", host_id="machine:aaaa")
    out = tmp_path / "r.json"
    run = CliRunner().invoke(main, ["analyze", str(host_a), "-f", "json", "-o", str(out)])
    assert run.exit_code == 0, run.output
    report = json.loads(out.read_text())
    gap = next(f for f in report["findings"] if f["rule_id"] == "host-bundle-missing")
    assert "7f3e2d1c0b4a" in gap["meaning"] and "a9a9a9a9a9a9" not in gap["meaning"]  # that one is the agent held
    shown = gap["evidence"][0]
    assert "Agent 7f3e2d1c0b4a took job" in shown["lines"][0]
    assert (host_a / shown["file"]).read_text().splitlines()[shown["line_start"] - 1] == shown["lines"][0]


def test_bundles_without_a_host_id_still_merge_by_hostname(tmp_path: Path) -> None:
    logs, inspects, events = agent_oom_scenario(tmp_path)
    a = bundle(tmp_path / "a", {NODE: logs[NODE], BROKER: logs[BROKER]}, hostname="old-host", host_id="")
    b = bundle(tmp_path / "b", {AGENT: logs[AGENT]}, hostname="old-host", host_id="", inspects=inspects,
               events=events)
    result = analyze([a, b], tmp_path / "w")
    assert [h.label for h in result.facts.hosts] == ["old-host"]
    assert result.verdict.rule_id == "container-oom-killed" and result.verdict.container == AGENT


def test_a_bad_second_input_is_one_line_and_exit_2(tmp_path: Path) -> None:
    logs, _, _ = agent_oom_scenario(tmp_path)
    good = bundle(tmp_path / "a", {NODE: logs[NODE]}, hostname="prover-a", host_id="machine:aaaa")
    run = CliRunner().invoke(main, ["analyze", str(good), str(tmp_path / "nope.tar.zst"), "-f", "json"])
    assert run.exit_code != 0 and "Traceback" not in run.output
    assert "nope.tar.zst does not exist" in run.stderr


def test_scan_jobs_reads_broker_and_agent_job_lines(tmp_path: Path) -> None:
    broker_jobs, agent_jobs = jobs(3, T0)
    folder = bundle(tmp_path / "a", {BROKER: broker_jobs, AGENT: agent_jobs}, hostname="h", host_id="machine:1")
    inp = open_input(folder, workdir=tmp_path / "w")
    found = scan_jobs(inp, load_facts(inp))
    assert sorted(found.broker_new) == sorted(found.agent_start) == ["1:0000", "1:0001", "1:0002"]
    assert found.agent_done["1:0001"] == T0 + timedelta(seconds=6)
    assert found.broker_done["1:0001"] == T0 + timedelta(seconds=6, milliseconds=80)


def test_the_report_groups_by_host_and_shows_each_clock_correction(tmp_path: Path) -> None:
    broker_jobs, agent_jobs = jobs(12, T0)
    host_a = bundle(tmp_path / "a", {NODE: [line(T0, "INFO", "prover-node", "Starting")], BROKER: broker_jobs},
                    hostname="prover-a", host_id="machine:aaaa")
    host_b = bundle(tmp_path / "b", {AGENT: agent_jobs}, hostname="agent-b", host_id="machine:bbbb")
    shift_bundle(host_b, timedelta(minutes=-3))
    for fmt in ("html", "md"):
        out = tmp_path / f"r.{fmt}"
        run = CliRunner().invoke(main, ["analyze", str(host_a), str(host_b), "-f", fmt, "-o", str(out)])
        assert run.exit_code == 0, run.output
        text = out.read_text()
        assert "Hosts" in text and "+180.0 s ± 0.1 s" in text, fmt
        assert text.index(f"prover-a/{BROKER}") < text.index(f"agent-b/{AGENT}")
        assert "agent-b is skewed: it runs 180.0 s ± 0.1 s behind prover-a" in text.replace("&#39;", "'")
    html = (tmp_path / "r.html").read_text()
    assert html.index('id="hosts"') < html.index('id="containers"')


def test_an_agent_working_for_another_broker_is_another_deployment(tmp_path: Path) -> None:
    """Same PROVER_ID and broker names, another compose project: the agent's jobs, logged while
    the broker logged its own, are none of the broker's. Joined, with a warning."""
    broker_jobs, _ = jobs(6, T0)
    _, foreign = jobs(6, T0 + timedelta(seconds=1))
    foreign = [text.replace("id=1:", "id=7:") for text in foreign]
    ours = bundle(tmp_path / "a", {BROKER: broker_jobs}, hostname="prover-a", host_id="machine:aaaa")
    theirs = bundle(tmp_path / "b", {AGENT: foreign}, hostname="agent-z", host_id="machine:zzzz",
                    inspects={AGENT: inspect(AGENT, project="elsewhere")}, project="elsewhere")
    run = CliRunner().invoke(main, ["analyze", str(ours), str(theirs), "-f", "json", "-o", str(tmp_path / "r.json")])
    assert run.exit_code == 0, run.output
    assert "different deployments" in run.stderr and "no broker log of the others" in run.stderr
    # the same agent's real jobs: one deployment although the compose projects differ
    _, own = jobs(6, T0)
    same = bundle(tmp_path / "c", {AGENT: own}, hostname="agent-b", host_id="machine:bbbb",
                  inspects={AGENT: inspect(AGENT, project="elsewhere")}, project="elsewhere")
    run = CliRunner().invoke(main, ["analyze", str(ours), str(same), "-f", "json", "-o", str(tmp_path / "r.json")])
    assert run.exit_code == 0 and "different deployments" not in run.stderr


def test_jobs_completed_that_no_agent_held_logged_mean_a_missing_bundle(tmp_path: Path) -> None:
    """Aztec's broker does not name its agents: jobs it completed while the agents held were
    working, that none of them logged, were done by agents on a host whose bundle is missing."""
    broker_jobs, agent_jobs = jobs(12, T0)
    mine = [text for text in agent_jobs if int(text.split("id=1:")[1][:4], 16) % 2 == 0]  # the other half elsewhere
    theirs = [text for text in agent_jobs if text not in mine]
    host_a = bundle(tmp_path / "a", {BROKER: broker_jobs, AGENT: mine}, hostname="prover-a", host_id="machine:aaaa")
    out = tmp_path / "r.json"
    run = CliRunner().invoke(main, ["analyze", str(host_a), "-f", "json", "-o", str(out)])
    assert run.exit_code == 0, run.output
    gap = next(f for f in json.loads(out.read_text())["findings"] if f["rule_id"] == "host-bundle-missing")
    assert "recorded 12 job(s) complete, 6 of which none of them logged" in gap["meaning"]
    shown = gap["evidence"][0]
    assert "Proving job complete id=1:0001" in shown["lines"][0]
    assert (host_a / shown["file"]).read_text().splitlines()[shown["line_start"] - 1] == shown["lines"][0]
    # with the other host's bundle, nothing is missing
    agent_2 = "aztec-prover-prover-agent-2"
    host_b = write_bundle_folder(tmp_path / "b", {f"containers/{agent_2}/logs.txt": ("\n".join(theirs) + "\n").encode(),
                                                  f"containers/{agent_2}/inspect.json": inspect(AGENT).replace(
                                                      AGENT.encode(), agent_2.encode())},
                                 hostname="agent-b", host_id="machine:bbbb")
    run = CliRunner().invoke(main, ["analyze", str(host_a), str(host_b), "-f", "json", "-o", str(out)])
    assert run.exit_code == 0, run.output
    assert "host-bundle-missing" not in [f["rule_id"] for f in json.loads(out.read_text())["findings"]]


def test_job_lines_are_the_same_whatever_the_block_size(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import nodediag.analyzer.merge as merge

    broker_jobs, agent_jobs = jobs(40, T0)
    broker_jobs.insert(7, line(T0, "VERBOSE", "prover-client:proving-broker", "Agent 0badc0ffee00 took job id=1:0001"))
    folder = bundle(tmp_path / "a", {BROKER: broker_jobs, AGENT: agent_jobs}, hostname="h", host_id="machine:1")
    inp = open_input(folder, workdir=tmp_path / "w")
    facts = load_facts(inp)
    whole = scan_jobs(inp, facts)
    monkeypatch.setattr(merge, "BLOCK", 97)  # lines cut across blocks everywhere
    cut = scan_jobs(inp, facts)
    assert cut == whole and len(whole.broker_done) == len(whole.agent_done) == 40
    assert whole.agents["0badc0ffee00"].line_start == 8
    _, _, number, text = whole.done_lines["1:0027"]
    assert text.decode() == broker_jobs[number - 1]
