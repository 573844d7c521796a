"""`nodediag archive` end to end, on SQLite and on PostgreSQL alike (the ``target`` fixture)."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest
import zstandard
from archive_targets import SAMPLES, ArchiveTarget
from click.testing import CliRunner, Result
from sqlalchemy import text

from nodediag.analyzer.archive import Archive
from nodediag.analyzer.archive.schema import LATEST
from nodediag.cli import main

# the lab samples collected in one run on 2026-11-27 (the date and host tests below rely on it);
# samples added by later lab runs carry other dates
BUNDLES = sorted(SAMPLES / name for name in (
    "agent-oom.tar.zst", "broker-died.tar.zst", "broker-status-500.tar.zst", "broker-unreachable.tar.zst",
    "disk-full.tar.zst", "l1-insufficient-funds.tar.zst", "node-heap-oom.tar.zst",
    "poll-ge-timeout.tar.zst", "restart-loop.tar.zst"))
EXPECTED = json.loads((SAMPLES / "expected.json").read_text())


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def add(target: ArchiveTarget, *paths: Path | str, extra: tuple[str, ...] = ()) -> Result:
    return run("archive", "add", *target.args(), *extra, *(str(p) for p in paths))


def listed(target: ArchiveTarget, *filters: str) -> list[dict[str, Any]]:
    result = run("archive", "list", *target.args(), "--json", *filters)
    assert result.exit_code == 0, result.output
    entries: list[dict[str, Any]] = json.loads(result.stdout)
    return entries


def ids_by_name(target: ArchiveTarget) -> dict[str, int]:
    return {e["name"]: e["id"] for e in listed(target)}


def one_line_error(result: Result) -> str:
    assert result.exit_code != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nodediag: error: "), result.stderr
    assert "Traceback" not in result.output
    return lines[0]


def tamper(source: Path, target: Path) -> None:
    """A copy of a bundle with one byte of one log changed (its manifest left as it was)."""
    raw = zstandard.ZstdDecompressor().stream_reader(source.open("rb"), read_across_frames=True).read()
    out = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(raw), mode="r:") as tar, tarfile.open(fileobj=out, mode="w:") as new:
        done = False
        for member in tar:
            data = tar.extractfile(member).read() if member.isfile() else None  # type: ignore[union-attr]
            if data is not None and not done and member.name.endswith("logs.txt") and len(data) > 10:
                data = data[:5] + (b"X" if data[5:6] != b"X" else b"Y") + data[6:]
                done = True
            new.addfile(member, io.BytesIO(data) if data is not None else None)
    target.write_bytes(zstandard.ZstdCompressor().compress(out.getvalue()))


@pytest.fixture
def filled(target: ArchiveTarget) -> ArchiveTarget:
    """Every sample bundle added once."""
    result = add(target, *BUNDLES)
    assert result.exit_code == 0, result.output
    return target


def test_add_stores_each_bundle_once_by_content(target: ArchiveTarget, tmp_path: Path) -> None:
    first = add(target, SAMPLES / "agent-oom.tar.zst", SAMPLES / "healthy.tar.zst")
    assert first.exit_code == 0, first.output
    copy = tmp_path / "renamed-copy.tar.zst"
    copy.write_bytes((SAMPLES / "agent-oom.tar.zst").read_bytes())
    again = add(target, copy, SAMPLES / "healthy.tar.zst")
    assert again.exit_code == 0, again.output
    assert again.stdout.count("already archived") == 2
    entries = listed(target)
    assert sorted(e["name"] for e in entries) == ["agent-oom.tar.zst", "healthy.tar.zst"]
    stored = [p for p in target.store.rglob("*") if p.is_file()]
    assert len(stored) == 2
    import hashlib
    assert {p.name.split(".")[0] for p in stored} == {
        hashlib.sha256((SAMPLES / n).read_bytes()).hexdigest() for n in ("agent-oom.tar.zst", "healthy.tar.zst")}


def test_add_keeps_metadata_and_one_row_per_finding(target: ArchiveTarget) -> None:
    assert add(target, SAMPLES / "agent-oom.tar.zst", extra=("--case-id", "SUP-4711", "--note", "agent died")
               ).exit_code == 0
    (entry,) = listed(target)
    assert entry["host"] == "vm" and entry["deployment"] == "aztec-prover" and entry["kind"] == "bundle-v1"
    assert entry["collected_at"] == "2026-11-27T19:49:35Z"
    assert entry["case_id"] == "SUP-4711" and entry["note"] == "agent died"
    assert entry["verdict_rule"] == "container-oom-killed" and entry["max_severity"] == "critical"
    analyzed = run("analyze", str(SAMPLES / "agent-oom.tar.zst"), "-f", "json")
    report = json.loads(analyzed.stdout)
    assert entry["rules"] == [f["rule_id"] for f in report["findings"]]
    with Archive.open(target.db, target.store) as arc, arc.engine.connect() as conn:
        rows = conn.execute(text("SELECT rule_id, role, container FROM findings ORDER BY id")).all()
    assert ("container-oom-killed", "prover-agent", "aztec-prover-prover-agent-1") in rows
    assert ("broker-job-timeout", "prover-broker", "aztec-prover-prover-broker-1") in rows


@pytest.mark.parametrize("name", ["manual-guide-archive.tar.gz"])
def test_add_takes_the_guides_archive_and_log_files(target: ArchiveTarget, tmp_path: Path, name: str) -> None:
    log = tmp_path / "node.log"
    log.write_text("[18:01:00.000] ERROR: prover-client:orchestrator Error thrown when proving job: "
                   "Error: Broker facade stopped\n"
                   "FATAL ERROR: Reached heap limit Allocation failed - JavaScript heap out of memory\n")
    result = add(target, SAMPLES / name, log)
    assert result.exit_code == 0, result.output
    kinds = {e["name"]: (e["kind"], e["verdict_rule"]) for e in listed(target)}
    assert kinds[name] == ("manual-guide", EXPECTED[name]["rule_id"] if isinstance(EXPECTED.get(name), dict)
                           else kinds[name][1])
    assert kinds["node.log"][0] == "single-log" and kinds["node.log"][1] == "v8-heap-oom"


def test_add_takes_folders_as_analyze_does(target: ArchiveTarget, tmp_path: Path) -> None:
    with zstandard.ZstdDecompressor().stream_reader((SAMPLES / "agent-oom.tar.zst").open("rb"),
                                                    read_across_frames=True) as raw, \
            tarfile.open(fileobj=raw, mode="r|") as tar:
        tar.extractall(tmp_path / "extracted", filter="data")
    (folder,) = (tmp_path / "extracted").iterdir()
    with tarfile.open(SAMPLES / "manual-guide-archive.tar.gz") as tar:
        tar.extractall(tmp_path / "guide", filter="data")
    guide = tmp_path / "guide" / "aztec_diagnostics"
    result = add(target, folder, guide)
    assert result.exit_code == 0, result.output
    again = add(target, folder)  # packed the same way twice: one entry
    assert "already archived" in again.stdout
    entries = {e["name"]: e for e in listed(target)}
    assert entries[f"{folder.name}.tar"]["verdict_rule"] == "container-oom-killed"
    assert entries["aztec_diagnostics.tar"]["kind"] == "manual-guide"
    # an extracted bundle whose file no longer matches its manifest is damaged
    log = next(folder.rglob("logs.txt"))
    log.write_bytes(log.read_bytes().replace(b"INFO", b"WARN", 1))
    refused = add(target, folder)
    assert "fails verification" in one_line_error(refused)


def test_a_bundle_that_fails_verify_is_refused_unless_forced(target: ArchiveTarget, tmp_path: Path) -> None:
    damaged = tmp_path / "damaged.tar.zst"
    tamper(SAMPLES / "broker-died.tar.zst", damaged)
    truncated = tmp_path / "truncated.tar.zst"
    truncated.write_bytes((SAMPLES / "healthy.tar.zst").read_bytes()[:5000])
    for bad in (damaged, truncated):
        refused = add(target, bad)
        assert "fails verification, nothing stored" in one_line_error(refused)
        assert refused.exit_code == 1
    assert listed(target) == []
    assert not target.store.exists() or not any(p.is_file() for p in target.store.rglob("*"))
    forced = add(target, damaged, truncated, extra=("--force",))
    assert forced.exit_code == 0, forced.output
    assert forced.stdout.count("stored as DAMAGED") == 2
    entries = {e["name"]: e for e in listed(target)}
    assert entries["damaged.tar.zst"]["damaged"] and entries["truncated.tar.zst"]["damaged"]
    assert entries["damaged.tar.zst"]["verdict_rule"] == "container-exit-137"  # still analyzed
    assert entries["truncated.tar.zst"]["analysis_error"]  # kept, though it cannot be analyzed
    no_report = run("archive", "show", str(entries["truncated.tar.zst"]["id"]), *target.args())
    assert "has no analysis" in one_line_error(no_report)
    listing = run("archive", "list", *target.args())
    assert listing.stdout.count("[damaged]") == 2


@pytest.fixture(scope="module")
def reports() -> dict[str, dict[str, Any]]:
    """What `nodediag analyze -f json` says of each sample: the oracle for the filters."""
    from nodediag.cli.archive import analyze_to_json

    return {p.name: analyze_to_json(p, p.name) for p in BUNDLES}


def having(reports: dict[str, dict[str, Any]], rule: str | None = None, role: str | None = None,
           min_severity: str | None = None) -> list[str]:
    from nodediag.analyzer.model import SEVERITY_RANK

    found = []
    for name, report in reports.items():
        roles = {c["name"]: c["role"] for c in report["facts"]["containers"]}
        for f in report["findings"]:
            if ((rule is None or f["rule_id"] == rule) and (role is None or roles.get(f["container"]) == role)
                    and (min_severity is None or SEVERITY_RANK[f["severity"]] >= SEVERITY_RANK[min_severity])):
                found.append(name)
                break
    return sorted(found)


def test_list_filters_on_findings(filled: ArchiveTarget, reports: dict[str, dict[str, Any]]) -> None:
    names = lambda *f: sorted(e["name"] for e in listed(filled, *f))  # noqa: E731
    assert names("--rule", "container-oom-killed") == ["agent-oom.tar.zst"]
    unreachable = names("--rule", "broker-unreachable")
    assert unreachable == having(reports, "broker-unreachable")
    assert {"broker-died.tar.zst", "broker-status-500.tar.zst", "broker-unreachable.tar.zst"} <= set(unreachable)
    assert names("--rule", "no-such-rule") == []
    critical = names("--severity", "critical")
    assert critical == having(reports, min_severity="critical")
    assert "agent-oom.tar.zst" in critical and "healthy.tar.zst" not in critical
    assert set(critical) < set(names("--severity", "high"))
    # --rule and --role apply to the same finding
    assert names("--rule", "broker-unreachable", "--role", "prover-agent") == having(
        reports, "broker-unreachable", "prover-agent")
    assert names("--role", "prover-broker", "--severity", "critical") == having(
        reports, role="prover-broker", min_severity="critical")
    assert names("--rule", "container-oom-killed", "--role", "prover-node") == []
    assert len(names("--host", "vm")) == len(BUNDLES) and names("--host", "elsewhere") == []


def test_list_is_newest_first_and_filters_on_time(filled: ArchiveTarget) -> None:
    entries = listed(filled)
    times = [e["occurred_at"] for e in entries]
    assert times == sorted(times, reverse=True)
    assert names_between(filled, "2026-11-27T19:49:40Z", "2026-11-27T19:49:50Z") == sorted(
        e["name"] for e in entries if "2026-11-27T19:49:40Z" <= e["occurred_at"] <= "2026-11-27T19:49:50Z")
    assert listed(filled, "--since", "2026-11-28") == []
    assert len(listed(filled, "--until", "2026-11-28")) == len(BUNDLES)
    assert len(listed(filled, "--limit", "2")) == 2
    bad = run("archive", "list", *filled.args(), "--since", "last tuesday")
    assert "--since" in one_line_error(bad)


def names_between(target: ArchiveTarget, since: str, until: str) -> list[str]:
    return sorted(e["name"] for e in listed(target, "--since", since, "--until", until))


def test_list_text_is_a_full_text_search_of_findings_and_verdicts(filled: ArchiveTarget) -> None:
    names = lambda words: sorted(e["name"] for e in listed(filled, "--text", words))  # noqa: E731
    assert names("heap") == ["node-heap-oom.tar.zst"]
    assert names("memory heap out") == ["node-heap-oom.tar.zst"]  # every word, any order
    assert names("insufficient funds") == ["l1-insufficient-funds.tar.zst"]
    assert "disk-full.tar.zst" in names("ENOSPC")  # evidence lines are searched too
    assert "agent-oom.tar.zst" in names("OOMKilled") and "healthy.tar.zst" not in names("OOMKilled")
    assert names("heap zebra") == []
    # words are words, not query syntax
    assert names('heap" OR "funds') == []
    assert "nodediag: error: --text needs at least one word" in run(
        "archive", "list", *filled.args(), "--text", " -- ").stderr


def test_show_renders_the_stored_report(filled: ArchiveTarget, tmp_path: Path) -> None:
    ids = ids_by_name(filled)
    number = str(ids["l1-insufficient-funds.tar.zst"])
    as_json = run("archive", "show", number, *filled.args(), "-f", "json")
    assert json.loads(as_json.stdout)["verdict"]["rule_id"] == "l1-insufficient-funds"
    as_md = run("archive", "show", number, *filled.args(), "-f", "md")
    assert "l1-insufficient-funds" in as_md.stdout and as_md.stdout.startswith("## nodediag")
    page = tmp_path / "r.html"
    assert run("archive", "show", number, *filled.args(), "-f", "html", "-o", str(page)).exit_code == 0
    assert "<!DOCTYPE html>" in page.read_text() and "l1-insufficient-funds" in page.read_text()
    assert "no archive entry #999" in one_line_error(run("archive", "show", "999", *filled.args()))
    assert "not an archive id" in one_line_error(run("archive", "show", "abc", *filled.args()))


def test_reanalyze_runs_the_current_rules_and_keeps_the_verdict_history(target: ArchiveTarget) -> None:
    def older_rules(path: Path, name: str) -> dict[str, Any]:
        from nodediag.cli.archive import analyze_to_json

        report = analyze_to_json(path, name)
        report["tool_version"] = "0.0.1"
        report["findings"] = [f for f in report["findings"] if f["rule_id"] != "container-oom-killed"]
        report["verdict"] = {"headline": "nothing found", "rule_id": None, "container": "", "started_at": None,
                             "confidence": "low"}
        return report

    with Archive.open(target.db, target.store) as arc:
        added = arc.add(SAMPLES / "agent-oom.tar.zst", older_rules)
    assert added.status == "added" and added.id is not None
    assert listed(target, "--rule", "container-oom-killed") == []
    result = run("archive", "reanalyze", *target.args(), str(added.id))
    assert result.exit_code == 0, result.output
    assert f"#{added.id}: none -> container-oom-killed (CHANGED)" in result.stdout
    assert [e["id"] for e in listed(target, "--rule", "container-oom-killed")] == [added.id]
    assert [e["id"] for e in listed(target, "--text", "OOMKilled")] == [added.id]
    again = run("archive", "reanalyze", *target.args(), "--all")
    assert f"#{added.id}: container-oom-killed -> container-oom-killed (unchanged)" in again.stdout
    history = run("archive", "show", str(added.id), *target.args(), "--history").stdout.splitlines()
    assert len(history) == 3
    assert "nodediag 0.0.1" in history[0] and history[0].rstrip().endswith("none")
    assert history[2].startswith("*") and history[2].rstrip().endswith("container-oom-killed")
    assert "give archive ids or --all" in one_line_error(run("archive", "reanalyze", *target.args()))


def test_trends_counts_rules_per_period_host_and_deployment(filled: ArchiveTarget, tmp_path: Path,
                                                            reports: dict[str, dict[str, Any]]) -> None:
    result = run("archive", "trends", *filled.args(), "--json", "--by", "day")
    data = json.loads(result.stdout)
    assert data["buckets"] == ["2026-11-27"] and data["incidents_per_bucket"] == {"2026-11-27": len(BUNDLES)}
    unreachable = len(having(reports, "broker-unreachable"))
    assert data["rules"]["broker-unreachable"] == {"2026-11-27": unreachable}
    assert data["rules"]["container-oom-killed"] == {"2026-11-27": 1}
    assert data["by_host"]["vm"]["broker-unreachable"] == unreachable
    assert data["by_deployment"]["aztec-prover"]["container-oom-killed"] == 1
    verdicts = [r["verdict"]["rule_id"] for r in reports.values()]
    assert data["verdicts"]["broker-unreachable"] == verdicts.count("broker-unreachable")
    assert len(data["incidents"]) == len(BUNDLES)
    weekly = json.loads(run("archive", "trends", *filled.args(), "--json").stdout)
    assert weekly["buckets"] == ["2026-11-23"]  # the Monday of the week
    page = tmp_path / "trends.html"
    assert run("archive", "trends", *filled.args(), "-o", str(page)).exit_code == 0
    html = page.read_text()
    assert "<svg" in html and "<rect" in html and "container-oom-killed" in html
    assert html.count("<tr><td>") >= len(BUNDLES)  # the incident list
    assert "<script" not in html and "http://" not in html and "https://" not in html
    assert "default-src 'none'" in html
    text_out = run("archive", "trends", *filled.args()).stdout
    assert "broker-unreachable" in text_out and "2026-11-23" in text_out


def test_schema_is_migrated_on_open(target: ArchiveTarget) -> None:
    assert add(target, SAMPLES / "node-heap-oom.tar.zst").exit_code == 0
    # make it a version-1 archive: no full-text index yet
    with Archive.open(target.db, target.store) as arc, arc.engine.begin() as conn:
        conn.execute(text("DROP TABLE analysis_search"))
        conn.execute(text("DELETE FROM archive_schema WHERE version > 1"))
    assert [e["name"] for e in listed(target, "--text", "heap")] == ["node-heap-oom.tar.zst"]
    with Archive.open(target.db, target.store) as arc, arc.engine.begin() as conn:
        versions = conn.execute(text("SELECT version FROM archive_schema ORDER BY version")).scalars().all()
        assert versions == list(range(1, LATEST + 1))
        conn.execute(text(f"INSERT INTO archive_schema (version, applied_at) VALUES ({LATEST + 1}, "
                          "CURRENT_TIMESTAMP)"))
    newer = run("archive", "list", *target.args())
    assert "newer than this nodediag knows" in one_line_error(newer)


def test_two_processes_adding_at_once_neither_corrupt_nor_duplicate(target: ArchiveTarget) -> None:
    chosen = [SAMPLES / n for n in ("agent-oom.tar.zst", "broker-died.tar.zst", "disk-full.tar.zst",
                                    "healthy.tar.zst")]
    command = [sys.executable, "-m", "nodediag", "archive", "add", *target.args()]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    procs = [subprocess.Popen(command + [str(p) for p in order], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=env)
             for order in (chosen, list(reversed(chosen)))]
    outputs = [p.communicate(timeout=300) for p in procs]
    for proc, (_, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
        assert "Traceback" not in err
    entries = listed(target)
    assert sorted(e["name"] for e in entries) == sorted(p.name for p in chosen)
    assert len({e["id"] for e in entries}) == len(chosen)
    assert len([p for p in target.store.rglob("*") if p.is_file()]) == len(chosen)
    combined = "".join(out for out, _ in outputs)
    # one line per bundle and process: "#ID PATH: <the verdict>" or "#ID PATH: already archived"
    lines = [line for line in combined.splitlines() if re.match(r"#\d+ ", line)]
    assert len(lines) == 2 * len(chosen)
    assert combined.count("already archived") == len(chosen)
    with Archive.open(target.db, target.store) as arc, arc.engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM analyses")).scalar() == len(chosen)


def test_diff_takes_archive_ids(filled: ArchiveTarget) -> None:
    ids = ids_by_name(filled)
    result = run("diff", str(ids["broker-died.tar.zst"]), f"#{ids['agent-oom.tar.zst']}", *filled.args(), "-f", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    appeared = {(f["rule_id"], f["change"]) for f in data["findings"]}
    assert ("container-oom-killed", "appeared") in appeared
    assert data["b_name"] == f"#{ids['agent-oom.tar.zst']} agent-oom.tar.zst"


def test_an_unreachable_server_is_a_one_line_error(tmp_path: Path) -> None:
    for url in (f"postgresql://nodediag@/archive?host={tmp_path}/no-server-here",
                "postgresql://support:s3cret-pw@127.0.0.1:1/archive"):
        line = one_line_error(run("archive", "list", "--db", url))
        assert line.startswith("nodediag: error: cannot reach the archive database postgresql://")
        assert "s3cret-pw" not in line
    assert "unsupported database (mysql)" in one_line_error(run("archive", "list", "--db", "mysql://x/y"))


def test_default_archive_is_in_the_xdg_data_folder_and_the_env_var_overrides_it(tmp_path: Path) -> None:
    env = {"XDG_DATA_HOME": str(tmp_path / "xdg"), "NODEDIAG_ARCHIVE_DB": "", "NODEDIAG_ARCHIVE_STORE": ""}
    assert run("archive", "add", str(SAMPLES / "healthy.tar.zst"), env=env).exit_code == 0
    assert (tmp_path / "xdg" / "nodediag" / "archive.db").is_file()
    assert len([p for p in (tmp_path / "xdg" / "nodediag" / "store").rglob("*") if p.is_file()]) == 1
    team = {**env, "NODEDIAG_ARCHIVE_DB": str(tmp_path / "team.db"), "NODEDIAG_ARCHIVE_STORE": str(tmp_path / "shared")}
    assert run("archive", "add", str(SAMPLES / "agent-oom.tar.zst"), env=team).exit_code == 0
    assert (tmp_path / "team.db").is_file() and any((tmp_path / "shared").rglob("*.tar.zst"))
    names = [e["name"] for e in json.loads(run("archive", "list", "--json", env=team).stdout)]
    assert names == ["agent-oom.tar.zst"]


def test_add_refuses_what_it_cannot_store_in_one_line(tmp_path: Path) -> None:
    db = ["--db", str(tmp_path / "a.db")]
    missing = run("archive", "add", *db, str(tmp_path / "nope.tar.zst"))
    assert "does not exist" in one_line_error(missing) and missing.exit_code == 1
    linked = tmp_path / "linked"
    linked.mkdir()
    (linked / "manifest.json").symlink_to("/etc/passwd")
    assert "is a link or a special file" in one_line_error(run("archive", "add", *db, str(linked)))
    junk = tmp_path / "junk.bin"
    junk.write_bytes(bytes(range(256)) * 8)
    assert "nothing stored" in one_line_error(run("archive", "add", *db, str(junk)))


def test_sqlite_busy_while_another_process_closes_is_waited_out(tmp_path: Path) -> None:
    """SQLite in WAL mode answers "database is locked" at once, without its busy timeout, to a
    connection opened while the last connection of another process cleans up the WAL on close
    (sqlite.org/wal.html, "Sometimes Queries Return SQLITE_BUSY In WAL Mode"): two `archive add`
    at once met it in CI. Such an answer at connect or begin is tried again, not a failed add."""
    import sqlite3

    from sqlalchemy import event as sa_event

    db, store = tmp_path / "a.db", tmp_path / "store"
    Archive.open(str(db), store).close()
    refused = {"left": 3}
    real_open = Archive.open.__func__  # type: ignore[attr-defined]

    def open_refusing(cls, *args, **kwargs):  # the first connections meet another's WAL cleanup
        from nodediag.analyzer.archive import archive as module

        real_engine = module._sqlite_engine

        def engine_refusing(location):
            engine = real_engine(location)

            @sa_event.listens_for(engine, "do_connect")
            def _busy(dialect, conn_rec, cargs, cparams):
                if refused["left"]:
                    refused["left"] -= 1
                    raise sqlite3.OperationalError("database is locked")
                return None

            return engine

        module._sqlite_engine = engine_refusing
        try:
            return real_open(cls, *args, **kwargs)
        finally:
            module._sqlite_engine = real_engine

    with open_refusing(Archive, str(db), store) as arc, arc.engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM bundles")).scalar() == 0
    assert refused["left"] == 0
