"""One test per log format the analyzer reads: pino pretty, pino JSON, the 2024 forms, raw output."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from nodediag.analyzer.model import ParseStats
from nodediag.analyzer.parsing import parse_log_lines, strip_ansi

UTC = timezone.utc


def parse(text: str, **kwargs):
    stats = kwargs.pop("stats", None) or ParseStats(file="containers/n/logs.txt")
    records = list(
        parse_log_lines(text.splitlines(), file="containers/n/logs.txt", stats=stats, **kwargs)
    )
    return records, stats


def test_pino_pretty_with_docker_timestamp_takes_date_from_docker_and_time_from_pino():
    line = (
        "2026-11-27T18:30:00.123456789Z [18:30:00.120] INFO: prover-client:proving-broker "
        "New proving job id=26:BASE_PARITY:7b66 epochNumber=26 "
        '{"provingJobId":"26:BASE_PARITY:7b66","epochNumber":26}'
    )
    (rec,), stats = parse(line, container="aztec-prover-prover-broker-1", role="prover-broker")
    assert rec.kind == "pino"
    assert rec.level == "INFO"
    assert rec.module == "prover-client:proving-broker"
    assert rec.message == "New proving job id=26:BASE_PARITY:7b66 epochNumber=26"
    assert rec.data == {"provingJobId": "26:BASE_PARITY:7b66", "epochNumber": 26}
    assert rec.time == datetime(2026, 11, 27, 18, 30, 0, 120000, tzinfo=UTC)
    assert (rec.container, rec.role) == ("aztec-prover-prover-broker-1", "prover-broker")
    assert (rec.line_start, rec.line_end) == (1, 1)
    assert rec.raw == line
    assert stats.formats == {"pino": 1} and stats.unrecognized == 0


def test_pino_pretty_without_docker_timestamp_has_no_time_but_keeps_time_of_day():
    (rec,), _ = parse("[17:11:28.394] WARN: prover-node:epoch-proving-job No L2 block source available")
    assert rec.time is None
    assert rec.data["time_of_day"] == "17:11:28.394"
    assert rec.level == "WARN"
    assert rec.module == "prover-node:epoch-proving-job"
    assert rec.message == "No L2 block source available"


def test_pino_time_just_before_midnight_on_a_docker_line_after_midnight_keeps_the_previous_day():
    lines = (
        "2026-11-27T23:59:59.990000000Z [23:59:59.985] INFO: archiver Downloaded L2 block 1233\n"
        "2026-11-28T00:00:00.200000000Z [23:59:59.990] WARN: prover-client:proving-broker "
        "Proving job id=1:BASE_ROLLUP:ab timed out. Adding it back to the queue.\n"
        "2026-11-28T00:00:00.300000000Z [00:00:00.299] INFO: archiver Downloaded L2 block 1234"
    )
    records, _ = parse(lines)
    assert [r.time for r in records] == [
        datetime(2026, 11, 27, 23, 59, 59, 985000, tzinfo=UTC),
        datetime(2026, 11, 27, 23, 59, 59, 990000, tzinfo=UTC),
        datetime(2026, 11, 28, 0, 0, 0, 299000, tzinfo=UTC),
    ]


def test_pino_time_after_midnight_on_a_docker_line_before_midnight_moves_to_the_next_day():
    (rec,), _ = parse("2026-11-27T23:59:59.999999999Z [00:00:00.001] INFO: archiver Synced")
    assert rec.time == datetime(2026, 11, 28, 0, 0, 0, 1000, tzinfo=UTC)


def test_module_actor_and_instance_id_are_split_from_the_message():
    (rec,), _ = parse("[10:00:00.000] INFO: prover-node prover-1 node-0 Submitted proof for epoch 12")
    assert rec.module == "prover-node"
    assert rec.message == "Submitted proof for epoch 12"
    assert rec.data["actor"] == "prover-1" and rec.data["instanceId"] == "node-0"


@pytest.mark.parametrize(
    ("line", "module", "message"),
    [
        (
            "[10:00:00.000] INFO: prover-client:proving-agent:job-controller-052bf782 "
            "Job id=26:PUBLIC_VM:ab type=PUBLIC_VM completed",
            "prover-client:proving-agent:job-controller-052bf782",
            "Job id=26:PUBLIC_VM:ab type=PUBLIC_VM completed",
        ),
        ("[10:00:00.000] ERROR: cli TypeError: fetch failed", "cli", "TypeError: fetch failed"),
        (
            "[18:44:23.194] ERROR: prover-client:caching-prover-broker PROVING JOB FAILED id=PUBLIC_VM:7e",
            "prover-client:caching-prover-broker",
            "PROVING JOB FAILED id=PUBLIC_VM:7e",
        ),
        ("[10:00:00.000] INFO: Logger initialized with level info", None, "Logger initialized with level info"),
        (
            "[10:00:00.000] ERROR: world-state:database Call SYNC_BLOCK failed: Error: block state "
            "does not match world state",
            "world-state:database",
            "Call SYNC_BLOCK failed: Error: block state does not match world state",
        ),
    ],
)
def test_module_and_message_split_on_real_messages(line, module, message):
    (rec,), _ = parse(line)
    assert (rec.module, rec.message) == (module, message)
    assert "actor" not in rec.data


def test_message_with_braces_that_are_not_json_keeps_them():
    (rec,), _ = parse("[10:00:00.000] ERROR: foundation:retry Request failed { code: 'ECONNREFUSED' }")
    assert rec.message == "Request failed { code: 'ECONNREFUSED' }"
    assert rec.data == {"time_of_day": "10:00:00.000"}


def test_ansi_colour_codes_are_stripped_everywhere():
    coloured = (
        "2026-11-27T18:30:00.000000001Z [18:30:00.000] \x1b[31mERROR\x1b[39m: "
        "\x1b[1mprover-client:orchestrator\x1b[22m \x1b[0mError thrown when proving job: "
        "Error: Broker facade stopped\x1b[0m"
    )
    (rec,), _ = parse(coloured)
    assert rec.level == "ERROR"
    assert rec.module == "prover-client:orchestrator"
    assert rec.message == "Error thrown when proving job: Error: Broker facade stopped"
    assert "\x1b" not in rec.raw
    assert strip_ansi("\x1b[32mINFO\x1b[39m \x1b]0;title\x07ok") == "INFO ok"


@pytest.mark.parametrize(
    ("number", "level"),
    [(10, "TRACE"), (20, "DEBUG"), (25, "VERBOSE"), (30, "INFO"), (40, "WARN"), (50, "ERROR"), (60, "FATAL")],
)
def test_pino_json_numeric_levels_map_to_names(number, level):
    line = (
        f'{{"level":{number},"time":1795876200123,"pid":7,"hostname":"a1b2","module":"prover-node",'
        f'"msg":"Submitted proof for epoch 12","epochNumber":12}}'
    )
    (rec,), stats = parse(line)
    assert rec.kind == "pino-json"
    assert rec.level == level
    assert rec.time == datetime(2026, 11, 28, 14, 30, 0, 123000, tzinfo=UTC)
    assert rec.module == "prover-node"
    assert rec.message == "Submitted proof for epoch 12"
    assert rec.data == {"pid": 7, "hostname": "a1b2", "epochNumber": 12}
    assert stats.formats == {"pino-json": 1}


def test_pino_json_message_with_a_stack_is_split_into_message_and_stack():
    line = (
        "2026-11-28T14:30:00.200000000Z "
        '{"level":50,"time":1795876200123,"module":"prover-node","msg":"Error running epoch 5 prover job: '
        'Error: Epoch proving failed: Txs not found\\n    at EpochProvingJob.run (file:///usr/src/'
        'yarn-project/prover-node/dest/job/epoch-proving-job.js:90:19)"}'
    )
    (rec,), _ = parse(line)
    assert rec.level == "ERROR"
    assert rec.message == "Error running epoch 5 prover job: Error: Epoch proving failed: Txs not found"
    assert rec.stack == [
        "    at EpochProvingJob.run (file:///usr/src/yarn-project/prover-node/dest/job/epoch-proving-job.js:90:19)"
    ]
    assert rec.time == datetime(2026, 11, 28, 14, 30, 0, 123000, tzinfo=UTC)  # pino's own time


def test_aztec_2024_text_format_strips_the_aztec_prefix_and_moves_trailing_pairs_to_data():
    line = "2024-08-12T15:35:21.349Z aztec:prover-node [INFO] Submitted proof for epoch 12 epoch=12 txHash=0xab"
    (rec,), stats = parse(line)
    assert rec.kind == "aztec-2024"
    assert rec.level == "INFO"
    assert rec.module == "prover-node"
    assert rec.message == "Submitted proof for epoch 12"
    assert rec.data == {"epoch": "12", "txHash": "0xab"}
    assert rec.time == datetime(2024, 8, 12, 15, 35, 21, 349000, tzinfo=UTC)
    assert stats.formats == {"aztec-2024": 1}


def test_aztec_2024_text_format_behind_a_docker_timestamp():
    line = "2024-08-12T15:35:21.350000001Z 2024-08-12T15:35:21.349Z aztec:archiver [ERROR] Error getting slot number"
    (rec,), _ = parse(line)
    assert (rec.kind, rec.level, rec.module) == ("aztec-2024", "ERROR", "archiver")
    assert rec.message == "Error getting slot number"
    assert rec.time == datetime(2024, 8, 12, 15, 35, 21, 349000, tzinfo=UTC)


def test_json_2024_format_with_string_level_and_object_message():
    lines = (
        '{"level":"verbose","message":"JsonRpcClient request proverBroker_waitForJobToSettle to '
        'http://prover-broker:8080 failed. Will retry in 2s...","module":"aztec:foundation:retry",'
        '"timestamp":"2024-12-03T06:44:02.127Z"}\n'
        '{"level":"error","message":{},"module":"aztec:foundation:retry","timestamp":"2024-12-03T06:44:02.127Z"}\n'
        '{"level":"warning","message":"x","module":"aztec:archiver","timestamp":"2024-12-03T06:44:03Z","txs":3}'
    )
    records, stats = parse(lines)
    assert [r.kind for r in records] == ["json-2024"] * 3
    assert [r.level for r in records] == ["VERBOSE", "ERROR", "WARN"]
    assert records[0].module == "foundation:retry"
    assert records[0].message.startswith("JsonRpcClient request proverBroker_waitForJobToSettle")
    assert records[0].time == datetime(2024, 12, 3, 6, 44, 2, 127000, tzinfo=UTC)
    assert records[1].message == "{}"
    assert records[2].data == {"txs": 3}
    assert stats.formats == {"json-2024": 3}


def test_v8_out_of_memory_block_is_grouped_into_fatal_records():
    lines = [
        "2026-11-27T18:30:00.000000001Z [18:30:00.000] INFO: prover-client:orchestrator Starting block 101",
        "2026-11-27T18:30:05.000000001Z ",
        "2026-11-27T18:30:05.000000002Z <--- Last few GCs --->",
        "2026-11-27T18:30:05.000000003Z ",
        "2026-11-27T18:30:05.000000004Z [1:0x6b2f4e0]  1234567 ms: Mark-Compact 4043.1 (4131.5) -> "
        "4040.2 (4131.2) MB, 2345.67 / 0.00 ms  (average mu = 0.123, current mu = 0.012) allocation failure",
        "2026-11-27T18:30:05.000000005Z ",
        "2026-11-27T18:30:05.000000006Z <--- JS stacktrace --->",
        "2026-11-27T18:30:05.000000007Z ",
        "2026-11-27T18:30:05.000000008Z FATAL ERROR: Reached heap limit Allocation failed - "
        "JavaScript heap out of memory",
        "2026-11-27T18:30:05.000000009Z ----- Native stack trace -----",
        "2026-11-27T18:30:05.000000010Z ",
        "2026-11-27T18:30:05.000000011Z  1: 0xb8d0a3 node::OOMErrorHandler(char const*, v8::OOMDetails const&) [node]",
        "2026-11-27T18:40:00.000000001Z [18:40:00.000] INFO: aztec Aztec Server listening on port 8080",
    ]
    records, stats = parse("\n".join(lines))
    info, gcs, fatal, restart = records
    assert (gcs.kind, gcs.level, gcs.line_start, gcs.line_end) == ("node-fatal", "FATAL", 3, 8)
    assert "<--- JS stacktrace --->" in gcs.stack
    assert (fatal.kind, fatal.level, fatal.line_start, fatal.line_end) == ("node-fatal", "FATAL", 9, 12)
    assert fatal.message == "FATAL ERROR: Reached heap limit Allocation failed - JavaScript heap out of memory"
    assert fatal.time == datetime(2026, 11, 27, 18, 30, 5, tzinfo=UTC)
    assert restart.line_start == 13 and restart.message == "Aztec Server listening on port 8080"
    assert stats.unrecognized == 0
    assert stats.formats == {"pino": 2, "node-fatal": 2}


def test_ineffective_mark_compacts_fatal_line_on_its_own():
    (rec,), _ = parse(
        "FATAL ERROR: Ineffective mark-compacts near heap limit Allocation failed - JavaScript heap out of memory"
    )
    assert (rec.kind, rec.level) == ("node-fatal", "FATAL")


def test_uncaught_exception_block_is_one_raw_record_up_to_the_node_version_line():
    lines = [
        "[11:08:50.000] INFO: prover-client:orchestrator Orchestrator finalised block 5",
        "node:internal/process/promises:391",
        "    triggerUncaughtException(err, true /* fromPromise */);",
        "    ^",
        "",
        "Error: Broker facade stopped",
        "    at BrokerCircuitProverFacade.stop (file:///usr/src/yarn-project/prover-client/dest/x.js:1:2)",
        "",
        "Node.js v22.15.0",
        "Some later raw output",
    ]
    records, stats = parse("\n".join(lines))
    assert [(r.kind, r.line_start, r.line_end) for r in records] == [
        ("pino", 1, 1),
        ("raw", 2, 9),
        ("raw", 10, 10),
    ]
    block = records[1]
    assert block.level is None
    assert "triggerUncaughtException" in block.text and "Error: Broker facade stopped" in block.text
    assert stats.unrecognized == 1  # only "Some later raw output"
