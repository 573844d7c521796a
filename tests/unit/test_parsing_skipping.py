"""The parser's skip path (lines that can match no rule are only counted) against the full path:
the same findings, evidence lines, timeline, level series and parse statistics."""

from __future__ import annotations

import io
import json
import re
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nodediag.analyzer.log_scan import consume
from nodediag.analyzer.model import ParseStats
from nodediag.analyzer.parsing import formats as fmt
from nodediag.analyzer.parsing import parse_log_file, parse_log_lines
from nodediag.analyzer.parsing.grouping import LineGrouper
from nodediag.analyzer.parsing.logs import Repeats, parse_log_blocks
from nodediag.analyzer.parsing.skipping import (
    LineSieve,
    SkipPlan,
    _sieve,
    anchor_test,
    has_anchor,
    json_level,
    json_levels,
    py_mark_lines,
    strip_eol,
)
from nodediag.analyzer.rules.catalog import load_rules
from nodediag.analyzer.rules.engine import LogRuleEngine
from nodediag.analyzer.timeline import TimelineCollector

RULES = load_rules()
T0 = datetime(2026, 11, 27, 10, 0, tzinfo=timezone.utc)


def docker_line(i: int, level: str, body: str) -> str:
    at = T0 + timedelta(milliseconds=70 * i)
    stamp = at.strftime("%Y-%m-%dT%H:%M:%S.%f") + "000Z"
    return f"{stamp} [{at.strftime('%H:%M:%S.%f')[:-3]}] {level}: {body}"


def json_line(i: int, level: int, msg: str, extra: str = "") -> str:
    """A docker-timestamped pino JSON line (LOG_JSON=1)."""
    at = T0 + timedelta(milliseconds=70 * i)
    stamp = at.strftime("%Y-%m-%dT%H:%M:%S.%f") + "000Z"
    ms = int(at.timestamp() * 1000)
    return f'{stamp} {{"level":{level},"time":{ms},"pid":7,"module":"prover-node","msg":{msg}{extra}}}'


def analyse(lines: list[str], skip: bool | int, compiled: bool = True, bulk: bool = True) -> dict:
    """Parse, match and gather a timeline the way analyze_input does: without skipping (False),
    skipping line by line (True), or reading blocks of ``skip`` bytes of the lines joined by
    newlines (an int), as parse_log_file does (with the compiled sieve where it is built, or the
    Python one), repeated records in bulk (Repeats, as analyze_input takes them) or one by one."""
    engine = LogRuleEngine(RULES)
    timeline = TimelineCollector()
    stats = ParseStats(file="logs.txt")
    plan = engine.skip_plan() if skip is not False else None
    kwargs = {"file": "logs.txt", "container": "node", "role": "prover-node", "stats": stats}
    if skip is True or skip is False:
        records = parse_log_lines(lines, skip=plan, **kwargs)
    else:
        text = "".join(line if line.endswith("\n") else line + "\n" for line in lines)
        if lines and lines[-1] and not lines[-1].endswith("\n"):
            text = text[:-1]  # the last line without its newline, as given
        records = parse_log_blocks(io.BytesIO(text.encode()), plan, block_bytes=skip, compiled=compiled,
                                   repeats=bulk, **kwargs)
    given = []
    for item in records:  # (consume takes them as analyze_input does; yielded counts records)
        given.append(item)
    yielded = sum(len(item.items) if isinstance(item, Repeats) else 1 for item in given)
    consume(given, engine, timeline)
    findings = [(f.rule_id, f.container, f.count, f.first_seen, f.last_seen,
                 [(e.line_start, e.line_end, e.lines, e.time, e.note) for e in f.evidence])
                for f in engine.findings()]
    entries = [(p.entry, p.repeats, p.until) for p in timeline.entries]
    return {"findings": findings, "series": timeline.level_series(), "timeline": entries,
            "stats": (stats.lines, stats.records, stats.unrecognized, stats.formats),
            "episodes": engine.episodes(), "yielded": yielded}


MIXED = [
    docker_line(0, "INFO", "prover-node Processed tx 0xab {\"slot\":1}"),
    docker_line(1, "INFO", "prover-node Stopping ProverNode"),  # an anchor at INFO: a finding
    docker_line(2, "INFO", "archiver Downloaded L2 block 5"),
    "    at f (file:///x.js:1:2)",  # continuation of a line that would otherwise be skipped
    "    at Broker facade stopped (file:///x.js:3:4)",  # ... carrying an anchor in its continuation
    "Error: Broker facade stopped",
    docker_line(3, "ERROR", "prover-client:orchestrator Error thrown when proving job: Error: Broker facade stopped"),
    docker_line(4, "DEBUG", "world-state:database synched to block 7"),
    docker_line(7, "INFO", "prover-node Stopping \x1b[1mProverNode\x1b[22m"),  # an anchor only once uncoloured
    docker_line(5, "WARN", "json-rpc:json_rpc_client request proverBroker_getProvingJob failed. Will retry in 1s..."),
    docker_line(6, "VERBOSE", "p2p:libp2p_service peer connected"),
    "raw text that no format knows",
    docker_line(7, "INFO", "\x1b[32mprover-node\x1b[39m colored line"),
    docker_line(8, "INFO", "prover-node glued[10:00:01.000] ERROR: prover-node Error: Broker facade stopped"),
    "[10:00:02.000] INFO: archiver no docker timestamp",
    docker_line(9, "INFO", "archiver Aztec Server listening on port 8080"),
    docker_line(10, "INFO", "archiver Aztec Server listening on port 8080"),
    docker_line(11, "INFO", "archiver last line, then a continuation"),
    "}",
]


def same(a: dict, b: dict) -> bool:
    return {k: v for k, v in a.items() if k != "yielded"} == {k: v for k, v in b.items() if k != "yielded"}


def test_the_skip_path_gives_the_full_paths_results_on_a_mixed_log():
    full = analyse(MIXED, skip=False)
    for skip in (True, 1, 100, 1 << 20):
        fast = analyse(MIXED, skip=skip)
        assert fast["yielded"] < full["yielded"]  # some lines really were skipped
        assert same(fast, full), skip
    rule_lines = {f[0]: [e[0] for e in f[5]] for f in full["findings"]}
    assert rule_lines["node-shutdown"] == [2, 9]
    assert 3 in rule_lines["broker-facade-stopped"]  # the INFO record whose continuation names it


def test_the_skip_path_keeps_line_numbers_across_batches_of_lines():
    lines = [docker_line(i, "INFO", f"archiver Processed tx {i}") for i in range(9000)]
    lines[4095] = docker_line(4095, "ERROR", "prover-node Error: Broker facade stopped")
    lines[4096] = docker_line(4096, "INFO", "prover-node Stopping ProverNode")
    lines[8191] = "    at f (file:///x.js:1:2)"
    full = analyse(lines, skip=False)
    for skip in (True, 4096, 65536):  # blocks end anywhere, runs of skipped lines cross them
        fast = analyse(lines, skip=skip)
        assert fast["yielded"] < 10
        assert fast["findings"] == full["findings"]
        assert fast["stats"] == full["stats"] == (9000, 8999, 0, {"pino": 8999})
        assert {f[0]: f[5][0][0] for f in fast["findings"]} == {"broker-facade-stopped": 4096, "node-shutdown": 4097}


SHAPES = st.sampled_from([
    docker_line(1, "INFO", "archiver Downloaded L2 block 5"),
    docker_line(2, "INFO", "prover-node Stopping ProverNode"),
    docker_line(3, "DEBUG", "archiver job id=7 done"),
    docker_line(4, "ERROR", "prover-node Error: boom"),
    docker_line(5, "WARN", "archiver Broker facade stopped"),
    "[18:30:01.000] INFO: archiver Downloaded",
    "    at f (file:///x.js:1:2)",
    "Error: Broker facade stopped",
    "}",
    "",
    "raw text",
    "FATAL ERROR: Reached heap limit Allocation failed - JavaScript heap out of memory",
    '{"level":30,"time":1795876200000,"module":"archiver","msg":"m"}',
    "svc-1  | [18:30:01.000] INFO: archiver from compose",
    docker_line(6, "INFO", "archiver x[18:30:01.000] WARN: archiver glued"),
    docker_line(7, "INFO", "archiver ΣΑΣ café stopped proverNode"),
    json_line(8, 30, '"Processed tx 0xab"', ',"slot":3'),
    json_line(9, 20, '"Stopping ProverNode"'),  # an anchor at DEBUG
    json_line(10, 40, '"request proverBroker_getProvingJob failed"'),
    json_line(11, 30, '"a\\nBroker facade stopped"'),  # the anchor in its stack
    json_line(12, 30, '"Broker facade \\u0073topped"'),  # ... behind an escape
])


@settings(max_examples=200, deadline=None)
@given(st.lists(SHAPES, max_size=40), st.integers(min_value=1, max_value=600))
def test_the_skip_path_matches_the_full_path_on_any_mix_of_lines(lines, block):
    full = analyse(lines, skip=False)
    assert same(analyse(lines, skip=True), full)
    assert same(analyse(lines, skip=block), full)
    assert same(analyse(lines, skip=block, compiled=False), full)
    assert same(analyse(lines, skip=block, bulk=False), full)


def sieve_marks(lines: list[str], compiled: bool = True) -> set[int]:
    """Indexes of the lines the sieve marks, in the block of ``lines`` (each with its newline);
    checks that each mark's offsets and index agree."""
    plan = LogRuleEngine(RULES).skip_plan()
    labels = frozenset(k for k, v in fmt.LEVEL_BY_NAME.items() if v in plan.levels)
    block = "".join(lines).encode()
    starts = [sum(len(line.encode()) for line in lines[:i]) for i in range(len(lines) + 1)]
    marks, _ = LineSieve(plan, labels, compiled=compiled).marks(block)
    for start, end, index, _, _, _ in marks:
        assert (start, end) == (starts[index], starts[index + 1])
    return {index for _, _, index, _, _, _ in marks}


def test_the_sieve_marks_the_lines_holding_an_anchor_in_any_case():
    plain = docker_line(1, "INFO", "archiver Downloaded L2 block 5") + "\n"
    lines = [plain, docker_line(2, "INFO", "prover-node a Broker FACADE stopped") + "\n", plain,
             docker_line(3, "DEBUG", "archiver job 3 COMPLETED outputUri=x") + "\n", plain]
    for compiled in (True, False):
        assert sieve_marks(lines, compiled) == {1, 3}
    # bytes.lower() misses the anchor that str.lower() finds through a Kelvin sign: that line is
    # marked (it holds a byte outside ASCII), so the parser decides it on its text
    kelvin = docker_line(4, "INFO", "prover-client mar\u212aing proving job as failed") + "\n"
    assert sieve_marks([plain, kelvin]) == sieve_marks([plain, kelvin], compiled=False) == {1}
    assert has_anchor(kelvin, ("marking proving job as failed",))


def test_the_engine_offers_no_skip_plan_when_a_rule_below_warn_has_no_anchor():
    plan = LogRuleEngine(RULES).skip_plan()
    assert isinstance(plan, SkipPlan) and "INFO" in plan.levels and "WARN" not in plan.levels
    assert "broker facade stopped" in plan.anchors
    first = next(r for r in RULES if r.match is not None and not r.match.min_level)
    unanchored = replace(first, match=replace(first.match, regexes=(re.compile(r"(a|b)c"),)))
    assert LogRuleEngine([unanchored, *RULES]).skip_plan() is None
    at_warn = replace(first, match=replace(first.match, regexes=(re.compile(r"(a|b)c"),), min_level="WARN"))
    assert LogRuleEngine([at_warn, *RULES]).skip_plan() == plan  # it cannot match INFO records


PLAIN_INFO = docker_line(20, "INFO", "archiver Processed tx 0xab {\"slot\":1}")
FILE_SHAPES = st.sampled_from([
    PLAIN_INFO,
    docker_line(21, "DEBUG", "world-state:database synched"),
    docker_line(22, "VERBOSE", "p2p:libp2p_service peer [1, 2] connected"),  # "] " after the start
    docker_line(23, "INFO", "archiver list [a]"),  # "]" but no "] "
    docker_line(24, "INFO", "prover-node \x1b[1mStopping\x1b[22m ProverNode"),
    docker_line(25, "INFO", "prover-node STOPPING provernode"),
    docker_line(26, "WARN", "json-rpc:json_rpc_client request proverBroker_getProvingJob failed"),
    docker_line(27, "ERROR", "prover-client:orchestrator Error: Broker facade stopped"),
    # repeats of the warning above: with a CR, with a pino time outside the docker second
    docker_line(31, "WARN", "json-rpc:json_rpc_client request proverBroker_getProvingJob failed\r"),
    "2026-11-27T10:00:01.999Z [10:00:02.000] WARN: json-rpc:json_rpc_client request proverBroker_getProvingJob failed",
    docker_line(28, "INFO", "archiver x[18:30:01.000] ERROR: archiver glued Broker facade stopped"),
    docker_line(29, "INFO", "archiver ends with a CR\r"),
    docker_line(30, "INFO", "archiver ΣΑΣ café"),
    "[18:30:02.000] INFO: archiver no docker timestamp",
    "2026-11-27T10:00:00Z [18:30:02.000] INFO: archiver a docker timestamp without fraction",
    "2026-11-27T10:00:00.1234567890Z [18:30:02.000] INFO: archiver ten fraction digits",
    "[18:30:02.000] info: archiver lower-case level",
    "    at f (file:///x.js:1:2)",
    "    at Broker facade stopped (file:///x.js:3:4)",  # makes the line it continues a finding
    "Error: Broker facade stopped",
    "}",
    "",
    "raw text ] here",
    "svc-1  | [18:30:01.000] INFO: archiver from compose",
    json_line(40, 30, '"Processed tx 0xab [1] done"', ',"slot":{"a":[1,2.5e3,-0.1E+2,true,null]}'),
    json_line(41, 20, '"synched"'),
    json_line(42, 25, '"peer connected"\r'),
    json_line(43, 40, '"JsonRpcClient request proverBroker_getProvingJob failed"'),
    json_line(44, 50, '"Error: Broker facade stopped\\n    at f (file:///x.js:1:2)"'),
    json_line(45, 30, '"Stopping ProverNode"'),
    json_line(46, 30, '"x\\n    at Broker facade stopped (x.js:1:2)"'),
    json_line(47, 30, '"Broker facade \\u0073topped"'),  # an anchor only once decoded
    json_line(48, 30, '"a \\"quoted\\" word"'),
    json_line(49, 30, '"m"', ',"level":50'),  # the last "level" wins
    json_line(50, 30, '"m"', ',"x":NaN'),
    json_line(51, 30, '"m"', ',"x":01'),
    json_line(52, 35, '"between info and warn"'),
    json_line(53, 30, '"m"') + " ",
    json_line(54, 30, '"m"') + '{"level":30,"msg":"glued"}',
    json_line(55, 30, '"tab\there"'),
    json_line(56, 30, '"m"', ',"x":' + "[" * 70 + "]" * 70),
    '{"level":30,"time":1795876200000,"msg":"no docker timestamp"}',
    '{"level":30}',
    '{"level":"info","message":"json-2024","module":"aztec:archiver","timestamp":"2024-08-12T15:35:21.349Z"}',
    '2026-13-40T10:00:00.000000000Z {"level":30,"msg":"no such date"}',
    '2026-11-27T10:00:00+01:00 {"level":30,"msg":"an offset"}',
    '{"level":9,"msg":"below trace"}',
    '{"level":300,"msg":"far above"}',
    '{"level":30,"msg":"m"',
])


def exact_check(lines: list[str], anchors: tuple[str, ...]) -> set[int]:
    """The lines that do not start as a plain pino line at a skipped level, that hold an anchor
    or ESC, or that hold "] " after that start (a record glued on), decided line by line the
    slow way."""
    plan = LogRuleEngine(RULES).skip_plan()
    assert plan is not None
    labels = frozenset(k for k, v in fmt.LEVEL_BY_NAME.items() if v in plan.levels)
    found = set()
    for i, line in enumerate(lines):
        if json_plain(line, plan, anchors):
            continue
        head = fmt.PRETTY_LINE_RE.match(line)
        if (head is None or head.group(5) not in labels or has_anchor(line, (*anchors, "\x1b"))
                or "] " in line[head.end(5):]):
            found.add(i)
    return found


def json_plain(line: str, plan: SkipPlan, anchors: tuple[str, ...]) -> bool:
    """A JSON line the sieve may leave unmarked, decided the slow way: Python's json reads it as
    one object (no NaN, no trailing bytes but a CR), with an optional docker timestamp of a real
    time, '{"level":' first and "level" once, a level the plan skips, no escape but \\n, no
    more than 64 brackets, and no anchor in the line."""
    body = line.rstrip("\n")
    if body[:1].isdigit():
        stamp, _, body = body.partition(" ")
        if not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z", stamp):
            return False
        try:
            datetime.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S")
        except ValueError:
            return False
    body = body[:-1] if body.endswith("\r") else body
    try:
        obj = json.loads(body, parse_constant=lambda c: 1 / 0)
    except (ValueError, ZeroDivisionError):
        return False
    return (body.startswith('{"level":') and body[-1:] == "}" and isinstance(obj, dict) and body.isascii()
            and isinstance(obj["level"], int) and 10 <= obj["level"] <= 99 and body.count('"level"') == 1
            and fmt.level_from_number(obj["level"]) in plan.levels and "\\" not in body.replace("\\n", "")
            and body.count("{") + body.count("[") <= 64 and not has_anchor(line, (*anchors, "\x1b")))


@settings(max_examples=300, deadline=None)
@given(st.lists(FILE_SHAPES, min_size=1, max_size=30), st.booleans())
def test_the_sieve_marks_exactly_the_lines_a_slow_check_would_not_skip(lines, last_newline):
    block = [line + "\n" for line in lines]
    if not last_newline and lines[-1]:  # (an empty last line without its newline is no line)
        block[-1] = lines[-1]
    plan = LogRuleEngine(RULES).skip_plan()
    outside_ascii = {i for i, line in enumerate(block) if not line.isascii()}  # marked too, see above
    expected = exact_check(block, plan.anchors) | outside_ascii
    assert sieve_marks(block) == sieve_marks(block, compiled=False) == expected


@settings(max_examples=300, deadline=None)
@given(st.lists(FILE_SHAPES, max_size=40), st.booleans(), st.integers(min_value=1, max_value=400))
def test_the_block_skip_path_matches_the_full_path_on_lines_read_from_a_file(lines, last_newline, block_bytes):
    block = [line + "\n" for line in lines]
    if block and not last_newline:
        block[-1] = lines[-1]
    full = analyse(block, skip=False)
    assert same(analyse(block, skip=block_bytes), full)
    assert same(analyse(block, skip=block_bytes, compiled=False), full)


def test_a_file_of_mostly_skipped_lines_gives_the_full_paths_results(tmp_path):
    lines = [docker_line(i, "INFO", f"archiver Processed tx {i:x} {{\"slot\":{i}}}") for i in range(10000)]
    for i in range(0, 10000, 97):
        lines[i] = docker_line(i, "WARN", "json-rpc:json_rpc_client request proverBroker_getProvingJob failed")
    for i in range(50, 10000, 1001):
        lines[i] = docker_line(i, "ERROR", "prover-client:orchestrator Error: Broker facade stopped")
    lines[7000] = docker_line(7000, "INFO", "prover-node Stopping ProverNode")
    lines[7001] = "    at f (file:///x.js:1:2)"
    path = tmp_path / "logs.txt"
    path.write_text("\n".join(lines) + "\n")
    engine = LogRuleEngine(RULES)
    timeline = TimelineCollector()
    stats = ParseStats(file="logs.txt")
    yielded = 0
    for record in parse_log_file(path, file="logs.txt", container="node", role="prover-node", stats=stats,
                                 skip=engine.skip_plan()):
        yielded += 1
        timeline.add_record(record, [r.id for r in engine.feed(record)])
    full = analyse(lines, skip=False)
    assert yielded < 200
    assert (stats.lines, stats.records, stats.unrecognized, stats.formats) == full["stats"] == (10000, 9999, 0,
                                                                                                 {"pino": 9999})
    assert [(f.rule_id, f.count, f.first_seen, [e.line_start for e in f.evidence]) for f in engine.findings()] == [
        (f[0], f[2], f[3], [e[0] for e in f[5]]) for f in full["findings"]]
    assert [(p.entry, p.repeats, p.until) for p in timeline.entries] == full["timeline"]
    # the repeated errors and warnings taken in bulk (as analyze_input takes them) or one by one:
    # every count, time, excerpt (the latest too), episode and timeline entry alike
    assert len(full["findings"]) >= 2 and any(f[2] > 5 for f in full["findings"])
    for bulk in (True, False):
        assert same(analyse(lines, skip=1 << 20, bulk=bulk), full), bulk


def test_a_continuation_after_a_run_of_skipped_lines_extends_the_last_of_them():
    lines = [docker_line(0, "WARN", "archiver slow") + "\n"]  # (parsed alone: it shows the format)
    lines += [docker_line(i, "INFO", f"archiver Processed tx {i}") + "\n" for i in range(1, 7)]
    lines += ["    at f (file:///x.js:1:2)\n", "    at Broker facade stopped (file:///x.js:3:4)\n"]
    fast = analyse(lines, skip=True)
    assert fast["yielded"] == 2
    assert fast == {**analyse(lines, skip=False), "yielded": 2}
    assert analyse(lines, skip=200) == fast
    (finding,) = fast["findings"]
    assert finding[5][0][:2] == (7, 9)  # the record of line 7, with its two continuation lines


def test_repeated_warnings_keep_their_own_line_time_continuations_and_data():
    """Lines whose text after the time repeats an earlier record's are copies of it with their
    own line number, time and raw line; a repeat followed by a continuation line, or carrying
    an impossible date, is parsed afresh."""
    warn = "json-rpc:json_rpc_client request proverBroker_getProvingJob failed {\"attempt\":1}"
    lines = []
    for i in range(60):
        lines.append(docker_line(i, "WARN", warn) if i % 3 == 0 else docker_line(i, "INFO", f"archiver tick {i}"))
    lines[31] = "    at retry (file:///x.js:1:2)"  # continues the warning of line 31 (index 30)
    lines[45] = "2026-13-40T10:00:00.000000000Z [10:00:03.150] WARN: " + warn  # no such date
    full = analyse(lines, skip=False)
    for skip in (1 << 20, 700):
        fast = analyse(lines, skip=skip)
        assert same(fast, full), skip
        assert fast["yielded"] == 20
    (entry, repeats, until), = [e for e in full["timeline"] if e[0].level == "WARN"]
    assert (entry.line, repeats) == (1, 19)  # the warning without a usable date is not on it
    assert until == T0 + timedelta(milliseconds=70 * 57)
    assert full["series"]["node"][0][1]["WARN"] == 19


def test_a_repeat_keeps_a_pino_time_outside_its_docker_second_and_loses_its_cr():
    warn = "WARN: json-rpc:json_rpc_client request proverBroker_getProvingJob failed"
    lines = [f"2026-11-27T10:00:00.100Z [10:00:00.100] {warn}\r\n", docker_line(1, "INFO", "archiver tick\n"),
             f"2026-11-27T10:00:01.999Z [10:00:02.000] {warn}\r\n", docker_line(40, "INFO", "archiver tick\n"),
             f"2026-11-27T10:00:05.300Z [10:00:05.300] {warn}\r\n", docker_line(90, "INFO", "archiver tick\n")]
    full = analyse(lines, skip=False)
    (entry, repeats, until), = [e for e in full["timeline"] if e[0].level == "WARN"]
    assert repeats == 3 and until == T0 + timedelta(seconds=5.3)
    for skip in (1 << 20, 90):
        fast = analyse(lines, skip=skip)
        assert fast["yielded"] == 3 and same(fast, full), skip
    # the evidence keeps each raw line, without its CR
    records = list(parse_log_blocks(io.BytesIO("".join(lines).encode()), LogRuleEngine(RULES).skip_plan(),
                                    file="logs.txt", container="node", role="prover-node"))
    assert [(r.line_start, r.time, r.raw) for r in records] == [
        (1, T0 + timedelta(seconds=0.1), lines[0][:-2]), (3, T0 + timedelta(seconds=2), lines[2][:-2]),
        (5, T0 + timedelta(seconds=5.3), lines[4][:-2])]


BYTE_PIECES = st.sampled_from([
    b"2026-11-27T10:00:01.223456789Z [10:00:01.223] INFO: ", b"2026-11-27T10:00:01.5Z ",
    b"2026-13-27T10:00:01.123456789Z ", b"[10:00:01.000] ", b"[10:00:0x.000] ",
    b"INFO: ", b"WARN: ", b"ERROR: ", b"ERR: ", b"archiver ", b"json-rpc:json_rpc_client ", b"Stopping ProverNode",
    b"request proverBroker_getProvingJob failed", b"\xff\xfe", b"\xe2\x82", b"caf\xc3\xa9", b"\x1b[1m", b"] ",
    b"[10:00:02.000] ERROR: ", b"{\"a\":1}", b"\r", b"    at f (x.js:1:2)", b"}", b"\x00",
])
BYTE_LINES = st.one_of(
    st.sampled_from([b"2026-11-27T10:00:01.123456789Z [10:00:01.123] WARN: json-rpc:json_rpc_client request failed",
                     b"2026-11-27T10:00:01.223456789Z [10:00:01.223] INFO: archiver Downloaded",
                     # an anchor only str.lower() finds (a Kelvin sign): the line must not be skipped
                     b"2026-11-27T10:00:01.323456789Z [10:00:01.323] INFO: mar\xe2\x84\xaaing proving job as failed"]),
    st.lists(BYTE_PIECES, max_size=6).map(b"".join),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(BYTE_LINES, min_size=1, max_size=40), st.booleans(), st.integers(min_value=1, max_value=300))
def test_a_file_of_any_bytes_gives_what_the_text_reader_gives(tmp_path_factory, lines, last_newline, block_bytes):
    """Undecodable bytes, NUL, CR, ESC, a Kelvin sign: the block path reads bytes and decodes only the
    lines it parses; a text-mode reader with errors="replace" gives the same records and counts."""
    path = tmp_path_factory.mktemp("bytes") / "logs.txt"
    path.write_bytes(b"\n".join(lines) + (b"\n" if last_newline else b""))

    def result(records, stats):
        engine, timeline = LogRuleEngine(RULES), TimelineCollector()
        for record in records:
            timeline.add_record(record, engine.feed_ids(record)[1])
        findings = [(f.rule_id, f.count, f.first_seen, [(e.line_start, e.line_end, e.lines) for e in f.evidence])
                    for f in engine.findings()]
        return findings, [(p.entry, p.repeats) for p in timeline.entries], timeline.level_series(), (
            stats.lines, stats.records, stats.unrecognized, stats.formats)

    with open(path, encoding="utf-8", errors="replace", newline="\n") as text:
        full_stats = ParseStats(file="logs.txt")
        full = result(parse_log_lines(text, file="logs.txt", container="c", role="prover-node", stats=full_stats),
                      full_stats)
    for compiled in (True, False):
        with open(path, "rb") as raw:
            fast_stats = ParseStats(file="logs.txt")
            fast = result(parse_log_blocks(raw, LogRuleEngine(RULES).skip_plan(), file="logs.txt", container="c",
                                           role="prover-node", stats=fast_stats, block_bytes=block_bytes,
                                           compiled=compiled), fast_stats)
        assert fast == full, compiled


@pytest.mark.skipif(_sieve is None, reason="the compiled sieve is not built here (setup.py needs a C compiler)")
@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(BYTE_LINES, FILE_SHAPES.map(str.encode)), min_size=1, max_size=40), st.booleans(),
       st.data())
def test_the_compiled_sieve_gives_what_the_python_sieve_gives(lines, last_newline, data):
    """Marks, offsets, indexes, heads and record starts alike, for any bytes and any anchor hits
    (sorted offsets, as the automaton gives them)."""
    block = b"\n".join(lines) + (b"\n" if last_newline else b"")
    hits = sorted(set(data.draw(st.lists(st.integers(min_value=0, max_value=max(len(block) - 1, 0)), max_size=5))))
    plan = LogRuleEngine(RULES).skip_plan()
    labels = frozenset(k for k, v in fmt.LEVEL_BY_NAME.items() if v in plan.levels)
    sieve = LineSieve(plan, labels)
    assert sieve.compiled
    levels = json_levels(plan)
    assert _sieve.mark_lines(block, tuple(sorted(x.encode() for x in labels)), hits, levels) == py_mark_lines(
        block, sieve._not_plain, hits, levels)
    assert _sieve.mark_lines(block, tuple(sorted(x.encode() for x in labels)), hits) == py_mark_lines(
        block, LineSieve(replace(plan, anchors=(*plan.anchors, "a\nb")), labels)._not_plain, hits)


@pytest.mark.skipif(_sieve is None, reason="the compiled sieve is not built here (setup.py needs a C compiler)")
def test_the_compiled_sieve_refuses_hits_out_of_order():
    block = b"a\nb\nc\n"
    assert [m[2] for m in _sieve.mark_lines(block, (b"INFO",), [2, 4])[0]] == [0, 1, 2]
    with pytest.raises(ValueError, match="ascending"):
        _sieve.mark_lines(block, (b"INFO",), [4, 2])
    with pytest.raises(ValueError, match="ascending"):
        _sieve.mark_lines(block, (b"INFO",), [-1])


def test_the_sieves_read_heads_as_the_parser_does():
    """Line by line: a timestamp of ten fraction digits or an impossible digit is no head; the
    cut falls after the pino time; a line "starts" a record (the line before it is then "alone")
    with a level of 4 to 7 capitals and a colon, and no "] " or byte outside ASCII after it."""
    labels = (b"DEBUG", b"INFO", b"TRACE", b"VERBOSE")
    cases = [
        (b"2026-11-27T10:00:00.123456789Z [10:00:00.123] INFO: archiver a", None, 0),
        (b"2026-11-27T10:00:00Z [10:00:00.123] WARN: archiver a", 36, 1),
        (b"2026-11-27T10:00:00.1234567890Z [10:00:00.123] WARN: a", 0, 0),
        (b"[10:00:00.123] WARNING: a", 0, 1),  # 7 capitals: the parser reads WARNING as a level
        (b"[10:00:00.123] WARNINGS: a", 0, 0),
        (b"[10:00:00.123] WAR: a", 0, 0),
        (b"[10:0a:00.123] INFO: a", 0, 0),
        (b"[10:00:00.123] INFO: a [x] b", 0, 0),
        (b"[10:00:00.123] WARN: caf\xc3\xa9", 0, 0),
    ]
    not_plain = LineSieve(LogRuleEngine(RULES).skip_plan(), frozenset(x.decode() for x in labels))._not_plain
    for line, cut, starts in cases:
        block = b"raw\n" + line + b"\n"  # a marked line, then this one
        got = _sieve.mark_lines(block, labels, []) if _sieve else None
        want = py_mark_lines(block, not_plain, [])
        end = len(block)
        assert want[0][0] == (0, 4, 0, 0, 1 if cut is None else starts, 0), line
        assert want[0][1:] == ([] if cut is None else [(4, end, 1, cut and 4 + cut, 0, 0)]), line  # the last: not alone
        assert got is None or got == want, line
        assert py_mark_lines(line, not_plain, []) == ([] if cut is None else [(0, len(line), 0, cut, 0, 0)], 0)


def test_the_sieves_read_json_lines_as_the_parser_does():
    """A JSON line is plain (skipped unread) only when Python's json reads it as one pino object
    at a skipped level; it "starts" a record whatever its level; anything doubtful is marked."""
    plan = LogRuleEngine(RULES).skip_plan()
    labels = frozenset(k for k, v in fmt.LEVEL_BY_NAME.items() if v in plan.levels)
    sieve = LineSieve(plan, labels)
    cases = [  # line, its level as the sieve reads it, plain, starts
        (b'2026-11-27T10:00:00.1Z {"level":30,"msg":"a\\nb","x":[1,2.5e3,{"y":null}]}', 30, True, True),
        (b'{"level":30,"msg":"m"}\r', 30, True, True),
        (b'{"level":50,"msg":"m"}', 50, False, True),
        (b'{"level":100,"msg":"m"}', 100, False, True),
        (b'{"level":30,"msg":"Stopping ProverNode"}', 30, False, True),  # an anchor
        (b'{"level":30,"msg":"m","level":50}', 30, False, False),  # "level" twice
        (b'{"level":30,"msg":"\\u0041"}', -1, False, False),  # an escape but \n
        (b'{"level":30,"x":NaN}', -1, False, False),
        (b'{"level":30,"x":1} ', -1, False, False),
        (b'2026-02-29T10:00:00Z {"level":30}', -1, False, False),  # no such day
        (b'2028-02-29T10:00:00Z {"level":30}', 30, True, True),
        (b'{"level":030}', -1, False, False),
    ]
    for line, level, plain, starts in cases:
        assert json_level(line) == level, line
        block = line + b"\n" + b"raw\n"  # this line, then a marked one
        for compiled in (True, False) if _sieve else (False,):
            sieve.compiled = compiled
            marks, tail = sieve.marks(block)
            if plain:
                assert marks == [(len(line) + 1, len(block), 1, 0, 0, 1)] and tail == 0, line
            else:
                assert marks[0] == (0, len(line) + 1, 0, 0, 0, 0), line
            marks, _ = sieve.marks(b"raw\n" + block)
            assert marks[0][4] == int(starts), line  # the line before it is alone when it starts a record


def general_path(lines: list[str], container: str = "node") -> tuple[list, tuple]:
    """The records and counts of ``lines`` read by LineGrouper alone: the general path, which
    every fast path of the line parser (pretty lines, whole JSON lines) must equal."""
    stats = ParseStats(file="logs.txt")
    grouper = LineGrouper("logs.txt", container, "prover-node" if container else "other", stats, None)
    records = []
    for lineno, line in enumerate(lines, 1):
        grouper.feed(lineno, fmt.strip_ansi(strip_eol(line)))
        records += grouper.out
        grouper.out.clear()
    grouper.finish()
    records += grouper.out
    return records, (stats.records, stats.unrecognized, stats.formats)


@settings(max_examples=300, deadline=None)
@given(st.lists(FILE_SHAPES, max_size=30))
def test_the_fast_paths_give_the_general_paths_records(lines):
    stats = ParseStats(file="logs.txt")
    records = list(parse_log_lines(lines, file="logs.txt", container="node", role="prover-node", stats=stats))
    assert (records, (stats.records, stats.unrecognized, stats.formats)) == general_path(lines)


def compose_line(service: str, i: int, text: str) -> str:
    """A `docker compose logs -t` line of ``service`` (``text`` after its docker timestamp)."""
    at = T0 + timedelta(milliseconds=3 * i)
    return f"{service:<16}| {at.strftime('%Y-%m-%dT%H:%M:%S.%f')}000Z {text}"


COMPOSE_SHAPES = st.builds(
    compose_line,
    st.sampled_from(["prover-node-1", "broker-1", "agent-1"]),
    st.integers(min_value=0, max_value=5),
    st.sampled_from([
        "[10:00:00.003] INFO: archiver Downloaded L2 block 5",
        "[10:00:00.006] DEBUG: world-state:database synched {\"block\":3}",
        "[10:00:00.009] INFO: prover-node Stopping ProverNode",  # an anchor below WARN
        "[10:00:00.012] WARN: json-rpc:json_rpc_client request proverBroker_getProvingJob failed",
        "[10:00:00.015] ERROR: prover-client:orchestrator Error: Broker facade stopped",
        "[10:00:00.003] INFO: archiver x[10:00:00.003] ERROR: archiver glued Broker facade stopped",
        "    at f (file:///x.js:1:2)",
        "    at Broker facade stopped (file:///x.js:3:4)",  # names the record it continues
        "Error: Broker facade stopped",
        "}",
        "raw text",
        "[10:00:00.003] INFO: \x1b[32marchiver\x1b[39m coloured",
    ]),
)
COMPOSE_LINES = st.one_of(COMPOSE_SHAPES, st.sampled_from([
    "prover-node-1 exited with code 137",
    "broker-1        | [10:00:00.020] INFO: archiver no docker timestamp",
    "agent-1         | 2026-13-40T10:00:00.000000000Z [10:00:00.020] INFO: archiver no such date",
    "docker_line-without-a-prefix",
]))


@settings(max_examples=300, deadline=None)
@given(st.lists(COMPOSE_LINES, min_size=1, max_size=40), st.integers(min_value=1, max_value=600))
def test_compose_logs_skipped_line_by_line_or_in_blocks_give_the_full_paths_results(lines, block):
    """`docker compose logs` output: skipped records are placeholders per service, made only when
    a continuation line of their service follows; everything else as without skipping."""
    lines = [compose_line("prover-node-1", 0, "[10:00:00.000] INFO: archiver first"), *lines]
    full = analyse(lines, skip=False)
    assert same(analyse(lines, skip=True), full)
    assert same(analyse(lines, skip=block), full)
    assert same(analyse(lines, skip=block, compiled=False), full)


@settings(max_examples=300, deadline=None)
@given(st.lists(COMPOSE_LINES, min_size=1, max_size=40))
def test_compose_placeholders_are_made_as_the_general_path_makes_records(lines):
    lines = [compose_line("prover-node-1", 0, "[10:00:00.000] INFO: archiver first"), *lines]
    stats = ParseStats(file="logs.txt")
    plan = LogRuleEngine(RULES).skip_plan()
    records = list(parse_log_lines(lines, file="logs.txt", container="", role="other", stats=stats, skip=plan))
    general, counts = general_path(lines, container="")
    assert (stats.records, stats.unrecognized, stats.formats) == counts
    made = {(r.line_start, r.container) for r in records}
    assert records == [r for r in general if (r.line_start, r.container) in made]  # the same, in order
    for r in general:  # and every record left out was one a rule cannot match, with no continuation line
        if (r.line_start, r.container) not in made:
            assert r.level in plan.levels and not r.stack and not has_anchor(r.raw, plan.anchors)


def test_a_compose_file_of_mostly_skipped_lines_yields_few_records():
    lines = [compose_line(("prover-node-1", "broker-1")[i % 2], i, f"[10:00:00.000] INFO: archiver tick {i}")
             for i in range(3000)]
    lines[1500] = compose_line("broker-1", 1500, "[10:00:00.000] WARN: archiver slow")
    lines[2001] = compose_line("broker-1", 2001, "    at Broker facade stopped (file:///x.js:3:4)")
    full = analyse(lines, skip=False)
    for skip in (True, 4096):
        fast = analyse(lines, skip=skip)
        # the first line (it shows the format), the warning, and the record line 2002 continues
        assert same(fast, full) and fast["yielded"] == 3
    assert [f[0] for f in full["findings"]] == ["broker-facade-stopped"]


_ANCHORS = tuple(LogRuleEngine(RULES).skip_plan().anchors)  # type: ignore[union-attr]


@settings(max_examples=500, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(_ANCHORS), st.sampled_from(_ANCHORS).map(str.upper),
                          st.sampled_from(_ANCHORS).map(lambda a: a[1:]), st.sampled_from(("K", "İ", "ß", " ", "\n")),
                          st.text(max_size=6)), max_size=8).map("".join),
       st.lists(st.sampled_from(_ANCHORS), max_size=4).map(tuple))
def test_the_anchor_automaton_finds_what_testing_each_anchor_finds(text: str, some: tuple[str, ...]) -> None:
    assert anchor_test(_ANCHORS)(text) == has_anchor(text, _ANCHORS)
    assert anchor_test(some)(text) == has_anchor(text, some)  # (no anchor at all: nothing is found)
