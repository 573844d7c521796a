"""Diagnosis a support engineer can trust (issue 12): no false alarms on healthy or recreated
deployments, causes never after their effects, the container that broke named, deployments kept
apart, start-up refusals named by their setting, one finding for the containers it hit."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

from nodediag.analyzer.analysis import analyze_input
from nodediag.analyzer.model import ContainerInfo, Event, Facts, LoadedInput, LogFile, Probe

T0 = datetime(2026, 11, 27, 21, 21, 0, tzinfo=timezone.utc)
NODE = "aztec-prover-prover-node-1"
BROKER = "aztec-prover-prover-broker-1"
AGENT = "aztec-prover-prover-agent-1"
ROLE = {"node": "prover-node", "broker": "prover-broker", "agent": "prover-agent"}


def line(at: datetime, level: str, module: str, message: str) -> str:
    stamp = at.strftime("%Y-%m-%dT%H:%M:%S.%f") + "000Z"
    return f"{stamp} [{at.strftime('%H:%M:%S.%f')[:-3]}] {level}: {module} {message}"


def raw(at: datetime, text: str) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.%f") + "000Z " + text


def container(name: str, project: str = "aztec-prover", **kw: object) -> ContainerInfo:
    role = next(r for k, r in ROLE.items() if f"-{k}-" in name or name.endswith(k))
    base: dict = {"name": name, "role": role, "image": "aztecprotocol/aztec:2.1.11", "state": "running",
                  "project": project, "id": (name.encode().hex() * 4)[:64]}
    base.update(kw)
    return ContainerInfo(**base)


def analyze(tmp_path: Path, logs: dict[str, list[str]], containers: list[ContainerInfo],
            events: list[Event] | None = None, probes: list[Probe] | None = None):
    files, log_files = [], []
    roles = {c.name: c.role for c in containers}
    for name, lines in logs.items():
        rel = f"containers/{name}/logs.txt"
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("\n".join(lines) + "\n")
        files.append(rel)
        log_files.append(LogFile(path=rel, container=name, role=roles[name]))
    if events:  # as collect writes them: the evidence cites these lines
        rel = "docker/events.jsonl"
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("".join(json.dumps({
            "Type": "container", "Action": e.action, "status": e.action, "id": e.id,
            "Actor": {"ID": e.id, "Attributes": {"name": e.container, **e.attributes}},
            "time": int(e.time.timestamp()), "timeNano": int(e.time.timestamp() * 1e9)}) + "\n" for e in events))
        files.append(rel)
    inp = LoadedInput(kind="bundle-v1", root=tmp_path, files=files, manifest=None, gaps=[])
    facts = Facts(containers=containers, log_files=log_files, events=events or [], probes=probes or [])
    return analyze_input(inp, facts, tool_version="test")


def working_node(start: datetime, epochs: int = 2) -> list[str]:
    out = []
    for i in range(epochs):
        at = start + timedelta(minutes=i)
        out += [line(at, "INFO", "prover-node", f"Finalised proof for epoch {800 + i}"),
                line(at + timedelta(seconds=5), "INFO", "prover-node", f"Submitted proof for epoch {800 + i}")]
    return out


def working_agent(start: datetime, jobs: int = 3) -> list[str]:
    out = []
    for i in range(jobs):
        at = start + timedelta(seconds=20 * i)
        out += [line(at, "INFO", "prover-client:proving-agent", f"Starting job id=1:PUBLIC_BASE_ROLLUP:{i} "
                     "type=PUBLIC_BASE_ROLLUP inputsUri=data:x"),
                line(at + timedelta(seconds=9), "INFO", "prover-client:proving-agent",
                     f"Job id=1:PUBLIC_BASE_ROLLUP:{i} type=PUBLIC_BASE_ROLLUP completed outputUri=data:y")]
    return out


def working_broker(start: datetime) -> list[str]:
    return [line(start + timedelta(seconds=i), "INFO", "prover-client:proving-broker",
                 f"Proving job complete id=1:PUBLIC_BASE_ROLLUP:{i} type=PUBLIC_BASE_ROLLUP totalAttempts=1")
            for i in range(3)]


def status(name: str, code: int | None, error: str = "") -> Probe:
    return Probe(container=name, url="http://127.0.0.1:8080/status", via="netns", status=code, error=error)


# --- false alarms on healthy deployments -----------------------------------------------------------

def test_a_healthy_stack_says_it_looks_healthy_and_what_was_checked(tmp_path: Path) -> None:
    result = analyze(tmp_path, {NODE: working_node(T0), BROKER: working_broker(T0), AGENT: working_agent(T0)},
                     [container(NODE), container(BROKER), container(AGENT)],
                     probes=[status(NODE, 200), status(BROKER, 200), status(AGENT, 200)])
    verdict = result.verdict
    assert verdict.rule_id is None
    assert verdict.headline.startswith("The deployment looks healthy")
    for checked in ("3 container(s) running", "GET /status answered 200 on prover-node, prover-broker",
                    "4 epoch proof line(s)", "proving job line(s) from the agents"):
        assert checked in verdict.headline, verdict.headline
    assert "evidence is thin" not in verdict.headline


def test_an_agent_that_serves_no_http_but_proves_jobs_is_a_note_not_a_failure(tmp_path: Path) -> None:
    result = analyze(tmp_path, {NODE: working_node(T0), BROKER: working_broker(T0), AGENT: working_agent(T0)},
                     [container(NODE), container(BROKER), container(AGENT, image="aztecprotocol/aztec:2.1.11")],
                     probes=[status(NODE, 200), status(BROKER, 200), status(AGENT, None, "connection refused")])
    assert [(f.rule_id, f.severity) for f in result.findings] == [("agent-serves-no-http", "info")]
    assert result.verdict.headline.startswith("The deployment looks healthy")


def test_a_refused_agent_port_without_any_job_is_a_high_finding(tmp_path: Path) -> None:
    result = analyze(tmp_path, {NODE: working_node(T0)}, [container(NODE), container(AGENT)],
                     probes=[status(NODE, 200), status(AGENT, None, "connection refused")])
    (finding,) = [f for f in result.findings if f.container == AGENT]
    assert (finding.rule_id, finding.severity) == ("status-probe-unhealthy", "high")


def test_a_recreated_container_is_not_reported_killed(tmp_path: Path) -> None:
    """`docker rm -f` and a new `run` under the same name: the old container's kill / die 137 /
    destroy are history, shown as such; the running container is not "killed with SIGKILL"."""
    agent = container(AGENT)
    old = "0" * 63 + "1"
    events = [Event(T0, AGENT, "kill", {"signal": "9"}, id=old), Event(T0, AGENT, "die", {"exitCode": "137"}, id=old),
              Event(T0 + timedelta(seconds=1), AGENT, "destroy", id=old),
              Event(T0 + timedelta(seconds=2), AGENT, "create", id=agent.id),
              Event(T0 + timedelta(seconds=2), AGENT, "start", id=agent.id)]
    result = analyze(tmp_path, {NODE: working_node(T0 + timedelta(minutes=1)), AGENT: working_agent(T0)},
                     [container(NODE), agent], events=events, probes=[status(NODE, 200), status(AGENT, 200)])
    assert [(f.rule_id, f.severity, f.category) for f in result.findings] == [("container-recreated", "info", "info")]
    assert "ended before it" in result.findings[0].title
    assert result.verdict.rule_id is None
    # the timeline shows the old container's end as history, not as the running container's exit
    old_rows = [e for e in result.timeline if e.kind == "event" and "die" in e.text]
    assert old_rows and all("earlier container of this name" in e.text and e.action == "earlier-die"
                            for e in old_rows)
    assert not [e for e in result.timeline if e.kind == "event" and e.action in ("die", "exit")]


def test_an_exit_137_after_a_docker_kill_event_names_the_operator_not_the_oom_killer(tmp_path: Path) -> None:
    broker = container(BROKER, state="exited", exit_code=137, finished_at=T0 + timedelta(seconds=1))
    events = [Event(T0, BROKER, "kill", {"signal": "SIGKILL"}, id=broker.id),
              Event(T0 + timedelta(seconds=1), BROKER, "die", {"exitCode": "137"}, id=broker.id)]
    node = [line(T0 + timedelta(seconds=3), "WARN", "json-rpc:client",
                 "Error fetching from host http://prover-broker:8080: TypeError: fetch failed (ECONNREFUSED)")]
    result = analyze(tmp_path, {NODE: node}, [container(NODE), broker], events=events)
    finding = next(f for f in result.findings if f.rule_id == "container-exit-137")
    assert "docker kill" in finding.title and "OOM" not in finding.title
    assert "operator or a script" in finding.meaning
    assert any("kill" in e.lines[0] and e.file == "docker/events.jsonl" for e in finding.evidence)
    assert result.verdict.rule_id == "container-exit-137"


# --- causes and effects ------------------------------------------------------------------------------

def test_a_kill_after_the_errors_is_not_their_cause(tmp_path: Path) -> None:
    """A SIGKILL at 21:21:54 cannot be the cause of "broker unreachable" at 21:21:49."""
    broker = container(BROKER, state="exited", exit_code=137, finished_at=T0 + timedelta(seconds=54))
    events = [Event(T0 + timedelta(seconds=54), BROKER, "die", {"exitCode": "137"}, id=broker.id)]
    node = [line(T0 + timedelta(seconds=49), "WARN", "json-rpc:client",
                 "Error fetching from host http://prover-broker:8080: TypeError: fetch failed (ECONNREFUSED)")]
    node += [line(T0 + timedelta(seconds=49, milliseconds=100 + i), "ERROR", "prover-client:orchestrator",
                  "Error thrown when proving job: Error: Broker facade stopped") for i in range(4)]
    result = analyze(tmp_path, {NODE: node}, [container(NODE), broker], events=events)
    by_rule = {f.rule_id: f for f in result.findings}
    assert "container-exit-137" not in by_rule["broker-unreachable"].caused_by
    assert "container-exit-137" not in by_rule["broker-facade-stopped"].caused_by
    assert result.verdict.rule_id == "broker-unreachable"


def test_a_broker_answering_500_is_the_container_named(tmp_path: Path) -> None:
    node = [line(T0 + timedelta(seconds=i), "ERROR", "json-rpc:json_rpc_client",
                 "Error 500 response from server http://prover-broker:8080 on proverBroker_enqueueProvingJob: "
                 "Internal Server Error") for i in range(3)]
    agent = [line(T0 + timedelta(seconds=1), "ERROR", "json-rpc:client",
                  "Error 500 from server http://prover-broker:8080: Internal error")]
    result = analyze(tmp_path, {NODE: node, AGENT: agent}, [container(NODE), container(BROKER), container(AGENT)])
    assert (result.verdict.rule_id, result.verdict.container) == ("broker-http-error", BROKER)
    (finding,) = [f for f in result.findings if f.rule_id == "broker-http-error"]
    assert finding.details["reported by"] == f"{NODE}, {AGENT}"
    assert "as reported by" in result.verdict.headline and "HTTP 500" in finding.title


def test_one_finding_names_every_container_it_hit(tmp_path: Path) -> None:
    fail = "Error fetching from host http://prover-broker:8080: TypeError: fetch failed (ECONNREFUSED)"
    logs = {NODE: [line(T0, "WARN", "json-rpc:client", fail)],
            AGENT: [line(T0 + timedelta(seconds=1), "ERROR", "prover-client:proving-agent",
                         "Error in running promise: Error: connect ECONNREFUSED 172.18.0.3:8080")]}
    result = analyze(tmp_path, logs, [container(NODE), container(AGENT)])
    (finding,) = [f for f in result.findings if f.rule_id == "broker-unreachable"]
    assert finding.containers == [NODE, AGENT] and finding.count == 2
    assert {e.container for e in finding.evidence} == {NODE, AGENT}


def test_a_cause_in_one_compose_project_never_explains_a_symptom_in_another(tmp_path: Path) -> None:
    other_broker = "testnet-prover-broker-1"
    dead = container(other_broker, project="testnet", state="exited", exit_code=137, finished_at=T0)
    events = [Event(T0, other_broker, "die", {"exitCode": "137"}, id=dead.id)]
    node = [line(T0 + timedelta(seconds=5), "WARN", "json-rpc:client",
                 "Error fetching from host http://prover-broker:8080: TypeError: getaddrinfo ENOTFOUND prover-broker")]
    node += [line(T0 + timedelta(seconds=6, milliseconds=i), "ERROR", "prover-client:orchestrator",
                  "Error thrown when proving job: Error: Broker facade stopped") for i in range(4)]
    result = analyze(tmp_path, {NODE: node}, [container(NODE), dead], events=events)
    unreachable = next(f for f in result.findings if f.rule_id == "broker-unreachable")
    assert unreachable.caused_by == []
    assert (result.verdict.rule_id, result.verdict.container) == ("broker-unreachable", NODE)


def test_an_agent_refusing_to_start_names_the_missing_setting_with_line_and_env(tmp_path: Path) -> None:
    refusal = "Missing prover broker URL. Pass --proverAgent.proverBrokerUrl <value>"
    agent_log = [raw(T0 + timedelta(seconds=10 * i), refusal) for i in range(4)]
    agent = container(AGENT, state="restarting", restart_count=3, exit_code=1,
                      env={"PROVER_AGENT_COUNT": "1", "LOG_LEVEL": "info"})
    events = [Event(T0 + timedelta(seconds=10 * i - 1), AGENT, "start", id=agent.id) for i in range(4)]
    events += [Event(T0 + timedelta(seconds=10 * i + 1), AGENT, "die", {"exitCode": "1"}, id=agent.id)
               for i in range(4)]
    result = analyze(tmp_path, {AGENT: agent_log}, [container(NODE, env={"PROVER_BROKER_HOST": "http://b:8080",
                                                                          "ETHEREUM_HOSTS": "x",
                                                                          "L1_CONSENSUS_HOST_URLS": "y",
                                                                          "PROVER_PUBLISHER_PRIVATE_KEY": "z"}),
                                                    agent], events=events)
    verdict = result.verdict
    assert (verdict.rule_id, verdict.container) == ("agent-broker-url-missing", AGENT)
    top = result.findings[0]
    assert "PROVER_BROKER_HOST is not set" in top.title
    assert top.evidence[0].lines[0].endswith(refusal)
    assert any("PROVER_BROKER_HOST" in line for e in top.evidence for line in e.lines)
    assert "required-setting-missing" not in {f.rule_id for f in result.findings}  # folded into it
    loop = next(f for f in result.findings if f.rule_id == "container-restart-loop")
    assert loop.caused_by == ["agent-broker-url-missing"]


def test_an_older_agent_that_exits_silently_without_a_broker_url_is_named_by_the_setting(tmp_path: Path) -> None:
    agent = container(AGENT, state="restarting", restart_count=5, exit_code=1, env={"PROVER_AGENT_COUNT": "1"})
    events = [Event(T0 + timedelta(seconds=10 * i), AGENT, "start", id=agent.id) for i in range(6)]
    result = analyze(tmp_path, {NODE: working_node(T0)}, [container(NODE), agent], events=events)
    assert (result.verdict.rule_id, result.verdict.container) == ("required-setting-missing", AGENT)
    assert "PROVER_BROKER_HOST" in result.verdict.headline


def test_roles_on_different_releases_are_a_high_cause_named_first(tmp_path: Path) -> None:
    mismatch = ("Error in running promise: ComponentsVersionsError: Expected component version L2 circuits vk "
                "tree root to be 0x1a2b but received 0x3c4d")
    agent_log = [line(T0 + timedelta(seconds=i), "ERROR", "prover-client:proving-agent", mismatch) for i in range(3)]
    result = analyze(tmp_path, {AGENT: agent_log},
                     [container(NODE), container(BROKER), container(AGENT, image="aztecprotocol/aztec:2.0.2")])
    assert (result.verdict.rule_id, result.verdict.container) == ("image-tags-differ", AGENT)
    top = result.findings[0]
    assert top.severity == "high" and top.category == "cause"
    assert "prover-agent 2.0.2" in top.title
    evidence = next(f for f in result.findings if f.rule_id == "components-version-mismatch")
    assert evidence.caused_by == ["image-tags-differ"]
    assert "L2 circuits vk tree root" in evidence.title
    assert any("ComponentsVersionsError" in e.lines[0] for e in top.evidence)  # the wording is its evidence


def test_proving_cancelled_after_a_deadline_is_its_consequence_not_a_failed_proof(tmp_path: Path) -> None:
    node = [line(T0, "WARN", "prover-node:epoch-proving-job", 'Stopping job due to deadline hit {"epochNumber":12}'),
            line(T0 + timedelta(seconds=1), "ERROR", "prover-node:epoch-proving-job",
                 "Error running epoch 12 prover job: Error: Epoch proving failed: Proving cancelled")]
    result = analyze(tmp_path, {NODE: node}, [container(NODE)])
    assert "proof-failed" not in {f.rule_id for f in result.findings}
    assert result.verdict.rule_id == "proof-deadline-hit"
    cancelled = next(f for f in result.findings if f.rule_id == "proving-cancelled")
    assert cancelled.caused_by == ["proof-deadline-hit"]


def test_a_job_that_failed_for_good_names_its_circuit_and_error(tmp_path: Path) -> None:
    agent = [line(T0, "ERROR", "prover-client:proving-agent",
                  "Job id=12:PUBLIC_VM:0x1f type=PUBLIC_VM failed with error: Error: Assertion failed: root mismatch")]
    result = analyze(tmp_path, {AGENT: agent}, [container(AGENT)])
    finding = result.findings[0]
    assert finding.rule_id == "proof-failed"
    assert "PUBLIC_VM circuit" in finding.title and "Assertion failed: root mismatch" in finding.title
    assert finding.details["circuit"] == "PUBLIC_VM"


def test_an_agent_container_death_explains_the_broker_time_outs(tmp_path: Path) -> None:
    agent = container(AGENT, state="exited", exit_code=137, finished_at=T0)
    broker_log = [line(T0 + timedelta(seconds=30 + i), "WARN", "prover-client:proving-broker",
                       f"Proving job id=1:PUBLIC_VM:{i} timed out. Adding it back to the queue.") for i in range(3)]
    result = analyze(tmp_path, {BROKER: broker_log}, [container(BROKER), agent],
                     events=[Event(T0, AGENT, "die", {"exitCode": "137"}, id=agent.id)])
    timeout = next(f for f in result.findings if f.rule_id == "broker-job-timeout")
    assert timeout.caused_by == ["container-exit-137"]
    assert (result.verdict.rule_id, result.verdict.container) == ("container-exit-137", AGENT)


def test_events_and_containers_carry_ids_and_compose_projects_from_a_real_bundle(tmp_path: Path) -> None:
    """The recreated sample (a real `docker rm -f` and `compose up`): every event names its
    container's id, the old containers' ids differ from the running ones', and every container
    knows its compose project."""
    from nodediag.analyzer.facts import load_facts
    from nodediag.analyzer.inputs import open_input

    inp = open_input(Path(__file__).resolve().parents[2] / "samples" / "recreated.tar.zst", workdir=tmp_path)
    facts = load_facts(inp)
    assert {c.project for c in facts.containers} == {"aztec-prover"}
    current = {c.name: c.id for c in facts.containers}
    assert all(e.id for e in facts.events)
    ended = [e for e in facts.events if e.action == "die"]
    assert ended and all(e.id != current[e.container] for e in ended)
    assert {e.attributes.get("exitCode") for e in ended} == {"137"}


def test_a_4x_agent_that_refuses_connections_is_not_excused_as_an_older_release(tmp_path: Path) -> None:
    """4.x agents register themselves as JSON-RPC services and answer /status: nothing listening
    there is not the older release's normal, though the log showing it working makes it low."""
    result = analyze(tmp_path, {NODE: working_node(T0), AGENT: working_agent(T0)},
                     [container(NODE, image="aztecprotocol/aztec:4.1.2"),
                      container(AGENT, image="aztecprotocol/aztec:4.1.2")],
                     probes=[status(NODE, 200), status(AGENT, None, "connection refused")])
    assert [(f.rule_id, f.severity) for f in result.findings] == [("status-probe-unhealthy", "low")]
    assert "although its log shows it working" in result.findings[0].title


def test_a_cgroup_kill_docker_reported_is_one_finding_with_the_kernel_record_as_evidence() -> None:
    """The kernel's record and Docker's OOMKilled are one kill: reported once (which of two
    findings came first used to depend on the host's load), the record cited as evidence."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from test_rules_fixtures import FIXTURES, RULES, facts_from_yaml

    from nodediag.analyzer.analysis import run_logic_rules

    facts, inp, _ = facts_from_yaml(FIXTURES / "container-memory-limit-kill.docker-saw-it.facts.yaml")
    found = run_logic_rules(RULES, facts, inp, {})
    assert [(f.rule_id, f.container) for f in found] == [("container-oom-killed", AGENT)]
    assert "host/kernel-oom.txt" in {e.file for e in found[0].evidence}
