"""The typed manifest and the fact files' schemas (nodediag/bundle/manifest.py, facts.py, schema.py):
checked once where read, a bad one refused naming the file and the field, older bundles still read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nodediag.bundle.facts import read_event, read_fact
from nodediag.bundle.limits import Limits
from nodediag.bundle.manifest import ManifestError, parse_manifest
from nodediag.bundle.reader import manifest_of
from nodediag.bundle.schema import SchemaError

REPO = Path(__file__).resolve().parents[2]
OLDEST = {"format": "nodediag-bundle", "format_version": 1, "status": "complete",
          "files": [{"path": "containers/a/logs.txt", "size": 3, "sha256": "ab" * 32}]}


@pytest.mark.parametrize("sample", sorted((REPO / "samples").glob("*.tar.zst")), ids=lambda p: p.name)
def test_every_sample_bundle_fits_the_schema(sample: Path) -> None:
    assert manifest_of(sample)["format"] == "nodediag-bundle"


def test_a_manifest_of_the_first_release_still_reads() -> None:
    assert parse_manifest(json.dumps(OLDEST))["files"][0]["size"] == 3


@pytest.mark.parametrize(("change", "field"), [
    (lambda m: m["files"][0].__setitem__("size", "3"), "files[0].size"),
    (lambda m: m.__setitem__("files", {"a": 1}), "files"),
    (lambda m: m["files"][0].pop("sha256"), "files[0].sha256"),
    (lambda m: m.__setitem__("status", "exploded"), "status"),
    (lambda m: m.__setitem__("sources", [{"name": "x", "status": None}]), "sources[0].status"),
    (lambda m: m.__setitem__("redaction", {"redacted_lines": {"a": {"k": [1, "2"]}}}),
     "redaction.redacted_lines.a.k[1]"),
    (lambda m: m.__setitem__("tool", []), "tool"),
    (lambda m: m["files"][0].__setitem__("size", True), "files[0].size"),
])
def test_a_bad_field_is_refused_in_one_line_naming_it(change, field: str) -> None:  # type: ignore[no-untyped-def]
    manifest = json.loads(json.dumps(OLDEST))
    change(manifest)
    with pytest.raises(ManifestError) as caught:
        parse_manifest(json.dumps(manifest))
    message = str(caught.value)
    assert field in message and "manifest.json" in message and "\n" not in message


@pytest.mark.parametrize("text", [
    '{"format": "nodediag-bundle", "format_version": 1, "x": NaN}',
    '{"format": "nodediag-bundle", "format_version": 1, "x": 1e999}',
    '{"format": "nodediag-bundle", "format_version": 1, "x": ' + "9" * 5000 + "}",
    '{"format": "nodediag-bundle", "format_version": 1, "x": ' + "[" * 100 + "]" * 100 + "}",
    '{"format": "nodediag-bundle", "format_version": 1, "x": ' + "[" * 100000 + "]" * 100000 + "}",
    "[" * 10,
])
def test_hostile_json_is_refused_in_one_line(text: str) -> None:
    with pytest.raises(ManifestError) as caught:
        parse_manifest(text)
    assert "\n" not in str(caught.value)


def test_the_json_size_cap_is_a_flag_away() -> None:
    big = json.dumps({**OLDEST, "pad": "x" * 5000})
    with pytest.raises(ManifestError, match="--max-json-bytes"):
        parse_manifest(big, Limits(max_json_bytes=4096))
    assert parse_manifest(big, Limits(max_json_bytes=8192))


@pytest.mark.parametrize(("rel", "value", "field"), [
    ("host/summary.json", {"load_avg": 3}, "load_avg"),
    ("host/summary.json", {"uptime_s": "Infinity"}, "uptime_s"),
    ("containers/n/stats.json", {"pids_stats": {"current": False}}, "pids_stats.current"),
    ("containers/n/inspect.json", {"State": {"ExitCode": "137"}}, "State.ExitCode"),
    ("containers/n/inspect.json", [[{"State": {}}]], "[0]"),
    ("host/disk.json", {"filesystems": [{"total": [1]}]}, "total"),
    ("host/summary.json", {"load_avg": [1.0] * 100}, "load_avg"),
])
def test_a_fact_file_that_does_not_fit_names_its_field(rel: str, value: object, field: str) -> None:
    with pytest.raises(SchemaError) as caught:
        read_fact(rel, json.dumps(value))
    assert rel in str(caught.value) and field in str(caught.value)


def test_an_event_time_out_of_range_is_refused() -> None:
    with pytest.raises(SchemaError, match="line 7: time"):
        read_event("docker/events.jsonl", 7, json.dumps({"Action": "die", "time": 10**15}))
    assert read_event("docker/events.jsonl", 1, json.dumps({"Action": "die", "time": 1764266400}))["Action"] == "die"
