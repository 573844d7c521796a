"""The HTML report opened in Debian's real headless Chromium, driven over the DevTools Protocol."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_report_sample import AGENT, NODE, SCRIPT_PAYLOAD, full_result, hostile_result

from nodediag.analyzer.report import render_html

pytestmark = pytest.mark.browser

SCREENSHOT = Path("/tmp/nodediag-report-screenshot.png")


def write_page(folder: Path, result) -> str:
    path = folder / "report.html"
    path.write_text(render_html(result), encoding="utf-8")
    return path.as_uri()


def visible_count(page, selector: str) -> int:
    return page.evaluate(
        f"[...document.querySelectorAll({json.dumps(selector)})].filter(e => e.offsetParent !== null).length"
    )


def choose(page, section: str, name: str, value: str) -> None:
    page.evaluate(
        f"(() => {{ const s = document.querySelector('#{section} select[data-filter={name}]');"
        f" s.value = {json.dumps(value)}; s.dispatchEvent(new Event('change')); }})()"
    )


def test_hostile_report_requests_nothing_but_itself_and_logs_no_error(chromium, tmp_path: Path) -> None:
    url = write_page(tmp_path, hostile_result())
    page = chromium.open(url)
    assert page.requested_urls() == [url]
    assert page.problems() == []


def test_hostile_log_line_is_visible_text_and_never_runs(chromium, tmp_path: Path) -> None:
    page = chromium.open(write_page(tmp_path, hostile_result()))
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert page.evaluate("document.images.length") == 0
    assert page.evaluate("document.scripts.length") == 1
    evidence_text = page.evaluate("document.querySelector('#findings pre.lines').innerText")
    assert SCRIPT_PAYLOAD in evidence_text
    assert page.evaluate(f"document.body.innerText.includes({json.dumps(SCRIPT_PAYLOAD)})")


def test_filters_narrow_findings_and_timeline(chromium, tmp_path: Path) -> None:
    page = chromium.open(write_page(tmp_path, full_result()))
    assert visible_count(page, "#findings .filters") == 1
    assert visible_count(page, "article.finding") == 4
    choose(page, "findings", "rank", "2")
    assert visible_count(page, "article.finding") == 2
    assert page.evaluate("document.querySelector('#findings .shown').textContent") == "2 of 4 shown"
    choose(page, "findings", "rank", "0")
    choose(page, "findings", "container", AGENT)
    titles = page.evaluate(
        "[...document.querySelectorAll('article.finding')].filter(e => !e.hidden).map(e => e.id)")
    assert titles == [f"finding-agent-poll-interval-vs-job-timeout-{AGENT}"]

    assert visible_count(page, "tr.tl") == 7
    choose(page, "timeline", "rank", "2")
    levels = page.evaluate(
        "[...document.querySelectorAll('tr.tl')].filter(e => !e.hidden).map(e => e.dataset.rank)")
    assert levels and set(levels) == {"2"}
    choose(page, "timeline", "container", NODE)
    containers = page.evaluate(
        "[...document.querySelectorAll('tr.tl')].filter(e => !e.hidden).map(e => e.dataset.container)")
    assert containers and set(containers) == {NODE}
    assert page.problems() == []


def test_without_javascript_the_verdict_and_every_finding_are_visible(chromium, tmp_path: Path) -> None:
    page = chromium.open(write_page(tmp_path, full_result()), javascript=False)
    assert page.evaluate("document.querySelector('.headline').offsetHeight") > 0
    assert "killed for running out of memory" in page.evaluate("document.querySelector('.headline').innerText")
    assert visible_count(page, "article.finding") == 4
    assert visible_count(page, "tr.tl") == 7
    assert visible_count(page, ".filters") == 0  # the controls only appear when the script runs
    assert visible_count(page, "#resources svg") == 4


@pytest.mark.parametrize("width", [1024, 1440])
def test_layout_fits_a_laptop_screen_and_a_screenshot_is_taken(chromium, tmp_path: Path, width: int) -> None:
    page = chromium.open(write_page(tmp_path, full_result()), width=width, height=900)
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    headline_top = page.evaluate("document.querySelector('.headline').getBoundingClientRect().top")
    assert headline_top < 250  # the verdict is the first thing on screen
    if width == 1440:
        shot = page.screenshot(SCREENSHOT)
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 50_000
