"""The timeline a human reads: alternating retry pairs in one row, no exec/top noise, kernel
OOM kills labelled, rows linked to their own container's finding, the last lines before each
exit, and evidence with lines of context around it."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from test_analysis import AGENT, BROKER, NODE, T0, healthy, line, make_input

from nodediag.analyzer.analysis import analyze_input
from nodediag.analyzer.model import ContainerInfo, Event, Evidence
from nodediag.analyzer.report import render_html, render_markdown
from nodediag.analyzer.report.view import build_view

FETCH = "Error fetching from host http://prover-broker:8080: fetch failed"
RETRY = "JsonRpcClient request proverBroker_getProvingJob to http://prover-broker:8080 failed. Will retry in 1s..."


def retry_pairs(start, n: int) -> list[str]:  # type: ignore[no-untyped-def]
    lines = []
    for i in range(n):
        at = start + timedelta(seconds=2 * i)
        lines.append(line(at, "WARN", "json-rpc:client", FETCH))
        lines.append(line(at + timedelta(milliseconds=5), "WARN", "foundation:retry", RETRY))
    return lines


def test_alternating_retry_pairs_become_one_row_with_count_and_span(tmp_path: Path) -> None:
    inp, facts = make_input(tmp_path, {AGENT: healthy(T0) + retry_pairs(T0 + timedelta(minutes=1), 136)})
    result = analyze_input(inp, facts, tool_version="t")
    rows = [e for e in result.timeline if e.kind == "record" and e.container == AGENT]
    fetch_rows = [e for e in rows if "Error fetching from host" in e.text]
    assert len(fetch_rows) == 1 and not [e for e in rows if e.text.startswith("foundation:retry")]
    (row,) = fetch_rows
    assert row.count == 272 and "Will retry in" in row.text and "alternating" in row.text
    assert row.until == T0 + timedelta(minutes=1, seconds=270, milliseconds=5)


def test_exec_and_top_events_are_left_out_and_kernel_oom_kills_are_labelled(tmp_path: Path) -> None:
    node_id = "a" * 64
    events = [Event(T0 + timedelta(seconds=s), NODE, action) for s, action in
              ((1, "exec_create: wget -qO- http://localhost:8080/status"), (2, "exec_start: wget"), (3, "exec_die"),
               (4, "top"), (5, "die"))]
    inp, facts = make_input(tmp_path, {NODE: healthy(T0)}, events=events,
                            containers=[ContainerInfo(name=NODE, role="prover-node", id=node_id)])
    oom, at = "kern.log", [T0 + timedelta(seconds=s) for s in (6, 7, 8)]
    facts.host.kernel_oom = [
        Evidence(oom, 1, 1, ["Out of memory: Killed process 4242 (chrome) total-vm:1kB"], time=at[0]),
        Evidence(oom, 2, 3, [f"oom-kill:constraint=CONSTRAINT_MEMCG,task_memcg=/docker/{node_id},task=node",
                             "Memory cgroup out of memory: Killed process 7 (node)"], time=at[1]),
        Evidence(oom, 4, 5, [f"oom-kill:constraint=CONSTRAINT_MEMCG,task_memcg=/docker/{'b' * 64},task=postgres",
                             "Memory cgroup out of memory: Killed process 9 (postgres)"], time=at[2]),
    ]
    result = analyze_input(inp, facts, tool_version="t")
    texts = [e.text for e in result.timeline if e.kind == "event"]
    assert not [t for t in texts if "exec_" in t or t.endswith(": top")]
    assert "docker event: die" in texts
    kills = [(e.container, e.text) for e in result.timeline if e.text.startswith("kernel OOM")]
    assert kills == [("", "kernel OOM killer killed chrome, a process outside the deployment"),
                     (NODE, f"kernel OOM killer killed node in {NODE}"),
                     ("", "kernel OOM killer killed postgres in a container outside the deployment")]
    assert "a process outside the deployment" in render_html(result)


def test_a_timeline_row_links_to_the_finding_of_its_own_container(tmp_path: Path) -> None:
    burst = "Error thrown when proving job: Error: Broker facade stopped"
    logs = {name: healthy(T0) + [line(T0 + timedelta(minutes=m, milliseconds=20 * i), "ERROR",
                                      "prover-client:orchestrator", burst) for i in range(6)]
            for name, m in ((NODE, 2), (BROKER, 3))}
    inp, facts = make_input(tmp_path, logs)
    view = build_view(analyze_input(inp, facts, tool_version="t"))
    anchors = {f.finding.container: f.anchor for f in view.findings if f.finding.rule_id == "broker-facade-stopped"}
    rows = [r for r in view.timeline if r.entry and r.entry.kind == "record" and "facade" in r.entry.text]
    assert {r.entry.container for r in rows} == {NODE, BROKER}  # type: ignore[union-attr]
    for row in rows:
        assert row.anchor == anchors.get(row.entry.container, anchors.get("", row.anchor))  # type: ignore[union-attr]
    if len(anchors) == 2:
        assert {r.anchor for r in rows} == set(anchors.values())


def test_each_exit_shows_the_containers_last_lines_before_it(tmp_path: Path) -> None:
    died = T0 + timedelta(minutes=5)
    before = [line(T0 + timedelta(minutes=4, seconds=i), "INFO", "prover-node", f"step {i}") for i in range(10)]
    after = [line(died + timedelta(seconds=30), "INFO", "aztec", "Aztec Server listening on port 8080")]
    inp, facts = make_input(tmp_path, {NODE: healthy(T0) + before + after},
                            events=[Event(died, NODE, "die", {"exitCode": "137"})])
    result = analyze_input(inp, facts, tool_version="t")
    (exit_row,) = [e for e in result.timeline if e.text.startswith("docker event: die")]
    assert [text.split(" prover-node ")[-1] for _, text in exit_row.last_lines] == [f"step {i}" for i in range(2, 10)]
    assert exit_row.last_lines[-1][0] == 5 + 10  # line numbers in the file
    md = render_markdown(result)
    assert "### Last lines before each exit" in md and "15:" in md
    assert "step 9" in render_html(result)


def test_evidence_shows_lines_of_context_before_and_after(tmp_path: Path) -> None:
    failed = "Marking proving job as failed id=12:0x1f type=PUBLIC_VM totalAttempts=3 err=bb crashed"
    broker = healthy(T0) + [line(T0 + timedelta(minutes=2), "INFO", "prover-client:proving-broker", failed)]
    broker += healthy(T0 + timedelta(minutes=3))
    inp, facts = make_input(tmp_path, {BROKER: broker})
    result = analyze_input(inp, facts, tool_version="t")
    (finding,) = [f for f in result.findings if f.rule_id == "proof-failed"]
    evidence = finding.evidence[0]
    assert evidence.line_start == 6
    assert len(evidence.before) == 3 and "id=1:0002" in evidence.before[0]
    assert len(evidence.after) == 3 and "id=1:0000" in evidence.after[0]
    md = render_markdown(result)
    assert "\n3-" in md and "\n6:" in md and "\n7-" in md


def test_read_lines_finds_lines_across_block_edges(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import io

    from nodediag.analyzer import context_lines

    text = b"".join(f"line {n} {'x' * (n % 7)}\n".encode() for n in range(1, 2001)) + b"last without newline"
    monkeypatch.setattr(context_lines, "BLOCK", 97)  # lines cross every block edge
    wanted = [1, 2, 50, 51, 999, 1000, 2000, 2001, 2002]
    got = context_lines.read_lines(io.BytesIO(text), wanted)
    assert got == {n: (f"line {n} {'x' * (n % 7)}" if n <= 2000 else "last without newline")
                   for n in wanted if n <= 2001}


def test_a_json_report_with_the_new_fields_reads_back_and_renders_the_same(tmp_path: Path) -> None:
    from nodediag.analyzer.report.json_report import render_json, result_from_json

    died = T0 + timedelta(minutes=5)
    node = healthy(T0) + retry_pairs(T0 + timedelta(minutes=1), 3)
    node += [line(T0 + timedelta(minutes=2, seconds=i), "ERROR", "prover-node", f"Unheard of failure {i}")
             for i in range(2)]
    inp, facts = make_input(tmp_path, {NODE: node}, events=[Event(died, NODE, "die", {"exitCode": "1"})])
    result = analyze_input(inp, facts, tool_version="t")
    assert result.unexplained and any(e.last_lines for e in result.timeline)
    assert any(ev.before or ev.after for f in result.findings for ev in f.evidence)
    again = result_from_json(render_json(result))
    assert render_json(again) == render_json(result)
    assert render_markdown(again) == render_markdown(result)


def test_read_lines_stops_at_its_byte_budget() -> None:
    import io

    from nodediag.analyzer.context_lines import read_lines

    text = b"".join(f"{n:09d}\n".encode() for n in range(1, 1001))  # 10 bytes a line
    assert read_lines(io.BytesIO(text), [5, 500, 900], max_bytes=5000) == {5: "000000005", 500: "000000500"}


def test_a_cycle_of_three_messages_becomes_one_row_and_other_rows_stay(tmp_path: Path) -> None:
    promise = "Error in running promise: Error: fetch failed"
    lines = []
    for i in range(40):
        at = T0 + timedelta(minutes=1, seconds=3 * i)
        lines.append(line(at, "WARN", "json-rpc:client", FETCH))
        lines.append(line(at + timedelta(milliseconds=5), "WARN", "foundation:retry", RETRY))
        lines.append(line(at + timedelta(milliseconds=9), "ERROR", "prover-client:proving-agent", promise))
    lines.append(line(T0 + timedelta(minutes=4), "ERROR", "prover-node", "Something else entirely"))
    inp, facts = make_input(tmp_path, {AGENT: healthy(T0) + lines})
    rows = [e for e in analyze_input(inp, facts, tool_version="t").timeline
            if e.kind == "record" and e.container == AGENT]
    assert len(rows) == 2, [r.text[:60] for r in rows]
    assert rows[0].count == 120 and rows[0].text.count(" ⇄ ") == 2 and "Error in running promise" in rows[0].text
    assert rows[1].text.endswith("Something else entirely") and rows[1].count == 1
