"""The HTML report: escaping of hostile bundle text, self-containment, order, links, thin input."""

from __future__ import annotations

import base64
import hashlib
import html
import re
from html.parser import HTMLParser

import pytest
from test_report_sample import (
    AGENT,
    HOSTILE,
    IMG_PAYLOAD,
    NODE,
    SCRIPT_PAYLOAD,
    full_result,
    hostile_result,
    thin_result,
)

from nodediag.analyzer.report import render_html


class TagCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.script_bodies: list[str] = []
        self.style_bodies: list[str] = []
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in = tag if tag in ("script", "style") else None

    def handle_endtag(self, tag: str) -> None:
        self._in = None

    def handle_data(self, data: str) -> None:
        if self._in == "script":
            self.script_bodies.append(data)
        elif self._in == "style":
            self.style_bodies.append(data)
        else:
            self.text.append(data)


def parse(page: str) -> TagCollector:
    collector = TagCollector()
    collector.feed(page)
    collector.close()
    return collector


@pytest.fixture(scope="module")
def hostile_page() -> str:
    return render_html(hostile_result())


def test_hostile_bundle_text_never_becomes_markup(hostile_page: str) -> None:
    doc = parse(hostile_page)
    assert [tag for tag, _ in doc.tags if tag in ("script", "img", "iframe", "object", "embed")] == ["script"]
    handlers = [(tag, name) for tag, attrs in doc.tags for name in attrs if name.lower().startswith("on")]
    assert handlers == []
    assert SCRIPT_PAYLOAD not in hostile_page and IMG_PAYLOAD not in hostile_page
    assert html.escape(SCRIPT_PAYLOAD) in hostile_page


HOSTILE_FIELDS = [
    "FATAL ERROR: Reached heap limit Allocation failed - JavaScript heap out of memory",  # evidence line
    "the epoch proof was lost.",  # verdict headline
    "port 8080 not reachable from the host",  # data gap detail
    "connection refused",  # probe error
    "http://127.0.0.1:8080/status",  # probe URL
    "PROVER_AGENT_POLL_INTERVAL_MS=30000\n",  # config file text
    "--max-old-space-size=16384",  # container env value
    "Proving job id=17 timed out. Adding it back to the queue.",  # timeline text
    "Out of memory: Killed process 4242 (node)",  # kernel OOM evidence
    "aztecprotocol/aztec:2.1.1",  # image
    "nodediag-prover-1-20261127T183000Z.tar.zst",  # input name
    "V8 heap exhausted",  # evidence note
    "Raise NODE_OPTIONS=--max-old-space-size or the container memory limit, then restart the node.",  # action
]


@pytest.mark.parametrize("original", HOSTILE_FIELDS)
def test_every_field_carrying_bundle_text_shows_the_payload_as_text(hostile_page: str, original: str) -> None:
    visible = "".join(parse(hostile_page).text)
    assert original + HOSTILE in visible


def test_page_is_self_contained_with_no_remote_reference() -> None:
    page = render_html(full_result())
    doc = parse(page)
    for tag, attrs in doc.tags:
        for name in ("src", "href", "srcset", "action", "data", "poster", "xlink:href"):
            value = attrs.get(name)
            if value is not None:
                assert tag == "a" and name == "href" and value.startswith("#"), (tag, name, value)
    assert "@import" not in page and "url(" not in "".join(doc.style_bodies)
    assert re.search(r"\bfetch\(|XMLHttpRequest|import\(", "".join(doc.script_bodies)) is None


def test_content_security_policy_allows_only_the_inlined_style_and_script() -> None:
    doc = parse(render_html(full_result()))
    (policy,) = [a["content"] for t, a in doc.tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"]

    def digest(text: str) -> str:
        return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"

    assert "default-src 'none'" in policy
    assert f"script-src {digest(doc.script_bodies[0])}" in policy
    assert f"style-src {digest(doc.style_bodies[0])}" in policy


def test_sections_come_in_reading_order_verdict_first() -> None:
    page = render_html(full_result())
    ids = re.findall(r'<section id="([a-z]+)"', page)
    assert ids == ["verdict", "gaps", "findings", "unexplained", "timeline", "containers", "resources", "probes",
                   "config", "redaction", "bundle"]
    assert page.index("The prover node was killed") < page.index("port 8080 not reachable")


def test_every_internal_link_has_a_target_and_symptom_links_to_cause() -> None:
    page = render_html(full_result())
    doc = parse(page)
    ids = {a["id"] for _, a in doc.tags if a.get("id")}
    hrefs = [a["href"][1:] for t, a in doc.tags if t == "a" and a.get("href", "").startswith("#")]
    assert hrefs and set(hrefs) <= ids
    symptom = page[page.index('id="finding-broker-facade-stopped'):]
    caused_by = symptom[symptom.index('class="caused-by"'):][:300]
    assert 'href="#finding-node-out-of-memory-aztec-prover-prover-node-1"' in caused_by


def test_findings_show_severity_meaning_action_and_evidence_location() -> None:
    page = render_html(full_result())
    article = page[page.index('id="finding-node-out-of-memory'):]
    article = article[: article.index("</article>")]
    assert 'class="badge sev-critical"' in article
    assert "What it means" in article and "What to do" in article
    assert f"containers/{NODE}/logs.txt:4101-4103" in article
    assert '<span class="ln">4102</span>' in article


def test_charts_are_inline_svg_with_the_incident_window_and_usage_bars() -> None:
    page = render_html(full_result())
    assert page.count("<svg") == 4  # two containers' level charts, filesystems, container memory
    assert page.count('class="window"') == 2
    assert "930 GiB of 1000 GiB (93%)" in page
    assert f"{AGENT}" in page[page.index("Container memory"):]


def test_thin_result_renders_with_plain_explanations() -> None:
    page = render_html(thin_result())
    text = "".join(parse(page).text)
    assert "No known failure pattern was found." in text
    assert "No findings" in text and "No timeline" in text and "No container information" in text
    assert "<svg" not in page


def test_manual_guide_input_shows_its_warnings_prominently() -> None:
    result = thin_result()
    result.input.kind = "manual-guide"
    result.input.warnings = ["logs.txt holds no lines: `docker logs X > file` keeps stdout only"]
    page = render_html(result)
    gaps = page[page.index('id="gaps"'): page.index('id="findings"')]
    assert "gathered by hand with the manual guide" in gaps
    assert "keeps stdout only" in gaps
    assert "was not redacted by the collector" in page


def test_long_evidence_and_timeline_are_capped_with_a_note() -> None:
    result = full_result()
    evidence = result.findings[0].evidence[0]
    evidence.lines = [f"line {i}" for i in range(500)]
    evidence.line_end = evidence.line_start + 499
    page = render_html(result)
    assert "line 59" in page and "line 60\n" not in page
    assert "440 more lines" in page
