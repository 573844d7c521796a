"""Every rule fires on its own fixture with the right evidence, and nothing fires on a healthy
log or a healthy deployment. Log fixtures go through the real parser and engine."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from nodediag.analyzer.analysis import run_logic_rules
from nodediag.analyzer.model import (
    ContainerInfo,
    DataGap,
    Event,
    Evidence,
    Facts,
    Filesystem,
    HostFacts,
    LoadedInput,
    Probe,
)
from nodediag.analyzer.parsing import parse_log_lines
from nodediag.analyzer.rules import load_rules
from nodediag.analyzer.rules.engine import LogRuleEngine

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "rules"
RULES = load_rules()
LOG_RULES = [r for r in RULES if r.match is not None]
CHECK_RULES = [r for r in RULES if r.check is not None]


def _time(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def facts_from_yaml(path: Path) -> tuple[Facts, LoadedInput, dict[str, Any]]:
    """Build Facts and a LoadedInput from a *.facts.yaml description; also return its 'expect'."""
    spec = yaml.safe_load(path.read_text()) or {}
    containers = []
    for raw in spec.get("containers", []):
        raw = dict(raw)
        for key in ("started_at", "finished_at"):
            raw[key] = _time(raw.get(key))
        containers.append(ContainerInfo(**raw))
    host_raw = dict(spec.get("host", {}))
    host_raw["filesystems"] = [Filesystem(**fs) for fs in host_raw.get("filesystems", [])]
    host_raw["kernel_oom"] = [Evidence(**{**e, "time": _time(e.get("time"))}) for e in host_raw.get("kernel_oom", [])]
    facts = Facts(
        containers=containers,
        events=[Event(**{**e, "time": _time(e["time"])}) for e in spec.get("events", [])],
        host=HostFacts(**host_raw),
        probes=[Probe(**p) for p in spec.get("probes", [])],
    )
    inp = LoadedInput(kind="bundle-v1", root=path.parent, files=[], manifest=None,
                      gaps=[DataGap(**g) for g in spec.get("gaps", [])])
    return facts, inp, spec.get("expect", {})


def run_log(path: Path) -> LogRuleEngine:
    engine = LogRuleEngine(RULES)
    lines = path.read_text().splitlines()
    for record in parse_log_lines(lines, file=f"rules/{path.name}", container="c1", role="prover-node"):
        engine.feed(record)
    return engine


@pytest.mark.parametrize("rule", LOG_RULES, ids=lambda r: r.id)
def test_log_rule_fires_on_its_fixture_with_the_evidence_line(rule) -> None:
    fixture = FIXTURES / rule.fixture["file"]
    findings = [f for f in run_log(fixture).findings() if f.rule_id == rule.id]
    assert len(findings) == 1, f"{rule.id} did not fire on {fixture.name}"
    finding = findings[0]
    expected_line = rule.fixture["line"]
    evidence = finding.evidence[0]
    assert evidence.line_start == expected_line
    assert evidence.file == f"rules/{fixture.name}"
    assert evidence.lines[0] == fixture.read_text().splitlines()[expected_line - 1]
    assert finding.first_seen is not None and finding.container == "c1"


def test_healthy_log_fires_no_rule() -> None:
    engine = run_log(FIXTURES / "healthy.log")
    assert [f.rule_id for f in engine.findings()] == []


@pytest.mark.parametrize("rule", CHECK_RULES, ids=lambda r: r.id)
def test_logic_rule_fires_on_its_fixture(rule) -> None:
    facts, inp, expect = facts_from_yaml(FIXTURES / rule.fixture["file"])
    findings = [f for f in run_logic_rules(RULES, facts, inp, {}) if f.rule_id == rule.id]
    assert len(findings) == expect.get("count", 1)
    finding = findings[0]
    if "container" in expect:
        assert finding.container == expect["container"]
    assert expect.get("title_contains", "") in finding.title
    assert finding.evidence, "a finding always carries evidence"


def test_healthy_deployment_fires_no_logic_rule() -> None:
    facts, inp, _ = facts_from_yaml(FIXTURES / "healthy.facts.yaml")
    assert [f.rule_id for f in run_logic_rules(RULES, facts, inp, {})] == []


def test_an_oom_event_without_the_oomkilled_flag_is_an_oom_kill_not_a_sigkill() -> None:
    """Docker's OOMKilled flag is racy on cgroup v2; its oom event is not: the container's exit
    137 is reported as the OOM kill it was, once, and not also as a SIGKILL from outside."""
    facts, inp, _ = facts_from_yaml(FIXTURES / "container-oom-event-only.facts.yaml")
    found = run_logic_rules(RULES, facts, inp, {})
    assert [(f.rule_id, f.container) for f in found] == [("container-oom-killed", "aztec-prover-prover-agent-1")]
    assert [e.line_start for e in found[0].evidence if e.file == "docker/events.jsonl"] == [3]


def test_restart_loop_counts_start_up_banners_from_the_logs() -> None:
    facts, inp, _ = facts_from_yaml(FIXTURES / "healthy.facts.yaml")
    hits = {"server-restarted": {"aztec-prover-prover-node-1": 4}}
    found = [f for f in run_logic_rules(RULES, facts, inp, hits) if f.rule_id == "container-restart-loop"]
    assert [f.container for f in found] == ["aztec-prover-prover-node-1"]
    assert found[0].count == 3


def test_evidence_is_capped_but_every_hit_is_counted() -> None:
    lines = [f"2026-11-27T10:00:{i:02d}.000000000Z [10:00:{i:02d}.000] ERROR: prover-client:orchestrator "
             "Error thrown when proving job: Error: Broker facade stopped" for i in range(40)]
    engine = LogRuleEngine(RULES)
    for record in parse_log_lines(lines, file="logs.txt", container="node", role="prover-node"):
        engine.feed(record)
    (finding,) = engine.findings()
    assert finding.count == 40
    assert len(finding.evidence) == 5
    assert [e.line_start for e in finding.evidence] == [1, 2, 3, 4, 40]


def test_a_new_wording_is_one_line_in_a_rule_file(tmp_path: Path) -> None:
    rules_dir = Path(__file__).resolve().parents[2] / "analyzer" / "rules"
    for rule_file in rules_dir.glob("*.yaml"):
        (tmp_path / rule_file.name).write_text(rule_file.read_text())
    source = (rules_dir / "proving.yaml").read_text()
    marker = "      - Marking proving job as failed\n"
    assert marker in source
    (tmp_path / "proving.yaml").write_text(source.replace(marker, marker + "      - Proof abandoned for good\n"))
    engine = LogRuleEngine(load_rules(tmp_path))
    lines = ["2026-11-27T10:00:00.000000000Z [10:00:00.000] ERROR: prover-client Proof abandoned for good id=7"]
    for record in parse_log_lines(lines, file="logs.txt"):
        engine.feed(record)
    assert [f.rule_id for f in engine.findings()] == ["proof-failed"]


def test_engine_memory_stays_bounded_however_many_episodes() -> None:
    from nodediag.analyzer.rules.engine import MAX_EPISODES

    start = datetime(2026, 11, 20)
    times = [start + timedelta(minutes=10 * i) for i in range(720)]  # 10 min apart: one episode each
    lines = (f"{t:%Y-%m-%dT%H:%M:%S}.000000000Z [{t:%H:%M:%S}.000] WARN: prover-client:proving-broker "
             f"Proving job id=1:{i} timed out. Adding it back to the queue." for i, t in enumerate(times))
    engine = LogRuleEngine(RULES)
    for record in parse_log_lines(lines, file="logs.txt", container="broker", role="prover-broker"):
        engine.feed(record)
    (finding,) = engine.findings()
    assert finding.count == 720 and len(finding.evidence) == 5
    assert len(engine.episodes()[("broker-job-timeout", "broker")]) == MAX_EPISODES < 720
