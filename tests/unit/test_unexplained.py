"""Errors no rule explains: grouped by message shape, with count, containers, times and an
example with its place; the same whichever parser path or process read the records."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from test_analysis import AGENT, BROKER, NODE, T0, facade_burst, healthy, line, make_input

from nodediag.analyzer.analysis import analyze_input
from nodediag.analyzer.report import render_html, render_json, render_markdown
from nodediag.analyzer.unexplained import mask, mask_module, mask_reference

UNKNOWN = "Failed to frobnicate the widget store for block {n}: hash 0x{h:064x} after {n}ms"


def _unknown(at_minutes: int, n: int) -> str:
    return line(T0 + timedelta(minutes=at_minutes, seconds=n), "ERROR", "prover-node:widget-store",
                UNKNOWN.format(n=1000 + n, h=0xABC + n))


def test_mask_hides_numbers_hashes_ids_and_addresses() -> None:
    text = ("job 12:0x1f3a id=5f1c2e9a-0b1c-4d2e-8f00-1234567890ab from 10.0.0.7 took 3.5s "
            "hash deadbeef0123 token [REDACTED:url#a1]")
    assert mask(text) == "job <n>:0x<hex> id=<uuid> from <ip> took <n>s hash <hex> token <redacted>"
    assert mask("Broker facade stopped") == "Broker facade stopped"  # words stay words
    assert mask_module("prover-client:proving-agent:job-controller-052bf782") == \
        "prover-client:proving-agent:job-controller-<id>"
    assert mask_module("p2p:gossip") == "p2p:gossip"
    # base58 / base64 ids (libp2p peers, tx ids) of letters and digits
    assert mask("from peer 16Uiu2HAmQvXbRz8w3KpT7 and QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG") == \
        "from peer <id> and <id>"


def test_an_error_no_rule_knows_is_grouped_with_count_containers_times_and_its_place(tmp_path: Path) -> None:
    node = healthy(T0) + [_unknown(1, i) for i in range(3)]
    agent = healthy(T0) + [_unknown(2, 7)]
    inp, facts = make_input(tmp_path, {NODE: node, AGENT: agent})
    result = analyze_input(inp, facts, tool_version="test")

    (group,) = [g for g in result.unexplained if "frobnicate" in g.message]
    assert group.level == "ERROR" and group.count == 4
    assert group.containers == sorted([NODE, AGENT])
    assert group.message == "Failed to frobnicate the widget store for block <n>: hash 0x<hex> after <n>ms"
    assert group.first_seen == T0 + timedelta(minutes=1)
    assert group.last_seen == T0 + timedelta(minutes=2, seconds=7)
    assert (group.file, group.line) == (f"containers/{NODE}/logs.txt", 6)
    assert "block 1000" in group.example


def test_errors_a_finding_explains_and_single_warnings_are_left_out(tmp_path: Path) -> None:
    node = healthy(T0) + facade_burst(T0 + timedelta(minutes=3))
    node += [line(T0 + timedelta(minutes=4), "WARN", "prover-node", "Odd thing number 1 happened")]
    node += [line(T0 + timedelta(minutes=5 + i), "WARN", "p2p", f"Peer {i} sent junk") for i in range(2)]
    inp, facts = make_input(tmp_path, {NODE: node})
    result = analyze_input(inp, facts, tool_version="test")

    assert any(f.rule_id == "broker-facade-stopped" for f in result.findings) or result.findings
    messages = [g.message for g in result.unexplained]
    assert not any("Broker facade stopped" in m for m in messages)
    assert not any("Odd thing" in m for m in messages)  # a WARN seen once
    assert "Peer <n> sent junk" in messages  # a WARN that repeats


def test_repeats_in_bulk_and_worker_processes_give_the_same_groups(tmp_path: Path) -> None:
    flood = [line(T0 + timedelta(seconds=i), "WARN", "archiver", "Unknown thing still broken")
             for i in range(3000)]
    errors = [_unknown(60, i) for i in range(50)]
    logs = {NODE: healthy(T0) + flood + errors, BROKER: healthy(T0) + errors[:5], AGENT: flood[:10]}
    one = analyze_input(*make_input(tmp_path / "one", logs), tool_version="t")
    many = analyze_input(*make_input(tmp_path / "many", logs), tool_version="t", parallel_min_bytes=0)

    def shape(result):  # type: ignore[no-untyped-def]
        return [(g.level, g.message, g.count, g.containers, g.first_seen, g.last_seen, g.line)
                for g in result.unexplained]

    assert shape(one) == shape(many)
    warn = next(g for g in one.unexplained if g.message == "Unknown thing still broken")
    assert warn.count == 3010 and warn.containers == sorted([NODE, AGENT])
    assert warn.line == 6  # the first one, after 5 healthy lines


def test_an_uncaught_exception_without_a_level_counts_as_an_error(tmp_path: Path) -> None:
    path = tmp_path / "pasted.log"
    path.write_text(
        "node:internal/deps/undici/undici:13502\n"
        "      Error.captureStackTrace(err);\n"
        "            ^\n\n"
        "TypeError: fetch failed\n"
        "    at node:internal/deps/undici/undici:13502:13\n"
        "    at process.processTicksAndRejections (node:internal/process/task_queues:105:5)\n"
        "    at triggerUncaughtException (node:internal/process/execution:1:1)\n"
        "  [cause]: Error: getaddrinfo ENOTFOUND widget.example\n\n"
        "Node.js v22.15.0\n")
    from nodediag.analyzer.facts import load_facts
    from nodediag.analyzer.inputs import open_input
    inp = open_input(path, workdir=tmp_path / "w")
    result = analyze_input(inp, load_facts(inp), tool_version="t")
    explained = {f.rule_id for f in result.findings}
    assert result.unexplained or explained - {"timeline-sampled"}  # shown, or a rule knows it


def test_the_section_is_in_every_format(tmp_path: Path) -> None:
    inp, facts = make_input(tmp_path, {NODE: healthy(T0) + [_unknown(1, 0), _unknown(1, 1)]})
    result = analyze_input(inp, facts, tool_version="test")
    shape = "Failed to frobnicate the widget store for block <n>"
    html = render_html(result)
    assert 'id="unexplained"' in html and "Failed to frobnicate the widget store for block &lt;n&gt;" in html
    assert '<a href="#unexplained">1 kind of error no rule explains</a> (2 ERROR/FATAL records)' in html
    assert f"containers/{NODE}/logs.txt:6" in html
    md = render_markdown(result)
    assert "### Errors no rule explains" in md and f"containers/{NODE}/logs.txt:6" in md
    assert f"`prover-node:widget-store: {shape}" in md  # a code span: pasted as it is, nothing escaped
    assert '"unexplained": [' in render_json(result)


def test_raw_errors_without_a_level_count_and_plain_output_does_not() -> None:
    from nodediag.analyzer.model import Record
    from nodediag.analyzer.unexplained import level_of

    def raw(text: str, kind: str = "raw") -> Record:
        return Record("", "other", "f", 1, 1, None, None, None, text, kind=kind)

    for text in ("Error: connect ECONNREFUSED 127.0.0.1:8080", "TypeError: fetch failed",
                 "terminate called after throwing an instance of 'std::runtime_error'",
                 "Segmentation fault (core dumped)", "Assertion failed: (x), function y", "Killed"):
        assert level_of(raw(text)) == "ERROR", text
    assert level_of(raw("<--- Last few GCs --->", "node-fatal")) == "FATAL"
    for text in ("Starting Aztec with args: start --prover-node", "Errors are counted below", "bb: proving 3 of 9"):
        assert level_of(raw(text)) is None, text


def test_a_flood_of_distinct_errors_is_capped_in_the_reports_not_in_json(tmp_path: Path) -> None:
    words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet"]
    node = healthy(T0) + [line(T0 + timedelta(seconds=i), "ERROR", "x", f"Odd {words[i % 10]} {words[i // 10]} failure")
                          for i in range(30)]
    inp, facts = make_input(tmp_path, {NODE: node})
    result = analyze_input(inp, facts, tool_version="test")
    assert len(result.unexplained) == 30
    md = render_markdown(result)
    assert md.count("- **ERROR**") == 20 and "… 10 more kinds in the HTML and JSON reports." in md
    assert render_html(result).count('<tr class="ux') == 30


# --- the token-wise mask is the one-pass mask ------------------------------------------------------

_MASK_ALPHABET = ("0", "1", "7", "9", "a", "f", "F", "x", "g", "Z", "q", "-", ".", ":", "=", "_", "[", "]", "/",
                  " ", "  ", "\t", "\n", "\u00a0", "\u2028", "\x1c", "\u0663", "é", "REDACTED:", "0x", "ms",
                  "deadbeef", "5f1c2e9a-0b1c-4d2e-8f00-1234567890ab", "deadbeef-dead-beef-dead-beefdeadbeef",
                  "10.0.0.7", "16Uiu2HAmQvXbRz8w3KpT7", "[REDACTED:url#a1]",
                  # (the token fast paths: all digits, "0x" and hex, and what only looks so)
                  "\u00b2", "12345678", "0xdeadBEEF", "0X1f", "0xg", "x1f", "0x0x1")


@given(st.lists(st.sampled_from(_MASK_ALPHABET), max_size=40).map("".join) | st.text(max_size=60))
@settings(max_examples=3000, deadline=None)
def test_the_token_wise_mask_gives_the_one_pass_mask(text: str) -> None:
    assert mask(text) == mask_reference(text)
    assert mask(text) == mask_reference(text)  # (again: now from the token cache)


def test_two_messages_differing_only_in_masked_values_share_a_shape_and_others_do_not() -> None:
    a = mask("Retrying proving job id=12:PUBLIC_VM:0x1f3a9b7c type=PUBLIC_VM retry=2 err=Error: Timeout after 30000ms")
    b = mask("Retrying proving job id=881:PUBLIC_VM:0xdeadbeef type=PUBLIC_VM retry=3 err=Error: Timeout after 5ms")
    c = mask("Retrying proving job id=881:PUBLIC_VM:0xdeadbeef type=BASE_PARITY retry=3 err=Error: Timeout after 5ms")
    assert a == b
    assert a != c
