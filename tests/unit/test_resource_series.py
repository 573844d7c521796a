"""The watcher's samples in a bundle (watch/samples.jsonl): parsed into facts.resources, carried by
the JSON report (and read back), drawn as charts in the HTML report."""

from __future__ import annotations

import json

from test_report_sample import full_result

from nodediag.analyzer.report import render_html, render_json
from nodediag.analyzer.report.json_report import result_from_json
from nodediag.analyzer.resource_series import parse_samples

T0 = 1_796_000_000.0
AGENT = "aztec-prover-prover-agent-1"
LIMIT = 24 * 1024 * 1024


def samples_text() -> str:
    rows = []
    for i, used in enumerate((6, 11, 17, 23)):
        t = T0 + i * 10
        rows.append({"t": t, "kind": "container", "name": AGENT, "role": "prover-agent", "state": "running",
                     "mem_used": used * 1024 * 1024, "mem_limit": LIMIT, "mem_limited": True, "cpu_percent": 50.0,
                     "restart_count": 0})
        rows.append({"t": t, "kind": "host", "name": "", "mem_total": 8 * 1024**3, "mem_available": 6 * 1024**3,
                     "swap_total": 0, "swap_used": 0, "load1": 1.5})
        rows.append({"t": t, "kind": "fs", "name": "/var/lib/docker", "role": "docker-data-root", "used": 50 + i,
                     "total": 100, "percent": 50.0 + i})
        rows.append({"t": t, "kind": "status", "name": "aztec-prover-prover-broker-1", "status": 200, "error": ""})
    rows.append({"t": T0 + 40, "kind": "container", "name": AGENT, "state": "exited", "mem_used": None,
                 "mem_limit": None, "restart_count": 0})
    lines = [json.dumps(r) for r in rows] + ["not json", json.dumps({"kind": "host"})]
    return "\n".join(lines) + "\n"


MANIFEST = {"trigger": {"kind": "container-oom", "container": AGENT, "role": "prover-agent",
                        "time": "2026-11-30T00:54:05.000Z", "detail": f"{AGENT} was killed by the OOM killer"},
            "watch": {"interval_s": 10.0}}


def test_samples_become_series_per_container_and_bad_lines_are_counted():
    series, bad = parse_samples(samples_text(), MANIFEST)
    assert bad == 2
    agent = series.containers[AGENT]
    assert [p.mem_used for p in agent] == [6 * 2**20, 11 * 2**20, 17 * 2**20, 23 * 2**20, None]
    assert agent[0].mem_limit == LIMIT and agent[0].mem_limited and agent[-1].state == "exited"
    assert series.roles[AGENT] == "prover-agent"
    assert len(series.host) == 4 and series.host[0].mem_available == 6 * 1024**3
    assert [p.percent for p in series.filesystems["/var/lib/docker"]] == [50.0, 51.0, 52.0, 53.0]
    assert series.filesystem_roles["/var/lib/docker"] == "docker-data-root"
    assert series.status["aztec-prover-prover-broker-1"][0].status == 200
    assert series.trigger == MANIFEST["trigger"] and series.interval_s == 10.0


def test_json_report_carries_the_series_and_reads_them_back():
    result = full_result()
    result.facts.resources = parse_samples(samples_text(), MANIFEST)[0]
    data = json.loads(render_json(result))
    resources = data["facts"]["resources"]
    assert resources["file"] == "watch/samples.jsonl"
    assert resources["containers"][AGENT][0] == {
        "time": "2026-11-30T00:53:20Z", "state": "running", "mem_used": 6 * 2**20, "mem_limit": LIMIT,
        "mem_limited": True, "cpu_percent": 50.0, "restart_count": 0}
    assert resources["trigger"]["kind"] == "container-oom"
    again = result_from_json(render_json(result))
    assert again.facts.resources == result.facts.resources


def test_a_report_without_samples_has_no_resources():
    data = json.loads(render_json(full_result()))
    assert data["facts"]["resources"] is None
    assert "Resources over time" not in render_html(full_result())


def test_html_draws_memory_against_limit_with_the_trigger():
    result = full_result()
    result.facts.resources = parse_samples(samples_text(), MANIFEST)[0]
    html = render_html(result)
    assert "Resources over time (watch samples)" in html
    section = html.split('id="resources-over-time"', 1)[1].split("</section>", 1)[0]
    assert f"<strong>{AGENT}</strong>" in section and "peak 23.0 MiB of its 24.0 MiB limit (96%)" in section
    assert section.count('class="res-limit"') >= 2  # the agent's limit, host RAM, 100 % of the disk
    assert section.count('class="res-used"') == 3  # agent, host, one filesystem
    assert 'class="res-trigger"' in section and "container-oom" in section


def test_a_memory_kill_finding_tells_what_memory_did_before():
    from nodediag.analyzer.model import Finding
    from nodediag.analyzer.resource_series import add_memory_context

    series = parse_samples(samples_text(), MANIFEST)[0]
    kill = Finding("container-oom-killed", "OOM", "critical", "cause", "m", "a", container=AGENT)
    other = Finding("proof-failed", "p", "high", "cause", "m", "a", container=AGENT)
    elsewhere = Finding("container-oom-killed", "OOM", "critical", "cause", "m", "a", container="no-samples")
    from nodediag.analyzer.rules.catalog import load_rules, rules_tagged

    kill_rules = {r.id for r in rules_tagged(load_rules(), "memory-kill")}
    assert "container-oom-killed" in kill_rules and "proof-failed" not in kill_rules
    add_memory_context([kill, other, elsewhere], series, kill_rules)
    assert kill.details["memory before (watch samples)"] == (
        "6.0 MiB -> 23.0 MiB of its 24.0 MiB limit (96% at the peak), peak 23.0 MiB, over 30 s in 4 samples "
        "(watch/samples.jsonl)")
    assert other.details == {} and elsewhere.details == {}
    add_memory_context([kill], None, kill_rules)  # a bundle without samples: nothing to add, no error
