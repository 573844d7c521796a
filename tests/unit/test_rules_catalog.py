"""The rule files' schema: required fields, unique ids, known links, existing fixtures, and a
clear one-line error for a malformed rule file."""

from __future__ import annotations

from pathlib import Path

import pytest

from nodediag.analyzer.analysis import CHECKS
from nodediag.analyzer.model import SEVERITIES
from nodediag.analyzer.rules import RuleFileError, load_rules
from nodediag.analyzer.rules.catalog import CATEGORIES, RULES_DIR, regex_anchor

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "rules"


def test_every_packaged_rule_is_complete_and_has_a_fixture() -> None:
    rules = load_rules()
    ids = [r.id for r in rules]
    assert len(ids) == len(set(ids))
    for rule in rules:
        assert rule.severity in SEVERITIES and rule.category in CATEGORIES
        assert rule.title and rule.meaning and rule.action
        assert (FIXTURES / rule.fixture["file"]).is_file(), f"{rule.id}: fixture missing"
        if rule.match is not None:
            assert isinstance(rule.fixture.get("line"), int), f"{rule.id}: log fixture needs the evidence line"
        else:
            assert rule.check in CHECKS, f"{rule.id}: unknown check {rule.check}"


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
        ("- {id: a-b, title: t, severity: huge, category: cause, meaning: m, action: a, fixture: {file: f},"
         " match: {fragments: [x]}}\n", "severity must be one of"),
        ("- {id: a-b, title: t, severity: low, category: cause, meaning: m, action: a, fixture: {file: f},"
         " match: {regex: ['(']}}\n", "bad regex"),
        ("- {id: a-b, title: t, severity: low, category: cause, meaning: m, action: a, fixture: {file: f},"
         " match: {fragments: [x]}, causes: [nope]}\n", "links to unknown rules ['nope']"),
        ("- {id: a-b, title: t, severity: low, category: cause, meaning: m, action: a, fixture: {file: f},"
         " match: {fragments: [x]}}\n- {id: a-b, title: t, severity: low, category: cause, meaning: m,"
         " action: a, fixture: {file: f}, check: c}\n", "duplicate rule id 'a-b'"),
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
    assert sorted(p.name for p in RULES_DIR.glob("*.yaml")) == ["checks.yaml", "l1.yaml", "node.yaml", "proving.yaml"]
