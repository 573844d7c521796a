"""The guide's archive has no dates: its times of day are anchored to the archive's date (a
`date` in its system information, else its members' times), so its timeline is not empty; its
evidence cites the archive's own files, never line 0."""

from __future__ import annotations

import io
import tarfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from test_inputs_manual_guide import docker_ps

from nodediag.analyzer.analysis import analyze_input
from nodediag.analyzer.facts import load_facts
from nodediag.analyzer.inputs import open_input
from nodediag.analyzer.inputs.guide_tables import status_times

MADE = datetime(2026, 11, 28, 0, 30, tzinfo=timezone.utc)
NODE_LOG = (
    "[23:58:00.000] INFO: prover-node Starting epoch 9 proving job\n"
    "[23:59:59.500] WARN: prover-node Stopping job due to deadline hit\n"
    "[00:00:00.100] ERROR: prover-client:orchestrator Error thrown when proving job: Error: Broker facade stopped\n"
    "    at stop (file:///usr/src/a.js:1:1)\n"
    "[00:20:00.000] INFO: prover-node Still alive\n"
)
PS = docker_ps([
    ("6d47c6e53ed0", "aztecprotocol/aztec:2.1.11", '"node index.js start --prover-node"', "2 hours ago",
     "Up 2 hours", "", "aztec-prover-prover-node-1"),
    ("72412785de80", "aztecprotocol/aztec:2.1.11", '"node index.js start --prover-broker"', "2 hours ago",
     "Exited (137) 15 minutes ago", "", "aztec-prover-prover-broker-1"),
])


def _archive(tmp_path: Path, files: dict[str, str], mtime: datetime) -> Path:
    target = tmp_path / "aztec_diagnostics.tar.gz"
    with tarfile.open(target, "w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            member = tarfile.TarInfo(f"aztec_diagnostics/{name}")
            member.size, member.mtime = len(data), int(mtime.timestamp())
            tar.addfile(member, io.BytesIO(data))
    return target


def _analyze(path: Path, tmp_path: Path):  # type: ignore[no-untyped-def]
    inp = open_input(path, workdir=tmp_path / "work")
    return analyze_input(inp, load_facts(inp), tool_version="t")


def test_times_of_day_are_dated_from_the_members_time_across_midnight(tmp_path: Path) -> None:
    result = _analyze(_archive(tmp_path, {"prover-node.log": NODE_LOG, "containers.txt": PS}, MADE), tmp_path)
    records = [e for e in result.timeline if e.kind == "record"]
    assert [e.time for e in records] == [datetime(2026, 11, 27, 23, 59, 59, 500000, tzinfo=timezone.utc),
                                         datetime(2026, 11, 28, 0, 0, 0, 100000, tzinfo=timezone.utc)]
    assert any("dated from the time the archive's files were written" in w for w in result.input.warnings)
    assert result.verdict.started_at is not None and result.verdict.started_at.date().isoformat() == "2026-11-27"
    exited = [e for e in result.timeline if e.text.startswith("container exited")]
    assert [(e.container, e.time) for e in exited] == [("aztec-prover-prover-broker-1", MADE - timedelta(minutes=15))]


def test_a_date_in_the_system_information_wins_over_the_members_time(tmp_path: Path) -> None:
    files = {"prover-node.log": NODE_LOG, "system.txt": "Linux host 6.1\nFri Nov 28 00:25:00 UTC 2026\n"}
    result = _analyze(_archive(tmp_path, files, datetime(2030, 1, 1, tzinfo=timezone.utc)), tmp_path)
    times = [e.time for e in result.timeline if e.kind == "record"]
    assert times and times[0].date().isoformat() == "2026-11-27"
    assert any("the date in system.txt" in w for w in result.input.warnings)


def test_evidence_cites_files_of_the_archive_and_never_line_0(tmp_path: Path) -> None:
    files = {"prover-node.log": NODE_LOG, "containers.txt": PS, "memory.txt":
             "               total        used        free      shared  buff/cache   available\n"
             "Mem:           7.6Gi       806Mi       6.1Gi       8.7Mi       1.6Gi       6.6Gi\n"}
    result = _analyze(_archive(tmp_path, files, MADE), tmp_path)
    present = set(result.input.files)
    evidence = [(f.rule_id, e) for f in result.findings for e in f.evidence]
    assert evidence
    for rule_id, ev in evidence:
        assert ev.file in present and ev.line_start > 0, (rule_id, ev.file, ev.line_start)
    exit_137 = [ev for rule_id, ev in evidence if rule_id == "container-exit-137"]
    assert exit_137 and exit_137[0].file == "containers.txt" and "Exited (137)" in exit_137[0].lines[0]
    for entry in result.timeline:
        assert not entry.file or (entry.file in present and entry.line > 0), entry


@pytest.mark.parametrize(("status", "started", "finished"), [
    ("Up 17 seconds", MADE - timedelta(seconds=17), None),
    ("Up About an hour (healthy)", MADE - timedelta(hours=1), None),
    ("Up Less than a second", MADE, None),
    ("Exited (137) 9 seconds ago", None, MADE - timedelta(seconds=9)),
    ("Restarting (1) 3 minutes ago", None, MADE - timedelta(minutes=3)),
    ("Created", None, None),
])
def test_docker_ps_status_gives_times_relative_to_the_archive(status: str, started, finished) -> None:  # type: ignore[no-untyped-def]
    assert status_times(status, MADE) == (started, finished)
    assert status_times(status, None) == (None, None)


def test_a_fact_read_from_a_bundle_file_cites_the_line_that_states_it(tmp_path: Path) -> None:
    from nodediag.analyzer.context_lines import anchor_evidence
    from nodediag.analyzer.model import Evidence, Finding, LoadedInput

    (tmp_path / "probes").mkdir()
    (tmp_path / "probes" / "agent-status.json").write_text(
        '{\n  "container": "agent",\n  "url": "http://127.0.0.1:8080/status",\n  "status": null\n}\n')
    inp = LoadedInput(kind="bundle-v1", root=tmp_path, files=["probes/agent-status.json"], manifest={})
    evidence = Evidence("probes/agent-status.json", 0, 0, ["GET http://127.0.0.1:8080/status: refused"])
    finding = Finding("status-probe-unhealthy", "t", "high", "cause", "m", "a", evidence=[evidence])
    anchor_evidence([finding], [], inp)
    assert (evidence.file, evidence.line_start) == ("probes/agent-status.json", 3)
    assert evidence.note == "read as: GET http://127.0.0.1:8080/status: refused"
    lost = Evidence("host/summary.json", 0, 0, ["nothing to find here"])
    anchor_evidence([Finding("x", "t", "low", "info", "m", "a", evidence=[lost])], [], inp)
    assert (lost.file, lost.line_start, lost.note) == ("", 0, "derived from the input's facts")


def _redacted(archive: Path, tmp_path: Path) -> Path:
    from click.testing import CliRunner

    from nodediag.cli import main

    out = tmp_path / f"{archive.name}.redacted.tar.zst"
    result = CliRunner().invoke(main, ["redact", str(archive), "-o", str(out)])
    assert result.exit_code == 0, result.output
    return out


def _picture(result):  # type: ignore[no-untyped-def]
    """What must not change when the archive is converted: the findings with their times, the
    verdict, and the timeline's times and texts."""
    findings = sorted((f.rule_id, f.container, f.first_seen, f.last_seen, f.count) for f in result.findings)
    timeline = sorted((e.time, e.kind, e.container, e.text) for e in result.timeline)
    verdict = (result.verdict.rule_id, result.verdict.container, result.verdict.started_at)
    return findings, timeline, verdict


@pytest.mark.parametrize("dated_by", ["members", "system-info"])
def test_a_guide_archive_converted_by_redact_keeps_its_dates(tmp_path: Path, dated_by: str) -> None:
    files = {"prover-node.log": NODE_LOG, "containers.txt": PS,
             "agent.log": "[23:59:58.000] INFO: prover-client:proving-agent Starting job id=1 type=PUBLIC_VM\n"
                          "[00:10:00.000] WARN: prover-client:proving-agent Job id=1 type=PUBLIC_VM failed err=x\n"}
    mtime = MADE
    if dated_by == "system-info":
        files["system.txt"] = "Linux host 6.1\nFri Nov 28 00:25:00 UTC 2026\n"
        mtime = datetime(2030, 1, 1, tzinfo=timezone.utc)  # the date line wins
    archive = _archive(tmp_path, files, mtime)
    original = _analyze(archive, tmp_path / "a")
    converted = _analyze(_redacted(archive, tmp_path), tmp_path / "b")
    assert [e for e in original.timeline if e.kind == "record"]  # (the original is dated)
    assert _picture(converted) == _picture(original)
    assert converted.input.manifest is not None
    made = converted.input.manifest["converted_from"]
    assert made["made_at"] == ("2026-11-28T00:30:00Z" if dated_by == "members" else "2026-11-28T00:25:00Z")
    assert any("dated from" in w for w in converted.input.warnings)


def test_the_sample_guide_archive_converted_by_redact_keeps_timeline_and_verdict(tmp_path: Path) -> None:
    archive = Path(__file__).resolve().parents[2] / "samples" / "manual-guide-archive.tar.gz"
    original = _analyze(archive, tmp_path / "a")
    converted = _analyze(_redacted(archive, tmp_path), tmp_path / "b")
    assert original.timeline and _picture(converted) == _picture(original)
