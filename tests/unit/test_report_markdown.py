"""The Markdown report: safe fences, escaped inline text, readable structure."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st
from test_report_sample import NODE, full_result, hostile_result, thin_result

from nodediag.analyzer.report import render_markdown
from nodediag.analyzer.report.markdown import fence, md_cell, md_text

FENCE_OPEN = re.compile(r"^(`{3,})[^`]*$")


def split_fences(text: str) -> tuple[list[str], list[list[str]]]:
    """(lines outside fences, the bodies of the fenced blocks), following CommonMark's closing rule."""
    outside: list[str] = []
    blocks: list[list[str]] = []
    marker = ""
    for line in text.split("\n"):
        if marker:
            if re.fullmatch(rf"{marker}`*\s*", line):
                marker = ""
            else:
                blocks[-1].append(line)
            continue
        opening = FENCE_OPEN.match(line)
        if opening:
            marker = opening.group(1)
            blocks.append([])
        else:
            outside.append(line)
    assert not marker, "a fence was left open"
    return outside, blocks


@given(st.lists(st.text(alphabet=st.sampled_from("`a \t<>~|"), max_size=12), min_size=1, max_size=6))
def test_fence_keeps_any_lines_verbatim_whatever_backticks_they_hold(lines: list[str]) -> None:
    outside, blocks = split_fences(fence(lines))
    assert outside == [] and blocks == [lines]


def test_fence_grows_past_the_longest_backtick_run() -> None:
    block = fence(["echo ```not a fence```", "````"])
    assert block.startswith("`````\n") and block.endswith("\n`````")


def test_inline_text_cannot_open_html_links_or_emphasis() -> None:
    text = md_text('<img src=x onerror=alert(1)> [click](javascript:alert(1)) **bold** `code` a|b')
    assert re.search(r"(?<!\\)[<>\[\]*`|]", text) is None
    assert md_text("two\nlines") == "two lines"
    assert md_cell(None) == "—"


def test_hostile_result_leaves_no_live_markup_outside_fences() -> None:
    report = render_markdown(hostile_result())
    outside, blocks = split_fences(report)
    prose = "\n".join(outside)
    assert re.search(r"(?<!\\)<", prose) is None
    assert any("<script>window.__pwned=1</script>" in line for block in blocks for line in block)
    table = [line for line in outside if line.startswith("| ")]
    assert len(table) == 4 and all(len(re.findall(r"(?<!\\)\|", row)) == 8 for row in table)


def test_report_has_verdict_gaps_findings_steps_and_containers_in_order() -> None:
    report = render_markdown(full_result())
    headings = [line for line in report.splitlines() if line.startswith("#")]
    assert headings[0].startswith("## nodediag: The prover node was killed")
    assert [h for h in headings if h.startswith("### ")] == [
        "### What this report cannot see", "### Findings", "### Errors no rule explains", "### Next steps",
        "### Containers"]
    assert "#### 1. [CRITICAL] The prover node ran out of memory" in report
    assert "**Caused by:** The prover node ran out of memory" in report
    assert f"Evidence: containers/{NODE}/logs.txt:4101-4103" in report
    assert "1. Raise NODE_OPTIONS" in report
    assert "\n\n\n" not in report


def test_thin_result_renders_short_and_honest() -> None:
    report = render_markdown(thin_result())
    assert "No findings." in report and "No container information." in report
    assert "No rule suggested an action." in report


def test_it_opens_with_a_summary_to_paste_into_a_ticket() -> None:
    report = render_markdown(full_result())
    summary = report.split("\n---\n", 1)[0]
    assert summary.startswith("## nodediag: The prover node was killed")
    assert "**Top findings:**" in summary and "- [CRITICAL] The prover node ran out of memory" in summary
    assert "**What to do:**" in summary and "1. Raise NODE_OPTIONS" in summary
    assert len(summary.splitlines()) <= 25 and "### " not in summary


def test_nodediags_own_code_spans_are_not_escaped() -> None:
    result = full_result()
    result.findings[0].action = "Run `docker compose up -d prover-node` after `nodediag collect`."
    report = render_markdown(result)
    assert "`docker compose up -d prover-node`" in report and "\\`" not in report.split("\n---\n", 1)[0]


def test_md_code_shows_any_text_literally_in_one_code_span() -> None:
    from nodediag.analyzer.report.markdown import md_code
    assert md_code("slot <n> `x`") == "`` slot <n> `x` ``"
    assert md_code("a\nb") == "`a b`"
    assert md_code("`edge`") == "`` `edge` ``"


def test_prose_leaves_underscores_inside_words_and_escapes_the_rest() -> None:
    from nodediag.analyzer.report.markdown import md_prose
    assert md_prose("Raise NODE_OPTIONS, not _this_ or *that* <b>") == \
        "Raise NODE_OPTIONS, not \\_this\\_ or \\*that\\* \\<b\\>"
