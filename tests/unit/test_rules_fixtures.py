"""Every rule fires on its own fixtures with the right evidence, every line a fixture lists is
matched, no line of its negative fixtures is, and nothing fires on a healthy log or a healthy
deployment. Log fixtures go through the real parser and engine."""

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
    """Build Facts and a LoadedInput from a *.facts.yaml description; also return its 'expect'
    (with its 'log_hits': rule id -> container -> hits, what the log rules counted)."""
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
    return facts, inp, {**spec.get("expect", {}), "log_hits": spec.get("log_hits", {})}


def run_log(path: Path) -> LogRuleEngine:
    engine = LogRuleEngine(RULES)
    lines = path.read_text().splitlines()
    for record in parse_log_lines(lines, file=f"rules/{path.name}", container="c1", role="prover-node"):
        engine.feed(record)
    return engine


def matches_by_line(path: Path) -> dict[int, tuple[str, ...]]:
    """Every line of a log fixture -> the ids of the rules its record matched (a continuation
    line belongs to the record it continues)."""
    engine = LogRuleEngine(RULES)
    found: dict[int, tuple[str, ...]] = {}
    lines = path.read_text().splitlines()
    for record in parse_log_lines(lines, file=f"rules/{path.name}", container="c1", role="prover-node"):
        ids = engine.match_ids(record)[1]
        for number in range(record.line_start, record.line_end + 1):
            found[number] = ids
    return found


@pytest.mark.parametrize("rule", LOG_RULES, ids=lambda r: r.id)
def test_log_rule_matches_every_line_its_fixtures_list(rule) -> None:
    for fixture in rule.fixtures:
        path = FIXTURES / fixture.file
        matched = matches_by_line(path)
        text = path.read_text().splitlines()
        missed = [n for n in fixture.lines if rule.id not in matched.get(n, ())]
        assert not missed, f"{rule.id} does not match {fixture.file} lines {missed}: {[text[n - 1] for n in missed]}"


@pytest.mark.parametrize("rule", [r for r in LOG_RULES if r.negatives], ids=lambda r: r.id)
def test_log_rule_matches_no_line_of_its_negative_fixtures(rule) -> None:
    for fixture in rule.negatives:
        path = FIXTURES / fixture.file
        text = path.read_text().splitlines()
        lines = fixture.lines or tuple(n for n, line in enumerate(text, start=1) if line.strip())
        matched = matches_by_line(path)
        wrong = [n for n in lines if rule.id in matched.get(n, ())]
        assert not wrong, f"{rule.id} matches {fixture.file} lines {wrong}: {[text[n - 1] for n in wrong]}"


@pytest.mark.parametrize("rule", [r for r in LOG_RULES if r.report], ids=lambda r: r.id)
def test_log_rule_fires_on_its_fixture_with_the_evidence_line(rule) -> None:
    fixture = rule.fixtures[0]
    path = FIXTURES / fixture.file
    findings = [f for f in run_log(path).findings() if f.rule_id == rule.id]
    assert len(findings) == 1, f"{rule.id} did not fire on {path.name}"
    finding = findings[0]
    evidence = finding.evidence[0]
    first = matches_by_line(path)
    expected_line = sorted({n for n in first if rule.id in first[n]})[rule.ignore_first]  # its first hit counted
    assert evidence.line_start == expected_line
    assert evidence.file == f"rules/{path.name}"
    assert evidence.lines[0] == path.read_text().splitlines()[expected_line - 1]
    assert finding.first_seen is not None and finding.container == "c1"
    for key, value in fixture.expect.items():
        assert str(value) in str(finding.details.get(key, "")), (key, finding.details)
        assert str(value) in finding.title, finding.title


@pytest.mark.parametrize("rule", [r for r in LOG_RULES if not r.report], ids=lambda r: r.id)
def test_marker_rules_are_counted_but_never_findings(rule) -> None:
    engine = run_log(FIXTURES / rule.fixtures[0].file)
    assert engine.hit_counts(rule.id)["c1"] >= len(rule.fixtures[0].lines)
    assert rule.id not in {f.rule_id for f in engine.findings()}


def test_healthy_log_fires_no_rule() -> None:
    engine = run_log(FIXTURES / "healthy.log")
    assert [f.rule_id for f in engine.findings()] == []


@pytest.mark.parametrize("rule", CHECK_RULES, ids=lambda r: r.id)
def test_logic_rule_fires_on_its_fixtures(rule) -> None:
    for fixture in rule.fixtures:
        facts, inp, expect = facts_from_yaml(FIXTURES / fixture.file)
        expect = {**expect, **fixture.expect}
        found = run_logic_rules(RULES, facts, inp, expect["log_hits"])
        findings = [f for f in found if f.rule_id == rule.id]
        assert len(findings) == expect.get("count", 1), fixture.file
        finding = findings[0]
        if "container" in expect:
            assert finding.container == expect["container"]
        assert expect.get("title_contains", "") in finding.title
        assert finding.evidence, "a finding always carries evidence"
        for other in expect.get("not_rules", []):
            assert other not in {f.rule_id for f in found}, (fixture.file, other)


@pytest.mark.parametrize("rule", [r for r in CHECK_RULES if r.negatives], ids=lambda r: r.id)
def test_logic_rule_stays_silent_on_its_negative_fixtures(rule) -> None:
    for fixture in rule.negatives:
        facts, inp, expect = facts_from_yaml(FIXTURES / fixture.file)
        found = run_logic_rules(RULES, facts, inp, expect["log_hits"])
        assert [f.title for f in found if f.rule_id == rule.id] == [], fixture.file


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
