"""The JSON report: schema header, UTC ``Z`` times, every field, and a lossless round trip."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone

import pytest
from test_report_sample import full_result, hostile_result, thin_result

from nodediag.analyzer.report import render_json
from nodediag.analyzer.report.json_report import SCHEMA_VERSION, ReportSchemaError, result_from_json

ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3}|\.\d{6})?Z$")


def test_schema_header_and_top_level_fields() -> None:
    data = json.loads(render_json(full_result()))
    assert data["schema"] == "nodediag-report" and data["schema_version"] == SCHEMA_VERSION == 1
    assert list(data)[:12] == ["schema", "schema_version", "tool_version", "analyzed_at", "verdict", "input",
                               "findings", "incident_window", "timeline", "facts", "parse_stats",
                               "level_series"]
    assert data["incident_window"] == {"start": "2026-11-27T18:00:00Z", "end": "2026-11-27T18:03:00Z"}
    assert data["level_series"]["aztec-prover-prover-broker-1"][0] == {
        "minute": "2026-11-27T17:45:00Z", "counts": {"WARN": 2}}
    assert data["findings"][1]["caused_by"] == ["node-out-of-memory"]
    assert data["findings"][0]["evidence"][0]["line_start"] == 4101
    assert data["input"]["manifest"]["redaction"]["leak_check"] == "passed"


def test_every_time_is_iso_8601_utc_with_z() -> None:
    result = full_result()
    result.verdict.started_at = datetime(2026, 11, 27, 20, 1, tzinfo=timezone(timedelta(hours=2)))
    text = render_json(result)
    times = re.findall(r'"(\d{4}-\d\d-\d\dT[^" ]*)"', text)
    assert times and all(ISO_Z.match(t) for t in times), [t for t in times if not ISO_Z.match(t)]
    assert json.loads(text)["verdict"]["started_at"] == "2026-11-27T18:01:00Z"
    assert json.loads(text)["analyzed_at"] == "2026-11-28T09:00:00.123Z"


@pytest.mark.parametrize("make", [full_result, hostile_result, thin_result])
def test_round_trip_is_lossless(make) -> None:
    result = make()
    assert result_from_json(render_json(result)) == result


def test_non_ascii_and_hostile_text_stay_readable_json() -> None:
    result = hostile_result()
    result.findings[0].evidence[0].lines.append("naïve ✓ \u2028 line")
    text = render_json(result)
    assert "naïve ✓" in text
    assert json.loads(text)["findings"][0]["evidence"][0]["lines"][-1] == "naïve ✓ \u2028 line"


def test_reader_refuses_another_schema_or_a_newer_version() -> None:
    data = json.loads(render_json(thin_result()))
    data["schema_version"] = SCHEMA_VERSION + 1
    with pytest.raises(ReportSchemaError, match="newer than this nodediag reads"):
        result_from_json(json.dumps(data))
    with pytest.raises(ReportSchemaError, match="not a nodediag report"):
        result_from_json('{"schema": "something-else"}')
    with pytest.raises(ReportSchemaError, match="not JSON"):
        result_from_json("{")
