"""`nodediag collect` as operators and scripts see it, without Docker (DOCKER_HOST points nowhere, so
every run is a host-only bundle): exit codes, --json, --quiet, --case-id, file modes, option checks,
an unreadable kernel log. The Docker side is in tests/docker/test_collect*.py."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def run(*args: str, cwd: Path, env: dict[str, str] | None = None, umask: int | None = None,
        ) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "PYTHONPATH": str(REPO), "DOCKER_HOST": f"unix://{cwd}/no-docker.sock", **(env or {})}
    preexec = (lambda: os.umask(umask)) if umask is not None else None
    return subprocess.run([sys.executable, "-m", "nodediag", "collect", *args], capture_output=True, text=True,
                          env=full, cwd=cwd, timeout=120, preexec_fn=preexec)


def manifest_of(bundle: Path) -> dict:
    sys.path.insert(0, str(REPO))
    from nodediag.bundle.verify import verify_bundle

    report = verify_bundle(bundle)
    assert report.ok, report.problems
    return report.manifest


def test_host_only_bundle_is_partial_exit_4_and_the_json_says_why(tmp_path):
    proc = run("--json", "--timeout", "30s", cwd=tmp_path)
    assert proc.returncode == 4, proc.stderr
    summary = json.loads(proc.stdout)  # stdout holds exactly one JSON object
    bundle = Path(summary["bundle"]) if Path(summary["bundle"]).is_absolute() else tmp_path / summary["bundle"]
    assert bundle.is_file() and summary["size"] == bundle.stat().st_size
    import hashlib
    assert summary["sha256"] == hashlib.sha256(bundle.read_bytes()).hexdigest()
    assert summary["exit_code"] == 4 and summary["complete"] is False
    assert any("Docker was not reachable" in r for r in summary["partial_reasons"])
    by_name = {s["name"]: s for s in summary["sources"]}
    assert by_name["docker_connect"]["status"] == "failed"
    assert by_name["host_summary"]["status"] == "ok" and by_name["host_summary"]["duration_s"] >= 0
    assert "redaction" in summary
    manifest = manifest_of(bundle)
    assert manifest["partial_reasons"] == summary["partial_reasons"]


def test_files_are_owner_only_whatever_the_umask(tmp_path):
    proc = run("-o", str(tmp_path / "b.tar.zst"), cwd=tmp_path, umask=0)
    assert proc.returncode == 4, proc.stderr
    mode = stat.S_IMODE((tmp_path / "b.tar.zst").stat().st_mode)
    assert mode == 0o600, oct(mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.tar.zst"]  # no temporary left


def test_quiet_prints_only_the_path_and_json_quiet_only_the_object(tmp_path):
    proc = run("--quiet", "-o", str(tmp_path / "q.tar.zst"), cwd=tmp_path)
    assert proc.returncode == 4
    assert proc.stdout.strip() == str(tmp_path / "q.tar.zst") and proc.stderr == ""
    proc = run("--quiet", "--json", "-o", str(tmp_path / "j.tar.zst"), cwd=tmp_path)
    assert proc.returncode == 4 and proc.stderr == ""
    assert json.loads(proc.stdout)["bundle"] == str(tmp_path / "j.tar.zst")


def test_case_id_goes_in_the_name_and_the_manifest(tmp_path):
    proc = run("--case-id", "TICKET-4711", "--quiet", cwd=tmp_path)
    assert proc.returncode == 4, proc.stderr
    written = [p for p in tmp_path.iterdir() if p.suffix == ".zst"]
    assert len(written) == 1 and written[0].name.startswith("nodediag-TICKET-4711-")
    assert proc.stdout.strip() == written[0].name
    assert manifest_of(written[0])["case_id"] == "TICKET-4711"


@pytest.mark.parametrize(("args", "words"), [
    (["--timeout", "0"], "--timeout must be more than 0"),
    (["--timeout", "0s"], "--timeout must be more than 0"),
    (["--exclude", "container_log"], "valid names: "),
    (["--project", "p", "--container", "c"], "cannot be used together"),
    (["--all", "--project", "p"], "--all cannot be used with"),
    (["--case-id", "../etc"], "--case-id"),
    (["--since", "2026-13-45T00:00:00Z"], "ISO-8601"),
    (["--since", "2026-12-02T10:00:00Z", "--until", "2026-12-01T10:00:00Z"], "must be before --until"),
    (["--line-cap", "lots"], "not a size"),
    (["--dry-run", "--quiet"], "--quiet cannot be used with --dry-run"),
])
def test_usage_errors_exit_2_in_one_line_and_write_nothing(tmp_path, args, words):
    proc = run(*args, cwd=tmp_path)
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nodediag: error:") and words in lines[0], proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_exclude_error_lists_the_valid_names(tmp_path):
    proc = run("--exclude", "host_proceses", cwd=tmp_path)
    assert proc.returncode == 2
    for name in ("host_processes", "container_logs", "kernel_oom", "probe_status"):
        assert name in proc.stderr


def test_iso_since_and_until_set_the_window(tmp_path):
    out = tmp_path / "w.tar.zst"
    proc = run("--since", "2026-12-01T08:00:00Z", "--until", "2026-12-01T09:30:00+01:00", "-o", str(out),
               cwd=tmp_path)
    assert proc.returncode == 4, proc.stderr
    window = manifest_of(out)["window"]
    assert window == {"since": "2026-12-01T08:00:00Z", "until": "2026-12-01T08:30:00Z"}


def _shims(folder: Path) -> Path:
    """dmesg and journalctl as a docker-group member sees them: dmesg refused, journalctl empty with a hint."""
    folder.mkdir()
    (folder / "dmesg").write_text("#!/bin/sh\necho 'dmesg: read kernel buffer failed: Operation not permitted' >&2\n"
                                  "exit 1\n")
    (folder / "journalctl").write_text("#!/bin/sh\necho 'Hint: You are currently not seeing messages from other "
                                       "users and the system.' >&2\nexit 0\n")
    for f in folder.iterdir():
        f.chmod(0o755)
    return folder


def test_unreadable_kernel_log_is_a_failed_source_not_an_empty_success(tmp_path):
    shims = _shims(tmp_path / "bin")
    work = tmp_path / "work"
    work.mkdir()
    proc = run("--json", "-o", str(work / "k.tar.zst"), cwd=work, env={"PATH": f"{shims}:{os.environ['PATH']}"})
    assert proc.returncode == 4
    kernel = next(s for s in json.loads(proc.stdout)["sources"] if s["name"] == "kernel_oom")
    assert kernel["status"] == "failed" and "permission" in kernel["error"] and "run as root" in kernel["error"]
    assert not kernel["files"]
    assert any("kernel_oom (failed)" in r for r in json.loads(proc.stdout)["partial_reasons"])


def test_unwritable_output_exits_1_and_json_still_answers(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    proc = run("--json", "-o", str(blocker / "b.tar.zst"), cwd=tmp_path)
    assert proc.returncode == 1
    assert json.loads(proc.stdout)["exit_code"] == 1 and "Traceback" not in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]


def test_help_documents_the_exit_codes(tmp_path):
    text = run("--help", cwd=tmp_path).stdout
    for line in ("0  a complete bundle", "4  a bundle was written but it is partial", "1  no bundle",
                 "2  usage error"):
        assert line in text


def test_two_collects_at_once_keep_both_bundles_and_name_files_that_exist(tmp_path):
    full = {**os.environ, "PYTHONPATH": str(REPO), "DOCKER_HOST": f"unix://{tmp_path}/no-docker.sock"}
    out = tmp_path / "same.tar.zst"
    procs = [subprocess.Popen([sys.executable, "-m", "nodediag", "collect", "--json", "-o", str(out)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=full, cwd=tmp_path)
             for _ in range(2)]
    summaries = []
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 4, stderr
        summaries.append(json.loads(stdout))
    paths = sorted(Path(s["bundle"]) for s in summaries)
    assert paths == [tmp_path / "same-2.tar.zst", out]
    for path in paths:
        manifest_of(path)  # verifies
    loser = next(s for s in summaries if s["bundle"].endswith("-2.tar.zst"))
    named = [w for w in loser["warnings"] if "this bundle is written as" in w]
    assert named and named[0].endswith(loser["bundle"]) and Path(loser["bundle"]).exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["same-2.tar.zst", "same.tar.zst"]
