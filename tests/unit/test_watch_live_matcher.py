"""The analyzer's rule pack applied to log lines as they arrive (what `nodediag watch` uses)."""

from __future__ import annotations

import pytest

from nodediag.analyzer.rules.catalog import load_rules
from nodediag.analyzer.rules.live import LiveRuleMatcher

TS = "2026-01-02T03:04:05.123456789Z "


def test_rules_at_or_above_the_severity_and_those_tagged_capture():
    matcher = LiveRuleMatcher(min_severity="high")
    rules = {r.id: r for r in load_rules()}
    assert matcher.rule_ids and all(rules[r].severity in ("high", "critical") or "capture" in rules[r].tags
                                    for r in matcher.rule_ids)
    # the burst of "Broker facade stopped" is a medium symptom, but the moment to capture what caused it
    line = TS + ("[03:04:05.123] ERROR: prover-client:orchestrator Error thrown when proving job: "
                 "Error: Broker facade stopped")
    assert matcher("node", "prover-node", [line])[0][0] == "broker-facade-stopped"
    # another medium rule stays out
    retried = TS + ("[03:04:05.123] WARN: prover-client:proving-broker Retrying proving job id=1:X:2 type=X "
                    "retry=1 err=boom")
    assert [h for h in matcher("b", "prover-broker", [retried]) if rules[h[0]].severity == "medium"] == []


def test_raw_v8_heap_block_and_a_json_record_match():
    matcher = LiveRuleMatcher()
    heap = [TS + "<--- Last few GCs --->", TS + "FATAL ERROR: Reached heap limit Allocation failed - "
            "JavaScript heap out of memory"]
    assert [h[0] for h in matcher("node", "prover-node", heap)] == ["v8-heap-oom"]
    json_line = TS + ('{"level":50,"time":1767323045123,"module":"world-state:database","msg":"Call SYNC_BLOCK failed: '
                      'Error: block state does not match world state"}')
    assert [h[0] for h in matcher("node", "prover-node", [json_line])] == ["world-state-sync-mismatch"]


def test_each_rule_once_per_call_and_healthy_lines_match_nothing():
    matcher = LiveRuleMatcher()
    enospc = TS + "[03:04:05.123] ERROR: kv-store Failed to write: Error: ENOSPC: no space left on device"
    hits = matcher("b", "prover-broker", [enospc] * 5)
    assert len(hits) == 1 and hits[0][3] == pytest.approx(1767323045.123, abs=0.01)  # when the line was written
    healthy = [TS + "[03:04:05.123] INFO: prover-client:proving-agent Job id=1 type=BASE_PARITY completed"]
    assert matcher("a", "prover-agent", healthy) == []
    assert matcher("a", "prover-agent", []) == []


def test_unknown_severity_is_refused():
    with pytest.raises(ValueError, match="unknown severity"):
        LiveRuleMatcher(min_severity="urgent")
