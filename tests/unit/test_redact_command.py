"""`nodediag redact` and `nodediag inspect` on real archives: a bundle written by BundleWriter and
the manual guide's aztec_diagnostics.tar.gz. No Docker needed."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import zstandard

from nodediag.bundle.writer import BundleWriter
from tests.unit.test_inputs_manual_guide import API_KEY, PRIVATE_KEY, write_guide_tgz

REPO = Path(__file__).resolve().parents[2]
OPERATOR_SECRET = "internal-host-7f3kq9"
LOG = ("2026-11-27T18:00:00.000000000Z INFO: prover-node connected to db-7f3kq9.corp.example\n"
       f"2026-11-27T18:00:01.000000000Z INFO: relay {OPERATOR_SECRET} ok, peer 8.8.8.8 and 10.0.0.3\n"
       "2026-11-27T18:00:02.000000000Z INFO: order ref ORD-99812734 shipped\n")


def nodediag(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "nodediag", *args], capture_output=True, text=True, env=env,
                          timeout=120)


def members(bundle: Path) -> dict[str, bytes]:
    raw = zstandard.ZstdDecompressor().stream_reader(bundle.read_bytes(), read_across_frames=True)
    out = {}
    with tarfile.open(fileobj=raw, mode="r|") as tar:
        for m in tar:
            if m.isfile():
                out[m.name.split("/", 1)[1]] = tar.extractfile(m).read()  # type: ignore[union-attr]
    return out


def make_bundle(path: Path) -> Path:
    writer = BundleWriter.create(path)
    writer.add_bytes("containers/node/logs.txt", LOG.encode(), "container_logs:node", {"private_key": 1})
    writer.add_bytes("config/p/.env", b"LOG_LEVEL=info\nPROVER_PUBLISHER_PRIVATE_KEY=[REDACTED:private_key#0a1b2c3d]\n",
                     "config:/srv/p/.env", {"private_key": 1})
    writer.finish({"format": "nodediag-bundle", "format_version": 1, "tool": {"name": "nodediag", "version": "0.0.9"},
                   "created_at": "2026-11-27T18:30:00Z", "status": "complete",
                   "sources": [{"name": "container_logs:node", "status": "ok", "duration_s": 1.0, "error": None,
                                "files": ["containers/node/logs.txt"]},
                               {"name": "host_processes", "status": "skipped", "duration_s": 0.0,
                                "error": "excluded with --exclude host_processes", "files": []}],
                   "redaction": {"totals": {"private_key": 2},
                                 "redacted_lines": {"config/p/.env": {"private_key": [2]}}}})
    return path


def test_re_redaction_removes_operator_secrets_and_records_it(tmp_path: Path) -> None:
    src = make_bundle(tmp_path / "in.tar.zst")
    before = src.read_bytes()
    out = tmp_path / "out.tar.zst"
    proc = nodediag("redact", str(src), "-o", str(out), "--secret", OPERATOR_SECRET,
                    "--pattern", r"ORD-(\d{8})", "--redact-ips")
    assert proc.returncode == 0, proc.stderr
    assert src.read_bytes() == before  # the input is never touched
    files = members(out)
    log = files["containers/node/logs.txt"].decode()
    assert OPERATOR_SECRET not in log and "8.8.8.8" not in log and "99812734" not in log
    assert "10.0.0.3" in log and "ORD-[REDACTED:pattern#" in log and "[REDACTED:literal#" in log
    manifest = json.loads(files["manifest.json"])
    assert [s["name"] for s in manifest["sources"]] == ["container_logs:node", "host_processes"]
    entry = manifest["redaction"]["re_redacted"][-1]
    assert entry["operator_secrets"] == 1 and entry["patterns"] == 1 and entry["redact_ips"] is True
    for f in manifest["files"]:
        data = files[f["path"]]
        assert f["size"] == len(data) and f["sha256"] == hashlib.sha256(data).hexdigest()
    log_entry = next(f for f in manifest["files"] if f["path"] == "containers/node/logs.txt")
    assert log_entry["redactions"] == {"private_key": 1, "literal": 1, "pattern": 1, "ip": 1}
    assert manifest["redaction"]["redacted_lines"]["containers/node/logs.txt"]["literal"] == [2]
    assert manifest["redaction"]["redacted_lines"]["config/p/.env"] == {"private_key": [2]}
    assert nodediag("verify", str(out)).returncode == 0


def test_re_redacting_twice_changes_nothing_more(tmp_path: Path) -> None:
    once = tmp_path / "once.tar.zst"
    assert nodediag("redact", str(make_bundle(tmp_path / "in.tar.zst")), "-o", str(once),
                    "--secret", OPERATOR_SECRET).returncode == 0
    twice = tmp_path / "twice.tar.zst"
    assert nodediag("redact", str(once), "-o", str(twice), "--secret", OPERATOR_SECRET).returncode == 0
    a, b = members(once), members(twice)
    assert {k: v for k, v in a.items() if k != "manifest.json"} == {k: v for k, v in b.items() if k != "manifest.json"}
    assert len(json.loads(b["manifest.json"])["redaction"]["re_redacted"]) == 2


def test_manual_guide_archive_becomes_a_clean_bundle(tmp_path: Path) -> None:
    guide = write_guide_tgz(tmp_path / "aztec_diagnostics.tar.gz")
    out = tmp_path / "guide.tar.zst"
    proc = nodediag("redact", str(guide), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    files = members(out)
    blob = b"\n".join(files.values()).lower()
    assert PRIVATE_KEY.encode() not in blob and API_KEY.lower().encode() not in blob
    assert "containers/prover-node/logs.txt" in files and "config/guide/config.env" in files
    assert b"PROVER_PUBLISHER_PRIVATE_KEY=0x[REDACTED:private_key#" in files["config/guide/config.env"] or \
        b"PROVER_PUBLISHER_PRIVATE_KEY=[REDACTED:private_key#" in files["config/guide/config.env"]
    manifest = json.loads(files["manifest.json"])
    assert manifest["converted_from"]["kind"] == "manual-guide"
    assert {c["role"] for c in manifest["deployment"]["containers"]} == {"prover-node", "prover-broker", "prover-agent"}
    assert nodediag("verify", str(out)).returncode == 0
    shown = nodediag("inspect", str(out))
    assert shown.returncode == 0 and "config/guide/config.env" in shown.stdout
    assert "redacted private_key" in shown.stdout and PRIVATE_KEY not in shown.stdout


def test_inspect_lists_sources_files_and_lines_never_values(tmp_path: Path) -> None:
    out = tmp_path / "out.tar.zst"
    assert nodediag("redact", str(make_bundle(tmp_path / "in.tar.zst")), "-o", str(out),
                    "--secret", OPERATOR_SECRET).returncode == 0
    text = nodediag("inspect", str(out))
    assert text.returncode == 0, text.stderr
    assert "skipped   host_processes  (excluded with --exclude host_processes)" in text.stdout
    assert "redacted literal x1 (line 2)" in text.stdout and OPERATOR_SECRET not in text.stdout
    data = json.loads(nodediag("inspect", "--json", str(out)).stdout)
    node = next(f for f in data["files"] if f["path"] == "containers/node/logs.txt")
    assert node["redacted_lines"]["literal"] == [2] and node["redactions"]["literal"] == 1
    assert "redacted_lines" not in data["redaction"]


@pytest.mark.parametrize("case", ["missing", "not-a-bundle", "output-exists", "short-secret", "bad-pattern",
                                  "missing-secrets-file"])
def test_bad_input_is_one_line_and_non_zero(tmp_path: Path, case: str) -> None:
    src = make_bundle(tmp_path / "in.tar.zst")
    out = tmp_path / "out.tar.zst"
    args = ["redact", str(src), "-o", str(out)]
    if case == "missing":
        args[1] = str(tmp_path / "nope.tar.zst")
    elif case == "not-a-bundle":  # (a text file is a log: redact copies it)
        (tmp_path / "blob.bin").write_bytes(b"\x00\x01\x02binary\xff" * 10)
        args[1] = str(tmp_path / "blob.bin")
    elif case == "output-exists":
        out.write_bytes(b"precious")
    elif case == "short-secret":
        args += ["--secret", "abc"]
    elif case == "bad-pattern":
        args += ["--pattern", "(unclosed"]
    else:
        args += ["--secrets-file", str(tmp_path / "none.txt")]
    proc = nodediag(*args)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nodediag: error:") and "Traceback" not in proc.stderr
    if case == "output-exists":
        assert out.read_bytes() == b"precious"
    else:
        assert not out.exists()


@pytest.mark.parametrize("case", ["missing", "not-a-bundle", "tar-without-manifest"])
def test_inspect_bad_input(tmp_path: Path, case: str) -> None:
    path = tmp_path / "x.tar.zst"
    if case == "not-a-bundle":
        path.write_text("plain text\n")
    elif case == "tar-without-manifest":
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            info = tarfile.TarInfo("top/a.txt")
            info.size = 1
            tar.addfile(info, io.BytesIO(b"a"))
        path.write_bytes(zstandard.ZstdCompressor().compress(buf.getvalue()))
    proc = nodediag("inspect", str(path))
    assert proc.returncode != 0 and proc.stderr.startswith("nodediag: error:")
    assert len(proc.stderr.strip().splitlines()) == 1


def test_every_new_command_has_help() -> None:
    for cmd in ("inspect", "redact", "collect"):
        proc = nodediag(cmd, "--help")
        assert proc.returncode == 0 and "Usage:" in proc.stdout
    assert "--dry-run" in nodediag("collect", "--help").stdout


def test_the_converted_guide_archive_keeps_what_the_analyzer_needs(tmp_path: Path) -> None:
    import json as _json

    from click.testing import CliRunner

    from nodediag.cli import main

    archive = Path(__file__).resolve().parents[2] / "samples" / "manual-guide-archive.tar.gz"
    bundle = tmp_path / "converted.tar.zst"
    assert CliRunner().invoke(main, ["redact", str(archive), "-o", str(bundle)]).exit_code == 0

    def report(source: Path) -> dict:
        out = tmp_path / f"{source.name}.json"
        CliRunner().invoke(main, ["analyze", str(source), "-f", "json", "-o", str(out)])
        return _json.loads(out.read_text())

    original, converted = report(archive), report(bundle)
    rules = sorted(f["rule_id"] for f in original["findings"])
    assert "container-exit-137" in rules
    assert sorted(f["rule_id"] for f in converted["findings"]) == rules
    for needle in ("UNREDACTED", "broker.log is empty", "No such container"):
        assert any(needle in w for w in converted["input"]["warnings"]), needle


RAW_KEY = "0x48d4e793834a2f52201978ae8702a3ff95d7833a191251728c91f1884cc929e1"
RAW_LOG = ("2026-11-27T18:30:00.000000000Z [18:30:00.000] INFO: archiver Fetching "
           "https://eth-mainnet.g.alchemy.com/v2/Lq8vT3xZp7Rk2Wm9Yn4Bc6Hd: retry\n"
           "2026-11-27T18:30:01.000000000Z [18:30:01.000] INFO: prover-node "
           "Authorization: Bearer Tk5pQ9wE2rY7uI3oP8aS\n"
           "2026-11-27T18:30:02.000000000Z [18:30:02.000] INFO: prover-node tx "
           "0x9f8e7d6c5b4a39281706f5e4d3c2b1a0f9e8d7c6b5a4938271605f4e3d2c1b0a\n")


@pytest.mark.parametrize("compress", ["", ".gz", ".zst"])
def test_redact_writes_a_redacted_copy_of_a_log_file(tmp_path: Path, compress: str) -> None:
    import gzip as _gzip

    from click.testing import CliRunner

    from nodediag.cli import main

    data = RAW_LOG.encode()
    src = tmp_path / f"node.log{compress}"
    src.write_bytes(_gzip.compress(data) if compress == ".gz" else
                    zstandard.ZstdCompressor().compress(data) if compress == ".zst" else data)
    out = tmp_path / "clean.log"
    result = CliRunner().invoke(main, ["redact", str(src), "-o", str(out)])
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert "Lq8vT3xZp7Rk2Wm9Yn4Bc6Hd" not in text and "Tk5pQ9wE2rY7uI3oP8aS" not in text
    assert "0x9f8e7d6c5b4a39281706f5e4d3c2b1a0f9e8d7c6b5a4938271605f4e3d2c1b0a" in text
    assert len(text.splitlines()) == 3
    again = CliRunner().invoke(main, ["redact", str(src), "-o", str(out)])
    assert again.exit_code == 1 and "already exists" in again.output and "Traceback" not in again.output


def test_redact_writes_a_redacted_copy_of_a_folder(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from nodediag.cli import main

    src = tmp_path / "deploy"
    (src / "logs").mkdir(parents=True)
    (src / ".env").write_text(f'PROVER_PUBLISHER_PRIVATE_KEY="{RAW_KEY}"\nLOG_LEVEL=info\n')
    (src / "logs" / "node.log").write_text(RAW_LOG + f"key again {RAW_KEY[2:]}\n")
    (src / "blob.bin").write_bytes(b"\x00\x01\x02")
    out = tmp_path / "clean"
    result = CliRunner().invoke(main, ["redact", str(src), "-o", str(out)])
    assert result.exit_code == 0, result.output
    env = (out / ".env").read_text()
    log = (out / "logs" / "node.log").read_text()
    assert RAW_KEY[2:] not in env + log and "LOG_LEVEL=info" in env and "Lq8vT3xZp7Rk2Wm9Yn4Bc6Hd" not in log
    assert not (out / "blob.bin").exists()
    guide = tmp_path / "aztec_diagnostics"
    guide.mkdir()
    (guide / "config.env").write_text(f"PROVER_PUBLISHER_PRIVATE_KEY={RAW_KEY}\n")
    (guide / "prover-node.log").write_text(RAW_LOG)
    bundle = tmp_path / "guide.tar.zst"
    assert CliRunner().invoke(main, ["redact", str(guide), "-o", str(bundle)]).exit_code == 0
    assert RAW_KEY[2:].encode() not in zstandard.ZstdDecompressor().stream_reader(bundle.open("rb")).read()


def test_an_ambiguous_value_is_listed_by_inspect_for_review(tmp_path: Path) -> None:
    writer = BundleWriter.create(tmp_path / "in.tar.zst")
    writer.add_bytes("config/p/.env", b"LOG_LEVEL=info\nSOMETHING=Zx8qP3mVt7Lk2Wn9Rb4Yc6Hd1Jf5Gs0A\n",
                     "config:/srv/p/.env")
    writer.add_bytes("containers/node/logs.txt", b"boot zx8qp3mvt7lk2wn9rb4yc6hd1jf5gs0a\n", "container_logs:node")
    writer.finish({"format": "nodediag-bundle", "format_version": 1, "tool": {"name": "nodediag", "version": "0.0.9"},
                   "created_at": "2026-11-27T18:30:00Z", "status": "complete", "sources": [], "redaction": {}})
    out = tmp_path / "out.tar.zst"
    assert nodediag("redact", str(tmp_path / "in.tar.zst"), "-o", str(out)).returncode == 0
    shown = nodediag("inspect", str(out))
    assert shown.returncode == 0 and "For review (kind ambiguous" in shown.stdout
    assert "config/p/.env (line 2)" in shown.stdout
