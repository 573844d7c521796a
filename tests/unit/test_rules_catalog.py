"""The rule files' schema: required fields, unique ids, known links, existing fixtures, and a
clear one-line error for a malformed rule file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from nodediag.analyzer.analysis import CHECKS, run_logic_rules
from nodediag.analyzer.model import SEVERITIES, ContainerInfo, Facts
from nodediag.analyzer.rules import RuleFileError, load_rules
from nodediag.analyzer.rules.catalog import CATEGORIES, RULES_DIR, TAGS, regex_anchor

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "rules"
REPO = Path(__file__).resolve().parents[2]
RULE = ("- {id: a-b, title: t, severity: low, category: cause, meaning: m, action: a, fixture: {file: f, line: 1},"
        " match: {fragments: [x]}}\n")
CHECK_RULE = ("- {id: c-d, title: t, severity: low, category: config, meaning: m, action: a, fixture: {file: f},"
              " check: container_restart_loop, params: {min_restarts: 3}}\n")


def test_every_packaged_rule_is_complete_and_has_a_fixture() -> None:
    rules = load_rules()
    ids = [r.id for r in rules]
    assert len(ids) == len(set(ids))
    for rule in rules:
        assert rule.severity in SEVERITIES and rule.category in CATEGORIES
        assert rule.title and rule.meaning and rule.action
        for fixture in (*rule.fixtures, *rule.negatives):
            assert (FIXTURES / fixture.file).is_file(), f"{rule.id}: fixture {fixture.file} missing"
        if rule.match is not None:
            assert all(f.lines for f in rule.fixtures), f"{rule.id}: a log fixture lists the lines it matches"
        else:
            assert rule.check in CHECKS, f"{rule.id}: unknown check {rule.check}"


def test_python_names_no_rule_id_the_rule_files_own() -> None:
    """Rule ids used by Python come from the rule files (by tag, by check, by blame): a rule
    renamed in YAML can never leave a silent literal behind."""
    ids = {r.id for r in load_rules()} - set(CATEGORIES) - set(TAGS)
    found = []
    for path in sorted((REPO / "analyzer").rglob("*.py")):
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            found += [f"{path.relative_to(REPO)}:{number}: {m.group(1)}"
                      for m in re.finditer(r"[\"']([a-z0-9-]+)[\"']", line) if m.group(1) in ids]
    assert found == []


def test_remediation_text_never_repeats_the_manual_guide_pitfalls() -> None:
    for rule in load_rules():
        text = f"{rule.meaning} {rule.action}"
        if "/health" in text:
            assert "no /health route" in text, f"{rule.id}: suggests probing /health (use /status)"
        if "down -v" in text:
            assert "delete" in text.lower(), f"{rule.id}: 'down -v' without the volume warning"


def test_first_rule_pack_covers_every_broker_facade_cause() -> None:
    rules = {r.id: r for r in load_rules()}
    causes_of_burst = {r.id for r in rules.values() if "broker-facade-stopped" in r.causes}
    assert {"proof-failed", "broker-unreachable", "proof-deadline-hit", "epoch-reorg", "epoch-txs-missing",
            "public-reexecution-failed", "l1-submission-failed", "l1-insufficient-funds", "l1-nonce-error",
            "node-shutdown", "server-restarted", "v8-heap-oom", "container-oom-killed",
            "kernel-oom-kill"} <= causes_of_burst


def _write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "bad.yaml").write_text(text)
    return tmp_path


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- id: x\n  title: t\n", "missing required fields"),
        ("id: x\n", "a YAML list of rules"),
        ("- [unclosed\n", "not valid YAML"),
        ("- {id: a-b, title: t, severity: huge, category: cause, meaning: m, action: a, fixture: {file: f, line: 1},"
         " match: {fragments: [x]}}\n", "severity must be one of"),
        ("- {id: a-b, title: t, severity: low, category: cause, meaning: m, action: a, fixture: {file: f, line: 1},"
         " match: {regex: ['(']}}\n", "bad regex"),
        ("- {id: a-b, title: t, severity: low, category: cause, meaning: m, action: a, fixture: {file: f, line: 1},"
         " match: {fragments: [x]}, causes: [nope]}\n", "links to unknown rules ['nope']"),
        ("- {id: a-b, title: t, severity: low, category: cause, meaning: m, action: a, fixture: {file: f, line: 1},"
         " match: {fragments: [x]}}\n- {id: a-b, title: t, severity: low, category: cause, meaning: m,"
         " action: a, fixture: {file: f}, check: kernel_oom}\n", "duplicate rule id 'a-b'"),
        (CHECK_RULE.replace("container_restart_loop", "container_restart_loops"),
         "no check named 'container_restart_loops'"),
        (CHECK_RULE.replace("min_restarts: 3", "min_restarts: 3, max_restarts: 9"),
         "['max_restarts'] are read by nothing"),
        (CHECK_RULE.replace("min_restarts: 3", "min_restarts: three"), "'min_restarts' must be int"),
        (CHECK_RULE.replace("container_restart_loop, params: {min_restarts: 3}", "kernel_oom, params: {x: 1}"),
         "['x'] are read by nothing"),
        (RULE.replace("match:", "params: {setting: X}, match:"), "['setting'] are read by nothing"),
        (RULE.replace("line: 1", "lines: []"), "lists the line(s) it must match"),
        (RULE.replace("{file: f, line: 1}", "[{file: f, line: 1}, {file: g}]"), "lists the line(s) it must match"),
        (RULE.replace("line: 1", "line: 0"), "1-based line numbers"),
        (RULE.replace("match:", "negative: [{fil: g}], match:"), "each fixture is a mapping with a 'file'"),
        (RULE.replace("match:", "tags: [start-banners], match:"), "unknown tags ['start-banners']"),
        (RULE.replace("match:", "tags: [startup-refusal], match:"), "names the settings it needs"),
        (RULE.replace("match:", "blame: the-broker, match:"), "blame must be one of"),
        (RULE.replace("title: t", "title: 'failed: {circuit}'"), "title placeholders ['circuit']"),
        (RULE.replace("match:", "causes: [a-b@prover-brokers], match:"), "links with unknown roles"),
    ],
)
def test_malformed_rule_file_is_refused_with_a_message_naming_it(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(RuleFileError) as raised:
        load_rules(_write(tmp_path, text))
    assert message in str(raised.value)
    assert str(raised.value).startswith("bad.yaml")
    assert "\n" not in str(raised.value).split(": not valid YAML")[0]


@pytest.mark.parametrize(
    ("source", "anchor"),
    [
        (r"Job for \d+ exited with state failed", " exited with state failed"),
        (r"(status|code|http|error)\D{0,12}\b429\b", "429"),
        (r"blob sidecars?\b.*(504|gateway)", "blob sidecar"),
        (r"timeout|timed out", None),
        (r"ab", None),
    ],
)
def test_regex_anchor_is_a_literal_every_match_contains(source: str, anchor: str | None) -> None:
    assert regex_anchor(source) == anchor


def test_rules_directory_is_the_package_data_folder() -> None:
    assert sorted(p.name for p in RULES_DIR.glob("*.yaml")) == ["checks.yaml", "health.yaml", "l1.yaml", "node.yaml",
                                                               "proving.yaml", "startup.yaml"]


def test_a_rule_file_may_list_several_fixtures_and_negatives(tmp_path: Path) -> None:
    text = RULE.replace("fixture: {file: f, line: 1}",
                        "fixture: [{file: f, lines: [1, 3]}, {file: g, line: 2, expect: {circuit: X}}], "
                        "negative: [{file: h}, {file: i, lines: [4]}]")
    (rule,) = load_rules(_write(tmp_path, text))
    assert [(f.file, f.lines, f.expect) for f in rule.fixtures] == [("f", (1, 3), {}), ("g", (2,), {"circuit": "X"})]
    assert [(f.file, f.lines) for f in rule.negatives] == [("h", ()), ("i", (4,))]


def test_the_default_poll_interval_param_is_read() -> None:
    """checks.yaml's default_poll_interval_ms was read by nothing: an agent without
    PROVER_AGENT_POLL_INTERVAL_MS polls at the release default (1000 ms since September 2025),
    which a broker time-out of 800 ms is below."""
    broker = ContainerInfo(name="broker", role="prover-broker", env={"PROVER_BROKER_JOB_TIMEOUT_MS": "800"})
    agent = ContainerInfo(name="agent", role="prover-agent", env={"PROVER_BROKER_HOST": "http://broker:8080"})
    found = [f for f in run_logic_rules(load_rules(), Facts(containers=[broker, agent]), None, {})]
    assert [(f.rule_id, f.details["PROVER_AGENT_POLL_INTERVAL_MS"]) for f in found] == [
        ("agent-poll-interval-too-long", "1000 (default (unset))")]
