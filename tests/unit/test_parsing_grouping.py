"""How physical lines become records: stacks, windows, compose interleaving, glued records,
unrecognized lines, exact line numbers, streaming."""

from __future__ import annotations

import pathlib

from hypothesis import given, settings
from hypothesis import strategies as st

from nodediag.analyzer.model import ParseStats
from nodediag.analyzer.parsing import parse_log_file, parse_log_lines


def parse(lines: list[str], **kwargs):
    stats = ParseStats(file="logs.txt")
    return list(parse_log_lines(lines, file="logs.txt", stats=stats, **kwargs)), stats


TS = "2026-11-27T18:30:01.000000{:03d}Z "

ERROR_WITH_STACK = [
    TS.format(1) + "[18:30:01.000] ERROR: prover-client:orchestrator Error thrown when proving job: "
    "Error: Broker facade stopped",
    TS.format(2) + "    at BrokerCircuitProverFacade.stop (file:///usr/src/yarn-project/prover-client/dest/"
    "proving_broker/broker_prover_facade.js:120:33)",
    TS.format(3) + "    at async Promise.all (index 0) {",
    TS.format(4) + "  [cause]: Error: Aborted",
    TS.format(5) + "      at AbortController.abort (node:internal/abort_controller:400:18)",
    TS.format(6) + '} {"epochNumber":12,"uuid":"29459f0f"}',
    TS.format(7) + "[18:30:01.001] INFO: prover-node Stopped ProverNode",
]


def test_stack_cause_block_and_trailing_json_extend_the_error_record():
    (error, info), stats = parse(ERROR_WITH_STACK)
    assert (error.line_start, error.line_end) == (1, 6)
    assert error.message == "Error thrown when proving job: Error: Broker facade stopped"
    assert error.stack[0].startswith("    at BrokerCircuitProverFacade.stop")
    assert error.stack[2] == "  [cause]: Error: Aborted"
    assert error.stack[-1] == "}"
    assert error.data == {"epochNumber": 12, "uuid": "29459f0f"}
    assert "Error: Aborted" in error.text
    assert (info.line_start, info.line_end) == (7, 7)
    assert stats.records == 2 and stats.lines == 7 and stats.unrecognized == 0


def test_an_indented_line_written_much_later_is_not_a_continuation():
    lines = [
        "2026-11-27T18:30:01.000000001Z [18:30:01.000] ERROR: archiver Error getting slot number",
        "2026-11-27T18:30:09.000000001Z     some indented native output",
    ]
    (error, raw), stats = parse(lines)
    assert error.stack == [] and error.line_end == 1
    assert (raw.kind, raw.level, raw.line_start) == ("raw", None, 2)
    assert stats.unrecognized == 1


def test_unindented_lines_of_the_same_write_continue_a_multi_line_error_message():
    lines = [
        "2026-11-27T18:30:01.000100000Z [18:30:01.000] ERROR: prover-node:l1-tx-utils Rollup submit "
        "epoch proof failed: ContractFunctionExecutionError: The contract function "
        '"submitEpochRootProof" reverted with the following reason:',
        "2026-11-27T18:30:01.000100100Z Rollup__InvalidProof()",
        "2026-11-27T18:30:01.000100200Z ",
        "2026-11-27T18:30:01.000100300Z Version: viem@2.21.1",
        "2026-11-27T18:30:01.000100400Z     at getContractError (file:///usr/src/yarn-project/node_modules/viem/x.js:1:2)",
        "2026-11-27T18:30:03.000000000Z bb output written two seconds later",
    ]
    (error, raw), _ = parse(lines)
    assert (error.line_start, error.line_end) == (1, 5)
    assert "Rollup__InvalidProof()" in error.text
    assert raw.line_start == 6 and raw.message == "bb output written two seconds later"


def test_without_timestamps_unindented_lines_continue_only_error_records():
    lines = [
        "[18:30:01.000] ERROR: prover-node Failed to submit epoch proof to L1: reverted:",
        "Rollup__InvalidProof()",
        "[18:30:02.000] INFO: prover-node Starting epoch 13 proving job",
        "Executing BB with: prove_tube",
    ]
    records, stats = parse(lines)
    assert [(r.kind, r.line_start, r.line_end) for r in records] == [
        ("pino", 1, 2),
        ("pino", 3, 3),
        ("raw", 4, 4),
    ]
    assert stats.unrecognized == 1


def test_compose_prefixes_give_container_and_role_and_keep_services_apart():
    roles = {"prover-node-1": "prover-node", "prover-broker-1": "prover-broker"}
    lines = [
        "prover-node-1    | 2026-11-27T18:30:01.000000001Z [18:30:01.000] ERROR: prover-client:orchestrator "
        "Error thrown when proving job: Error: Broker facade stopped",
        "prover-broker-1  | 2026-11-27T18:30:01.000000002Z [18:30:01.000] INFO: prover-client:proving-broker "
        "Proving job complete id=26:BASE_PARITY:ab",
        "prover-node-1    | 2026-11-27T18:30:01.000000003Z     at BrokerCircuitProverFacade.stop (file:///x.js:1:2)",
        "prover-broker-1  | [18:30:02.000] WARN: prover-client:proving-broker Proving job id=26:X:cd timed out. "
        "Adding it back to the queue.",
        "prover-node-1 exited with code 137",
    ]
    records, stats = parse(lines, role_of=lambda name: roles.get(name, "other"))
    assert [(r.container, r.role, r.line_start, r.line_end) for r in records] == [
        ("prover-node-1", "prover-node", 1, 3),
        ("prover-broker-1", "prover-broker", 2, 2),
        ("prover-broker-1", "prover-broker", 4, 4),
        ("prover-node-1", "prover-node", 5, 5),
    ]
    assert records[0].stack == ["    at BrokerCircuitProverFacade.stop (file:///x.js:1:2)"]
    assert records[2].time is None and records[2].data["time_of_day"] == "18:30:02.000"
    assert records[3].data == {"exit_code": 137}
    assert stats.unrecognized == 0


def test_compose_prefix_with_a_given_container_keeps_the_given_name():
    (rec,), _ = parse(
        ["prover-node-1  | [18:30:01.000] INFO: prover-node Submitted proof for epoch 12"],
        container="aztec-prover-prover-node-1",
        role="prover-node",
    )
    assert (rec.container, rec.role, rec.message) == (
        "aztec-prover-prover-node-1",
        "prover-node",
        "Submitted proof for epoch 12",
    )


def test_two_pretty_records_glued_on_one_line_are_split_with_the_same_line_number():
    lines = [
        "2026-11-27T18:30:01.000000001Z [18:30:01.000] INFO: archiver Downloaded L2 block 5"
        "[18:30:01.002] WARN: prover-node Epoch blocks changed underfoot",
        "2026-11-27T18:30:01.100000000Z [18:30:01.100] INFO: prover-node Running new job for epoch 5 due to reorg",
    ]
    records, stats = parse(lines)
    assert [(r.line_start, r.level, r.module, r.message) for r in records] == [
        (1, "INFO", "archiver", "Downloaded L2 block 5"),
        (1, "WARN", "prover-node", "Epoch blocks changed underfoot"),
        (2, "INFO", "prover-node", "Running new job for epoch 5 due to reorg"),
    ]
    assert records[1].time.microsecond == 2000
    assert stats.records == 3


def test_two_json_records_glued_on_one_line_are_split():
    line = (
        '{"level":30,"time":1795876200000,"module":"archiver","msg":"a"}'
        '{"level":40,"time":1795876200001,"module":"prover-node","msg":"Stopping job due to deadline hit"}'
    )
    records, _ = parse([line])
    assert [(r.line_start, r.level, r.message) for r in records] == [
        (1, "INFO", "a"),
        (1, "WARN", "Stopping job due to deadline hit"),
    ]


def test_raw_text_glued_before_a_pino_record_gives_a_raw_and_a_pino_record():
    records, stats = parse(["some native output[18:30:01.000] INFO: archiver Synced"])
    assert [(r.kind, r.message) for r in records] == [("raw", "some native output"), ("pino", "Synced")]
    assert stats.unrecognized == 1


def test_unrecognized_lines_are_kept_counted_and_the_counts_add_up():
    lines = [
        "Attaching to prover-node",
        "[18:30:01.000] INFO: prover-node Starting",
        "%%% garbage {not json",
        "{\"not\": \"a log record\"}",
        "",
    ]
    records, stats = parse(lines)
    assert [r.line_start for r in records] == [1, 2, 3, 4]
    assert [r.kind for r in records] == ["raw", "pino", "raw", "raw"]
    assert stats.unrecognized == 3
    assert stats.lines == 5 and stats.records == 4
    assert stats.formats == {"raw": 3, "pino": 1}


def test_file_line_numbers_match_the_lines_in_the_file(tmp_path: pathlib.Path):
    path = tmp_path / "logs.txt"
    body = "\n".join(ERROR_WITH_STACK + ["2026-11-27T18:30:02.000000000Z caf\xe9 raw line"]) + "\n"
    data = body.replace("\n", "\r\n", 1).encode("utf-8").replace(b"caf\xc3\xa9", b"caf\xff")
    path.write_bytes(data)
    stats = ParseStats(file="logs.txt")
    records = list(parse_log_file(path, file="containers/n/logs.txt", stats=stats, container="n"))
    file_lines = path.read_bytes().decode("utf-8", errors="replace").split("\n")
    for rec in records:
        assert file_lines[rec.line_start - 1].rstrip("\r") == rec.raw
        assert rec.file == "containers/n/logs.txt" and rec.container == "n"
    assert records[-1].message == "caf\ufffd raw line"
    assert stats.lines == 8


def test_records_are_yielded_before_the_input_is_read_to_the_end():
    def lines():
        yield "[18:30:01.000] INFO: archiver one"
        yield "[18:30:01.001] INFO: archiver two"
        raise AssertionError("the parser read past what it needed")

    iterator = parse_log_lines(lines(), file="logs.txt")
    assert next(iterator).message == "one"


LINE_SHAPES = st.sampled_from(
    [
        "[18:30:01.000] INFO: archiver Downloaded L2 block 5",
        "[18:30:01.000] ERROR: prover-node Error: boom",
        "    at f (file:///x.js:1:2)",
        "}",
        "",
        "raw text",
        "FATAL ERROR: Reached heap limit Allocation failed - JavaScript heap out of memory",
        "<--- Last few GCs --->",
        "node:internal/process/promises:391",
        "Node.js v22.15.0",
        '{"level":30,"time":1795876200000,"module":"archiver","msg":"m"}',
        "svc-1  | [18:30:01.000] INFO: archiver from compose",
        "svc-2  |     at g (file:///y.js:3:4)",
        "x[18:30:01.000] WARN: archiver glued",
    ]
)
TIMESTAMPS = st.sampled_from(["", "2026-11-27T18:30:01.000000001Z ", "2026-11-27T18:30:07.000000001Z "])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(TIMESTAMPS, LINE_SHAPES), max_size=40))
def test_every_non_blank_line_belongs_to_exactly_one_record_in_file_order(pairs):
    lines = [ts + shape if not shape.startswith("svc") else shape for ts, shape in pairs]
    records, stats = parse(lines)
    covered: dict[int, int] = {}
    for rec in records:
        assert rec.line_start <= rec.line_end
        for n in range(rec.line_start, rec.line_end + 1):
            covered[n] = covered.get(n, 0) + 1
    starts = [r.line_start for r in records]
    assert starts == sorted(starts)
    for number, line in enumerate(lines, 1):
        body = line.split("| ", 1)[-1].removeprefix("2026-11-27T18:30:01.000000001Z ")
        body = body.removeprefix("2026-11-27T18:30:07.000000001Z ")
        if body.strip():
            assert number in covered, (number, line)
    assert stats.records == len(records)
    assert sum(stats.formats.values()) == len(records)
    assert stats.lines == len(lines)


def test_a_line_holding_a_pino_record_is_never_swallowed_by_an_error_message():
    lines = [
        "[18:30:01.000] ERROR: prover-node Failed to submit epoch proof to L1: reverted:",
        "prover-broker-1| [18:30:01.500] INFO: prover-client:proving-broker Proving job complete id=1:X:ab",
    ]
    records, _ = parse(lines)
    assert [(r.kind, r.line_start, r.message) for r in records] == [
        ("pino", 1, "Failed to submit epoch proof to L1: reverted:"),
        ("raw", 2, "prover-broker-1| "),
        ("pino", 2, "Proving job complete id=1:X:ab"),
    ]


def test_a_runaway_continuation_is_cut_so_memory_stays_bounded():
    from nodediag.analyzer.parsing.grouping import MAX_CONTINUATION_LINES

    lines = ["[18:30:01.000] ERROR: prover-node Error: boom"]
    lines += [f"    at frame{i} (file:///x.js:{i}:1)" for i in range(MAX_CONTINUATION_LINES + 5)]
    first, second = parse(lines)[0]
    assert len(first.stack) == MAX_CONTINUATION_LINES
    assert first.line_end == MAX_CONTINUATION_LINES + 1
    assert second.line_start == MAX_CONTINUATION_LINES + 2 and len(second.stack) == 4


def test_compose_lines_parse_exactly_like_plain_docker_lines():
    plain = [
        "2026-11-27T23:59:59.999999999Z [00:00:00.001] INFO: prover-node prover-1 Submitted proof for epoch 12 "
        '{"epochNumber":12}',
        "2026-11-27T18:30:01.000000001Z [18:30:01.000] ERROR: cli TypeError: fetch failed",
        "[18:30:01.000] VERBOSE: Logger initialized with level info",
    ]
    direct, _ = parse(plain)
    composed, _ = parse(["prover-node-1  | " + line for line in plain], container="c")
    strip = lambda r: (r.time, r.level, r.module, r.message, r.data, r.stack, r.kind)  # noqa: E731
    assert [strip(r) for r in composed] == [strip(r) for r in direct]
