"""A full, realistic AnalysisResult built by hand for the report tests, a hostile variant of it,
and tests of the report's view model (ordering, anchors, cause links, capping) on them.

The incident: the prover node's V8 heap ran out, the container was OOM-killed (exit 137), and
the orchestrator logged a burst of ``Broker facade stopped`` errors as the epoch job was torn down.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from nodediag.analyzer.model import (
    AnalysisResult,
    ConfigFile,
    ContainerInfo,
    DataGap,
    Event,
    Facts,
    Filesystem,
    Finding,
    HostFacts,
    LoadedInput,
    LogFile,
    ParseStats,
    Probe,
    TimelineEntry,
    Verdict,
)
from nodediag.analyzer.model import Evidence as Ev
from nodediag.analyzer.report.view import build_view, finding_views, next_steps, timeline_rows

NODE = "aztec-prover-prover-node-1"
BROKER = "aztec-prover-prover-broker-1"
AGENT = "aztec-prover-prover-agent-1"
T0 = datetime(2026, 11, 27, 17, 40, tzinfo=timezone.utc)
SCRIPT_PAYLOAD = "<script>window.__pwned=1</script>"
IMG_PAYLOAD = '<img src=x onerror="window.__pwned=2">'
HOSTILE = f'{SCRIPT_PAYLOAD}{IMG_PAYLOAD}"\'`|]()&amp;'
GiB = 1024**3


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def manifest() -> dict[str, Any]:
    return {
        "format": "nodediag-bundle",
        "format_version": 1,
        "tool": {"name": "nodediag", "version": "0.1.0"},
        "created_at": "2026-11-27T18:30:00Z",
        "finished_at": "2026-11-27T18:30:41Z",
        "command_line": ["nodediag", "collect", "--since", "24h"],
        "window": {"since": "2026-11-26T18:30:00Z", "until": "2026-11-27T18:30:00Z"},
        "host": {"hostname": "prover-1", "os": "Linux", "kernel": "6.1.0", "cpus": 32},
        "status": "complete",
        "sources": [
            {"name": f"container_logs:{NODE}", "status": "ok", "duration_s": 1.2, "error": None},
            {"name": f"probe:{AGENT}", "status": "skipped", "duration_s": 0.0,
             "error": "port 8080 not reachable from the host"},
        ],
        "files": [
            {"path": f"containers/{NODE}/logs.txt", "size": 1234, "sha256": "ab" * 32,
             "redactions": {"url_credential": 2, "private_key": 1}},
            {"path": "config/aztec-prover/.env", "size": 321, "sha256": "cd" * 32,
             "redactions": {"private_key": 1, "api_key": 1}},
        ],
        "redaction": {"placeholder": "[REDACTED:<kind>#<tag>]",
                      "totals": {"private_key": 2, "url_credential": 2, "api_key": 1},
                      "secrets_known": 3, "leak_check": "passed"},
    }


def full_result() -> AnalysisResult:
    node_log = f"containers/{NODE}/logs.txt"
    oom_lines = [
        "2026-11-27T18:01:02.100000000Z <--- Last few GCs --->",
        "2026-11-27T18:01:02.200000000Z [1:0x6f3a] 3601234 ms: Mark-Compact 15990.2 (16412.5) -> 15980.1 MB",
        "2026-11-27T18:01:02.300000000Z FATAL ERROR: Reached heap limit Allocation failed - "
        "JavaScript heap out of memory",
    ]
    facade_lines = [
        "2026-11-27T18:01:01.900000000Z [18:01:01.900] ERROR: prover-client:orchestrator Error thrown "
        "when proving job: Error: Broker facade stopped",
        "2026-11-27T18:01:01.901000000Z     at BrokerCircuitProverFacade.stop (file:///usr/src/a.js:1:2)",
    ]
    oom = Finding(
        rule_id="node-out-of-memory", title="The prover node ran out of memory", severity="critical",
        category="cause",
        meaning="The V8 heap of the prover node reached its limit and the container was killed (exit 137).",
        action="Raise NODE_OPTIONS=--max-old-space-size or the container memory limit, then restart the node.",
        container=NODE, first_seen=at(21), last_seen=at(21.05), count=1, confidence="high",
        evidence=[Ev(node_log, 4101, 4103, oom_lines, NODE, at(21.04), "V8 heap exhausted")],
        details={"exit_code": 137, "oom_killed": True, "heap_limit_mb": 16384},
    )
    facade = Finding(
        rule_id="broker-facade-stopped", title="Burst of 'Broker facade stopped' errors", severity="high",
        category="symptom",
        meaning="Outstanding proof requests were rejected when the epoch job stopped; look at what happened "
                "just before.",
        action="Fix the cause linked above; these errors follow from it.",
        container=NODE, first_seen=at(21), last_seen=at(21.02), count=57, caused_by=["node-out-of-memory"],
        evidence=[Ev(node_log, 4090, 4091, facade_lines, NODE, at(21.03))],
    )
    poll = Finding(
        rule_id="agent-poll-interval-vs-job-timeout", title="Agent poll interval equals the broker job timeout",
        severity="medium", category="config",
        meaning="PROVER_AGENT_POLL_INTERVAL_MS (30000) >= PROVER_BROKER_JOB_TIMEOUT_MS (30000): jobs are "
                "re-queued while still being proved.",
        action="Set PROVER_AGENT_POLL_INTERVAL_MS to 1000 or lower.",
        container=AGENT, confidence="high",
        evidence=[Ev("config/aztec-prover/.env", 12, 12, ["PROVER_AGENT_POLL_INTERVAL_MS=30000"])],
    )
    reset = Finding(
        rule_id="libp2p-stream-reset", title="libp2p stream resets", severity="info", category="info",
        meaning="Harmless peer churn.", action="", container=NODE, count=12, first_seen=at(1), last_seen=at(40),
    )
    timeline = [
        TimelineEntry(at(0), NODE, "record", "INFO", "Aztec Server listening on port 8080", node_log, 1),
        TimelineEntry(at(5), BROKER, "record", "WARN",
                      "Proving job id=17 timed out. Adding it back to the queue.",
                      f"containers/{BROKER}/logs.txt", 310),
        TimelineEntry(at(21.03), NODE, "record", "ERROR", "Error thrown when proving job: Error: Broker facade "
                      "stopped", node_log, 4090),
        TimelineEntry(at(21.04), NODE, "record", "FATAL", "FATAL ERROR: Reached heap limit Allocation failed",
                      node_log, 4103),
        TimelineEntry(at(21), NODE, "finding", "critical", "The prover node ran out of memory",
                      rule_id="node-out-of-memory"),
        TimelineEntry(at(21.1), NODE, "event", "event", "die exitCode=137", "docker/events.jsonl", 7),
        TimelineEntry(at(22), AGENT, "record", "INFO", "Job id=18 completed", f"containers/{AGENT}/logs.txt", 90),
    ]
    series = {
        NODE: [(at(m), {"WARN": 1, "ERROR": 0}) for m in range(0, 20)]
        + [(at(21), {"ERROR": 57, "FATAL": 1, "WARN": 3})],
        BROKER: [(at(5), {"WARN": 2}), (at(21), {"ERROR": 4})],
    }
    containers = [
        ContainerInfo(NODE, "prover-node", "aztecprotocol/aztec:2.1.2", "exited", 137, True, 3,
                      at(-120), at(21.1), {"ETHEREUM_HOSTS": "https://[REDACTED:url_credential#1a2b3c4d]@rpc",
                                           "NODE_OPTIONS": "--max-old-space-size=16384"},
                      ["start", "--prover-node", "--archiver"], 32 * GiB, "unless-stopped",
                      f"containers/{NODE}/logs.txt"),
        ContainerInfo(BROKER, "prover-broker", "aztecprotocol/aztec:2.1.2", "running", 0, False, 0, at(-300),
                      None, {}, ["start", "--prover-broker"], None, "unless-stopped"),
        ContainerInfo(AGENT, "prover-agent", "aztecprotocol/aztec:2.1.1", "running", None, False, 0, at(-300)),
    ]
    host = HostFacts(
        hostname="prover-1", cpus=32, cpu_model="AMD EPYC 7443P", load=[3.1, 2.8, 2.5],
        memory_total=128 * GiB, memory_available=20 * GiB, swap_total=0, swap_used=0, uptime_s=864000,
        filesystems=[
            Filesystem("/", "/dev/nvme0n1p2", "ext4", 100 * GiB, 50 * GiB, 50 * GiB, 50.0),
            Filesystem("/var/lib/docker", "/dev/nvme1n1", "ext4", 1000 * GiB, 930 * GiB, 70 * GiB, 93.0,
                       "docker-data-root"),
        ],
        kernel_oom=[Ev("host/kernel-oom.txt", 2, 2, ["Out of memory: Killed process 4242 (node)"],
                       time=at(21.05))],
        container_stats={BROKER: {"memory_usage": 3 * GiB, "memory_limit": 16 * GiB, "cpu_percent": 4.5},
                         AGENT: {"memory_usage": 100 * GiB, "memory_limit": 110 * GiB, "cpu_percent": 3100.0}},
    )
    facts = Facts(
        containers=containers,
        events=[Event(at(21.1), NODE, "die", {"exitCode": "137"}, "docker/events.jsonl", 7)],
        host=host,
        config_files=[ConfigFile("config/aztec-prover/.env",
                                 "PROVER_PUBLISHER_PRIVATE_KEY=[REDACTED:private_key#9f8e7d6c]\n"
                                 "PROVER_AGENT_POLL_INTERVAL_MS=30000\n",
                                 {"PROVER_AGENT_POLL_INTERVAL_MS": "30000"})],
        probes=[Probe(NODE, "http://127.0.0.1:8080/status", "host", None, "connection refused", None,
                      f"probes/{NODE}-status.json"),
                Probe(BROKER, "http://172.18.0.3:8080/status", "netns", 200, "", 3.2)],
        log_files=[LogFile(node_log, NODE, "prover-node")],
    )
    loaded = LoadedInput(
        kind="bundle-v1", root=Path("/tmp/nodediag-x"), files=[node_log, "manifest.json"], manifest=manifest(),
        gaps=[DataGap(f"probe:{AGENT}", "skipped", "port 8080 not reachable from the host",
                      [f"probes/{AGENT}-status.json"]),
              DataGap(f"container_logs:{BROKER}", "truncated", "only the newest 200000 lines were kept",
                      [f"containers/{BROKER}/logs.txt"])],
        name="nodediag-prover-1-20261127T183000Z.tar.zst",
    )
    return AnalysisResult(
        input=loaded, facts=facts,
        verdict=Verdict("The prover node was killed for running out of memory at 18:01Z; the epoch proof was "
                        "lost.", "node-out-of-memory", NODE, at(21), "high"),
        findings=[oom, facade, poll, reset], timeline=timeline, incident_window=(at(20), at(23)),
        parse_stats=[ParseStats(node_log, 5000, 4800, 12, {"pino": 4788, "raw": 12})],
        level_series=series, analyzed_at=datetime(2026, 11, 28, 9, 0, 0, 123000, tzinfo=timezone.utc),
        tool_version="0.1.0",
    )


def thin_result() -> AnalysisResult:
    """What a single empty log file gives: no findings, no facts, no verdict rule."""
    return AnalysisResult(
        input=LoadedInput("single-log", Path("/tmp/x"), ["x.log"], None, name="x.log"),
        facts=Facts(), verdict=Verdict("No known failure pattern was found.", None),
        findings=[], timeline=[], incident_window=None, parse_stats=[],
    )


def poison(value: Any, payload: str = HOSTILE) -> Any:
    """A copy of ``value`` with the payload appended to every string and every string dict key."""
    if isinstance(value, str):
        return value + payload
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return type(value)(**{f.name: poison(getattr(value, f.name), payload) for f in dataclasses.fields(value)})
    if isinstance(value, dict):
        return {poison(k, payload): poison(v, payload) for k, v in value.items()}
    if isinstance(value, list):
        return [poison(v, payload) for v in value]
    if isinstance(value, tuple):
        return tuple(poison(v, payload) for v in value)
    return value


def hostile_result() -> AnalysisResult:
    result = poison(full_result())
    result.input.root = Path("/tmp/nodediag-x")
    return result


# ---- tests of the view model -------------------------------------------------------------------


def test_symptom_links_to_its_cause_and_cause_lists_what_it_explains() -> None:
    views = finding_views(full_result().findings)
    oom, facade = views[0], views[1]
    assert facade.causes == [("node-out-of-memory", oom.anchor, "The prover node ran out of memory")]
    # the container is named, so two symptoms of one rule in different containers stay apart
    assert oom.explains == [(facade.anchor, f"Burst of 'Broker facade stopped' errors ({facade.finding.container})")]


def test_a_cause_missing_from_the_input_is_named_without_a_link() -> None:
    finding = full_result().findings[1]
    finding.caused_by = ["rule-not-present"]
    (view,) = finding_views([finding])
    assert view.causes == [("rule-not-present", "", "")]


def test_finding_anchors_are_unique_and_made_of_safe_characters() -> None:
    findings = [full_result().findings[0], full_result().findings[0], poison(full_result().findings[0])]
    anchors = [v.anchor for v in finding_views(findings)]
    assert len(set(anchors)) == 3
    assert all(set(a) <= set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") for a in anchors)


def test_timeline_is_chronological_with_incident_window_markers() -> None:
    result = full_result()
    rows, hidden = timeline_rows(result.timeline, result.incident_window, {})
    assert hidden == 0
    markers = [(i, row.marker) for i, row in enumerate(rows) if row.marker]
    assert [m for _, m in markers] == ["start", "end"]
    inside = rows[markers[0][0] + 1: markers[1][0]]
    assert inside and all(row.in_window for row in inside)
    times = [row.entry.time for row in rows if row.entry]
    assert times == sorted(times)


def test_a_long_timeline_keeps_findings_events_and_errors_first() -> None:
    result = full_result()
    noise = [TimelineEntry(at(30 + i / 100), NODE, "record", "INFO", f"noise {i}") for i in range(500)]
    rows, hidden = timeline_rows(result.timeline + noise, result.incident_window, {}, limit=20)
    kept = [row.entry for row in rows if row.entry]
    assert hidden == len(result.timeline) + 500 - 20
    assert {e.kind for e in kept} >= {"finding", "event"}
    assert any(e.level == "FATAL" for e in kept) and any(e.level == "WARN" for e in kept)


def test_next_steps_put_the_cause_first_and_skip_empty_actions() -> None:
    steps = next_steps(full_result().findings)
    assert steps[0].startswith("Raise NODE_OPTIONS")
    assert "" not in steps


def test_view_flags_an_incomplete_collection_and_high_usage() -> None:
    result = full_result()
    result.input.manifest["status"] = "interrupted"
    view = build_view(result)
    assert "status: interrupted" in view.warnings[0]
    assert [row.level for row in view.hosts[0].filesystem_chart.rows] == ["ok", "bad"]
    memory = {row.label: row.level for row in view.hosts[0].memory_chart.rows}
    assert memory == {AGENT: "bad", BROKER: "ok"}  # the agent uses 91% of its limit
    collected_at = datetime(2026, 11, 27, 18, 30, tzinfo=timezone.utc)
    assert view.containers[0].down_for_s == (collected_at - at(21.1)).total_seconds()
