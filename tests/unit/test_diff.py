"""`nodediag diff A B`: findings, verdict, images, restarts, configuration and host resources."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from nodediag.analyzer.diff import diff_reports, render_html, render_json, render_markdown
from nodediag.cli import main

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("reports")
    out = {}
    for name in ("healthy", "agent-oom", "broker-died"):
        path = folder / f"{name}.json"
        assert run("analyze", str(SAMPLES / f"{name}.tar.zst"), "-f", "json", "-o", str(path)).exit_code == 0
        out[name] = path
    return out


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def test_findings_that_appeared_and_disappeared_between_two_bundles() -> None:
    result = run("diff", str(SAMPLES / "healthy.tar.zst"), str(SAMPLES / "agent-oom.tar.zst"), "-f", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    changes = {(f["rule_id"], f["container"]): f["change"] for f in data["findings"]}
    assert changes[("container-oom-killed", "aztec-prover-prover-agent-1")] == "appeared"
    assert data["verdict_changed"] and data["verdict_b"]["rule_id"] == "container-oom-killed"
    assert not data["identical"]
    back = json.loads(run("diff", str(SAMPLES / "agent-oom.tar.zst"), str(SAMPLES / "healthy.tar.zst"),
                          "-f", "json").stdout)
    assert {(f["rule_id"], f["change"]) for f in back["findings"]} >= {("container-oom-killed", "disappeared")}


def test_reports_and_bundles_mix_and_the_same_input_is_identical(reports: dict[str, Path]) -> None:
    same = run("diff", str(reports["broker-died"]), str(SAMPLES / "broker-died.tar.zst"))
    assert same.exit_code == 0, same.output
    assert "No difference" in same.stdout and "**Verdict:** unchanged" in same.stdout
    data = json.loads(run("diff", str(reports["healthy"]), str(reports["healthy"]), "-f", "json").stdout)
    assert data["identical"] and data["findings"] == [] and data["config"] == []


def test_changed_findings_images_restarts_and_host(reports: dict[str, Path]) -> None:
    a = load(reports["agent-oom"])
    b = copy.deepcopy(a)
    b["findings"][0]["count"] = a["findings"][0]["count"] + 5
    b["findings"][0]["severity"] = "high"
    node = next(c for c in b["facts"]["containers"] if c["role"] == "prover-node")
    node["image"] = "aztecprotocol/aztec:2.1.11"
    node["restart_count"] = 7
    b["facts"]["host"]["memory_total"] = a["facts"]["host"]["memory_total"] * 2
    d = diff_reports(a, b)
    (changed,) = d.findings
    assert changed.change == "changed" and set(changed.what) == {"count", "severity"}
    assert changed.count_b == changed.count_a + 5  # type: ignore[operator]
    assert [(i.scope, i.a, i.b) for i in d.images] == [(node["name"], "aztecprotocol/aztec:2.1.2-fake",
                                                         "aztecprotocol/aztec:2.1.11")]
    assert [(r.scope, r.a, r.b) for r in d.restarts] == [(node["name"], 0, 7)]
    assert [(h.key, h.change) for h in d.host] == [("memory_total", "changed")]
    md = render_markdown(d)
    assert "aztecprotocol/aztec:2.1.11" in md and "### Restart counts" in md and "### Host resources" in md


def test_containers_renamed_between_setups_are_matched_by_role(reports: dict[str, Path]) -> None:
    a = load(reports["agent-oom"])
    b = copy.deepcopy(a)
    for c in b["facts"]["containers"]:
        c["name"] = c["name"].replace("aztec-prover-prover-", "community-")
    d = diff_reports(a, b)
    assert d.images == [] and d.restarts == [] and d.config == []


def test_configuration_keys_and_redacted_values(reports: dict[str, Path]) -> None:
    a = load(reports["agent-oom"])
    b = copy.deepcopy(a)
    env_file = next(f for f in b["facts"]["config_files"] if f["path"].endswith(".env"))
    env = env_file["env"]
    env["PROVER_AGENT_POLL_INTERVAL_MS"] = "30000"  # changed
    del env["P2P_IP"]  # removed
    env["PROVER_AGENT_COUNT"] = "2"  # added
    # the same secret in another bundle carries another tag: not a change anybody can tell
    env["PROVER_PUBLISHER_PRIVATE_KEY"] = "[REDACTED:private_key#00000000]"
    # a redacted URL whose visible part changed did change
    env["ETHEREUM_HOSTS"] = "https://eth-mainnet.example.net/v2/[REDACTED:api_key#11111111]"
    d = diff_reports(a, b)
    changes = {(c.key, c.change) for c in d.config if c.scope == env_file["path"]}
    assert changes == {("PROVER_AGENT_POLL_INTERVAL_MS", "changed"), ("P2P_IP", "removed"),
                       ("PROVER_AGENT_COUNT", "added"), ("ETHEREUM_HOSTS", "changed")}
    assert [r.key for r in d.redacted] == ["PROVER_PUBLISHER_PRIVATE_KEY"]
    md = render_markdown(d)
    assert "Not compared: 1 secret value(s)" in md and "30000" in md
    assert "does not record its redaction key" in md and "changed (redacted)" not in md
    # both bundles tagged with one host key (the manifests say so): another tag is another secret
    for report in (a, b):
        report["input"]["manifest"]["redaction"]["key_id"] = "0123456789abcdef"
    same = diff_reports(a, b)
    assert ("PROVER_PUBLISHER_PRIVATE_KEY", "changed") in {(c.key, c.change) for c in same.config}
    assert same.redacted == [] and same.secrets_changed == ["PROVER_PUBLISHER_PRIVATE_KEY"]
    md = render_markdown(same)
    assert "- PROVER_PUBLISHER_PRIVATE_KEY changed (redacted) in " in md and "Not compared" not in md
    assert "PROVER_PUBLISHER_PRIVATE_KEY changed (redacted)" in render_html(same)
    assert json.loads(render_json(same))["secrets_changed"] == ["PROVER_PUBLISHER_PRIVATE_KEY"]
    # the same tag under the same key: unchanged, no line at all
    env["PROVER_PUBLISHER_PRIVATE_KEY"] = next(
        f for f in a["facts"]["config_files"] if f["path"] == env_file["path"])["env"]["PROVER_PUBLISHER_PRIVATE_KEY"]
    unchanged = diff_reports(a, b)
    assert "PROVER_PUBLISHER_PRIVATE_KEY" not in {c.key for c in unchanged.config + unchanged.redacted}
    assert "PROVER_PUBLISHER_PRIVATE_KEY" not in render_markdown(unchanged)
    # different keys: said plainly, nothing compared
    b["input"]["manifest"]["redaction"]["key_id"] = "fedcba9876543210"
    env["PROVER_PUBLISHER_PRIVATE_KEY"] = "[REDACTED:private_key#00000000]"
    other = diff_reports(a, b)
    assert other.redaction_keys == "different" and [r.key for r in other.redacted] == ["PROVER_PUBLISHER_PRIVATE_KEY"]
    assert "redacted with different keys" in render_markdown(other) and other.secrets_changed == []
    # a re-redaction with another key mixes tags: not comparable either
    b["input"]["manifest"]["redaction"]["key_id"] = "0123456789abcdef"
    b["input"]["manifest"]["redaction"]["re_redacted"] = [{"key_id": "fedcba9876543210"}]
    assert diff_reports(a, b).redaction_keys == "unknown"


def test_html_is_self_contained_and_escapes_bundle_text(reports: dict[str, Path], tmp_path: Path) -> None:
    a = load(reports["healthy"])
    b = copy.deepcopy(a)
    b["findings"].append({**a["findings"][0], "rule_id": "x", "title": "<script>alert(1)</script>"})
    html = render_html(diff_reports(a, b, "a<b>", "b"))
    assert "<script>alert" not in html and "&lt;script&gt;" in html and "a&lt;b&gt;" in html
    out = tmp_path / "diff.html"
    result = run("diff", str(reports["healthy"]), str(reports["broker-died"]), "-f", "html", "-o", str(out))
    assert result.exit_code == 0, result.output
    page = out.read_text()
    assert "container-exit-137" in page and "<script" not in page
    assert "http://" not in page.split("<body>")[0] and "https://" not in page.split("<body>")[0]
    assert 'src="http' not in page and 'href="http' not in page


def test_bad_inputs_are_one_line_errors(tmp_path: Path) -> None:
    not_report = tmp_path / "other.json"
    not_report.write_text('{"hello": 1}')
    for args, words in ((("no-such-file", str(SAMPLES / "healthy.tar.zst")), "neither a file"),
                        ((str(not_report), str(SAMPLES / "healthy.tar.zst")), "not a nodediag report"),
                        (("42", "43", "--db", str(tmp_path / "empty.db")), "no archive entry #42")):
        result = run("diff", *args)
        assert result.exit_code == 2
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and words in lines[0], result.stderr
