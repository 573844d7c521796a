"""Logs as support engineers get them: exported from a log service (CSV/TSV tables, a
timestamp<TAB>message paste, JSON lines with other field names, a Loki query result). A known
failure in those forms is found as in docker's own lines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nodediag.analyzer.analysis import analyze_input
from nodediag.analyzer.facts import load_facts
from nodediag.analyzer.inputs import InputError, open_input
from nodediag.analyzer.inputs.exports import detect_export
from nodediag.analyzer.parsing.formats import export_time

NODE = "aztec-prover-prover-node-1"
# (time, pino line of the node) newest last; the failure is the submission running out of funds
ROWS = [
    ("2026-11-27T10:00:01.250Z", "[10:00:01.250] INFO: prover-node Starting epoch 7 proving job"),
    ("2026-11-27T10:00:02.500Z", "[10:00:02.500] ERROR: prover-node:l1-tx-utils Rollup submit epoch proof failed: "
                                 "Missing or invalid parameters. Details: insufficient funds for gas * price + value: "
                                 "balance 1, tx cost 2"),
    ("2026-11-27T10:00:03.000Z", "[10:00:03.000] INFO: prover-node Still here"),
]
NS = {"2026-11-27T10:00:01.250Z": "1795773601250000000", "2026-11-27T10:00:02.500Z": "1795773602500000000",
      "2026-11-27T10:00:03.000Z": "1795773603000000000"}


def _csv(rows: list[tuple[str, str]], sep: str) -> str:
    quote = lambda text: '"' + text.replace('"', '""') + '"'  # noqa: E731
    head = sep.join(["Time", "Line", "container_name"])
    return head + "\n" + "".join(sep.join([quote(t.replace("T", " ")), quote(m), NODE]) + "\n" for t, m in rows)


FORMS = {
    "docker": lambda rows: "".join(f"{t[:-1]}000000Z {m}\n" for t, m in rows),
    "csv": lambda rows: _csv(rows, ","),
    "tsv": lambda rows: _csv(rows, "\t"),
    "csv-newest-first": lambda rows: _csv(rows[::-1], ","),
    "time-tab": lambda rows: "".join(f"{t}\t{m}\n" for t, m in rows),
    "logcli-text": lambda rows: "".join(f'{t} {{container="{NODE}", stream="stderr"}} {m}\n' for t, m in rows),
    "kibana-space": lambda rows: "".join(f"{t[:10]} {t[11:23].replace('.', ',')} {m}\n" for t, m in rows),
    "grafana-labels-csv": lambda rows: "Time,Line,labels\n" + "".join(
        f'"{t.replace("T", " ")}","{m}","{{""container"":""{NODE}""}}"\n' for t, m in rows),
    "jsonl-of-docker-lines": lambda rows: "".join(json.dumps({"ts": t, "msg": f"{t[:-1]}000000Z {m}"}) + "\n"
                                                  for t, m in rows),
    "jsonl-of-compose-lines": lambda rows: "".join(json.dumps({"ts": t, "text": f"prover-node-1  | {m}"}) + "\n"
                                                   for t, m in rows),
    "json-lines": lambda rows: "".join(json.dumps({"@timestamp": t, "log": {"level": "x"}, "message": m,
                                                   "container": {"name": NODE}}) + "\n" for t, m in rows),
    "logcli-jsonl": lambda rows: "".join(json.dumps({"labels": {"container": NODE}, "line": m, "timestamp": t}) + "\n"
                                         for t, m in rows),
    "docker-json-file": lambda rows: "".join(json.dumps({"log": m + "\n", "stream": "stderr", "time": t}) + "\n"
                                             for t, m in rows),
    "json-array": lambda rows: json.dumps([{"time": NS[t], "msg_text": "", "body": m} for t, m in rows]),
    "loki": lambda rows: json.dumps({"status": "success", "data": {"resultType": "streams", "result": [
        {"stream": {"container": NODE}, "values": [[NS[t], m] for t, m in rows[::-1]]}]}}),
}


def _analyze(tmp_path: Path, name: str, text: str):  # type: ignore[no-untyped-def]
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / name
    path.write_text(text)
    inp = open_input(path, workdir=tmp_path / "work")
    return analyze_input(inp, load_facts(inp), tool_version="t")


@pytest.mark.parametrize("form", sorted(FORMS))
def test_a_known_failure_is_found_in_every_export_form(tmp_path: Path, form: str) -> None:
    result = _analyze(tmp_path, f"export-{form}.txt", FORMS[form](ROWS))
    assert result.verdict.rule_id == "l1-insufficient-funds", (form, result.verdict.headline)
    assert result.verdict.started_at is not None and result.verdict.started_at.isoformat().startswith(
        "2026-11-27T10:00:02.5")


def test_rows_keep_their_line_numbers_and_the_reader_is_told(tmp_path: Path) -> None:
    result = _analyze(tmp_path, "grafana.csv", FORMS["csv"](ROWS))
    assert any("was read as a table exported from a log service (3 rows)" in w for w in result.input.warnings)
    funds = next(f for f in result.findings if f.rule_id == "l1-insufficient-funds")
    assert funds.evidence[0].line_start == 3  # the header is line 1, the failing row line 3
    assert funds.container == NODE
    labelled = _analyze(tmp_path / "l", "grafana.csv", FORMS["grafana-labels-csv"](ROWS))
    assert next(f for f in labelled.findings if f.rule_id == "l1-insufficient-funds").container == NODE


def test_an_export_of_level_and_message_columns_only_keeps_the_level(tmp_path: Path) -> None:
    text = "timestamp;level;message\n2026-11-27 10:00:00;error;Something nobody has seen 42 times\n" \
           "2026-11-27 10:00:01;error;Something nobody has seen 43 times\n"
    result = _analyze(tmp_path, "kibana.csv", text)
    (group,) = result.unexplained
    assert group.level == "ERROR" and group.count == 2 and group.message.endswith("seen <n> times")


@pytest.mark.parametrize("head", [
    "2026-11-27T10:00:00.000000000Z [10:00:00.000] INFO: prover-node hi\n",
    '{"level":30,"time":1795773600000,"module":"prover-node","msg":"hi"}\n',
    "aztec-prover-prover-node-1  | 2026-11-27T10:00:00.000000000Z [10:00:00.000] INFO: prover-node hi\n",
    "[10:00:00.000] INFO: prover-node hi\n",
    "root:x:0:0:root:/root:/bin/bash\n",
])
def test_logs_nodediag_reads_directly_are_no_export(head: str) -> None:
    assert detect_export(head) is None


def test_an_export_without_readable_rows_is_one_line_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("time,message\nyesterday,hello\nlater,again\n")
    with pytest.raises(InputError, match="holds no row with a time and a message"):
        open_input(path, workdir=tmp_path / "w")


@pytest.mark.parametrize(("cell", "expected"), [
    ("2026-11-27T10:00:00Z", "2026-11-27T10:00:00.000000000Z"),
    ("2026-11-27 11:00:00.5+01:00", "2026-11-27T10:00:00.500000000Z"),
    ("2026-11-27 10:00:00,123 UTC", "2026-11-27T10:00:00.123000000Z"),
    ("1795773600", "2026-11-27T10:00:00.000000000Z"),
    ("1795773600123", "2026-11-27T10:00:00.123000000Z"),
    ("1795773600123456789", "2026-11-27T10:00:00.123456789Z"),
])
def test_export_times_in_their_usual_shapes(cell: str, expected: str) -> None:
    assert export_time(cell)[1] == expected  # type: ignore[index]
    assert export_time("not a time") is None


def test_debug_lines_an_operator_added_do_not_hide_the_failure(tmp_path: Path) -> None:
    text = ("=== node logs pulled by ops at 10:05, after restart ===\n"
            "+ docker logs --tail 20 aztec-prover-prover-node-1\n"
            + ROWS[0][1] + "\n"
            "DEBUG: ETHEREUM_HOSTS looks fine, balance check next\n"
            + ROWS[1][1] + "\n"
            ">>> checked balance manually: 0.000 ETH\n"
            + ROWS[2][1] + "\n")
    result = _analyze(tmp_path, "pasted.txt", text)
    assert result.verdict.rule_id == "l1-insufficient-funds", result.verdict.headline
    assert not [g for g in result.unexplained if "DEBUG" in g.message or "ops" in g.message]
