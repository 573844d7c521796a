"""The report's "nothing hidden" parts in real headless Chromium: the errors no rule explains,
evidence with its context, timeline rows that lead to their own container's finding, and the
last lines before an exit; on a laptop screen, with and without JavaScript."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from test_analysis import AGENT, BROKER, NODE, T0, healthy, line, make_input

from nodediag.analyzer.analysis import analyze_input
from nodediag.analyzer.model import Event
from nodediag.analyzer.report import render_html

pytestmark = pytest.mark.browser

UNKNOWN = ("Widget store refused block {n} with hash 0x{n:064x} because the frobnicator said so and kept "
           "saying so for a very long time without any pause or any line break in this message at all")
BURST = "Error thrown when proving job: Error: Broker facade stopped"


def _result(tmp_path: Path):  # type: ignore[no-untyped-def]
    died = T0 + timedelta(minutes=9)
    node = healthy(T0) + [line(T0 + timedelta(minutes=2, seconds=i), "ERROR", "prover-node:widgets",
                               UNKNOWN.format(n=i)) for i in range(4)]
    node += [line(T0 + timedelta(minutes=3, milliseconds=20 * i), "ERROR", "prover-client:orchestrator", BURST)
             for i in range(6)]
    broker = healthy(T0) + [line(T0 + timedelta(minutes=4, milliseconds=20 * i), "ERROR",
                                 "prover-client:orchestrator", BURST) for i in range(6)]
    agent = healthy(T0) + [line(T0 + timedelta(minutes=8, seconds=i), "INFO", "prover-client:proving-agent",
                                f"last words {i}") for i in range(5)]
    inp, facts = make_input(tmp_path, {NODE: node, BROKER: broker, AGENT: agent},
                            events=[Event(died, AGENT, "die", {"exitCode": "137"})])
    return analyze_input(inp, facts, tool_version="test")


def _open(chromium, tmp_path: Path, **options):  # type: ignore[no-untyped-def]
    path = tmp_path / "report.html"
    path.write_text(render_html(_result(tmp_path / "input")), encoding="utf-8")
    return chromium.open(path.as_uri(), **options)


@pytest.mark.parametrize("javascript", [True, False])
def test_unexplained_errors_are_a_visible_table_with_their_place(chromium, tmp_path: Path, javascript: bool) -> None:
    page = _open(chromium, tmp_path, javascript=javascript, width=1024, height=900)
    rows = page.evaluate("[...document.querySelectorAll('#unexplained tr.ux')].map(r => r.innerText)")
    assert len(rows) == 1
    assert "Widget store refused block <n> with hash 0x<hex>" in rows[0]
    assert f"containers/{NODE}/logs.txt:6" in rows[0] and "\t4\t" in rows[0]
    assert page.evaluate("document.querySelector('#unexplained tr.ux').offsetHeight") > 0
    assert page.evaluate("document.documentElement.scrollWidth") <= 1024  # a long example wraps
    nav = page.evaluate("document.querySelector('a[href=\"#unexplained\"]').innerText")
    assert nav == "Unexplained (1)"
    assert page.problems() == []


def test_evidence_context_and_last_lines_before_an_exit_are_shown(chromium, tmp_path: Path) -> None:
    page = _open(chromium, tmp_path)
    context = page.evaluate("[...document.querySelectorAll('#findings pre.lines .ctx')].map(e => e.innerText)")
    hits = page.evaluate("[...document.querySelectorAll('#findings pre.lines .hit')].map(e => e.innerText)")
    assert context and hits
    assert page.evaluate("getComputedStyle(document.querySelector('#findings pre.lines .ctx')).color") != \
        page.evaluate("getComputedStyle(document.querySelector('#findings pre.lines .hit')).color")
    last = page.evaluate("[...document.querySelectorAll('details.last-lines')].map(d => d.innerText)")
    assert len(last) == 1 and "last words 4" in last[0] and "last words 0" in last[0]
    assert page.evaluate("document.querySelector('details.last-lines pre').offsetHeight") > 0


def test_a_timeline_row_leads_to_its_own_containers_finding(chromium, tmp_path: Path) -> None:
    page = _open(chromium, tmp_path)
    pairs = page.evaluate(
        "[...document.querySelectorAll('tr.tl.k-record')].filter(r => r.querySelector('td.msg a'))"
        ".map(r => [r.dataset.container, r.querySelector('td.msg a').getAttribute('href')])")
    assert pairs
    for container, href in pairs:  # the finding is the container's own, or one naming every container it hit
        target = page.evaluate(f"document.querySelector({json.dumps(href)}).dataset.containers").split()
        assert container in target or not target, (container, href, target)
    assert {c for c, _ in pairs} >= {NODE, BROKER}
