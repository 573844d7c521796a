"""The host's redaction key: one key file per host, so that bundles of one host tag a secret alike
(`nodediag diff` then tells a rotated secret from an unchanged one); the key never leaves the host."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from nodediag.cli import main
from nodediag.redaction import RedactionCounts, Redactor
from nodediag.redaction.host_key import default_key_path, key_id_of, load_key
from tests.unit.test_inputs_manual_guide import write_guide_tgz
from tests.unit.test_redact_command import members

SECRET = "0x" + "5a" * 32
LOG = f"2026-12-01T10:00:00.000Z [10:00:00.000] INFO: prover-node key={SECRET} ready\n"


def placeholder_of(key: bytes, value: str) -> str:
    redactor = Redactor(key)
    redactor.add_secret(value, "private_key")
    return redactor.redact_text(f"x {value} y", RedactionCounts()).split()[1]


def test_the_key_file_is_created_owner_only_once_and_then_reused(tmp_path: Path) -> None:
    path = tmp_path / "state" / "nodediag" / "redaction.key"
    first = load_key(path)
    assert first.source == "file" and first.warning is None and path.is_file()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    second = load_key(path)
    assert second.key_id == first.key_id and second.secret() == first.secret()
    assert placeholder_of(first.secret(), SECRET) == placeholder_of(second.secret(), SECRET)
    assert [p.name for p in path.parent.iterdir()] == ["redaction.key"]  # no temporary file left


def test_fresh_keys_differ_and_the_key_never_prints(tmp_path: Path) -> None:
    a, b = load_key(fresh=True), load_key(fresh=True)
    assert a.source == b.source == "fresh" and a.key_id != b.key_id
    assert placeholder_of(a.secret(), SECRET) != placeholder_of(b.secret(), SECRET)
    for key in (a, load_key(tmp_path / "k")):
        shown = repr(key) + json.dumps(key.manifest())
        assert key.secret().hex() not in shown and key.secret().hex()[:16] not in shown
        assert key.key_id in shown and key.key_id == key_id_of(key.secret())
        assert key.key_id not in key.secret().hex()


@pytest.mark.parametrize("case", ["corrupt", "empty", "folder", "fifo", "too-long"])
def test_an_unusable_key_file_is_a_warning_and_a_fresh_key(tmp_path: Path, case: str) -> None:
    path = tmp_path / "redaction.key"
    if case == "corrupt":
        path.write_text("not a key at all\n")
    elif case == "empty":
        path.write_text("")
    elif case == "folder":
        path.mkdir()
    elif case == "fifo":
        os.mkfifo(path)
    else:
        path.write_text("ab" * 4096)
    key = load_key(path)
    assert key.source == "fallback" and key.warning is not None and "\n" not in key.warning
    assert str(path) in key.warning and "fresh key" in key.warning
    assert key.manifest()["key_source"] == "fallback" and "key_note" in key.manifest()
    if case == "corrupt":
        assert path.read_text() == "not a key at all\n"  # the operator's file is never overwritten


def test_an_uncreatable_key_folder_is_a_warning_and_a_fresh_key(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    key = load_key(blocker / "nodediag" / "redaction.key")
    assert key.source == "fallback" and key.warning and "cannot be used" in key.warning


def test_the_default_place_follows_xdg_state_home_then_root(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    assert default_key_path() == tmp_path / "nodediag" / "redaction.key"
    monkeypatch.delenv("XDG_STATE_HOME")
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert default_key_path() == Path("/var/lib/nodediag/redaction.key")
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_key_path() == tmp_path / "home" / ".local" / "state" / "nodediag" / "redaction.key"


def _redact(source: Path, out: Path, *extra: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["redact", str(source), "-o", str(out), *extra])
    return result.exit_code, result.output


def test_redact_tags_alike_across_runs_with_the_host_key_and_records_only_its_id(tmp_path: Path) -> None:
    guide = write_guide_tgz(tmp_path / "aztec_diagnostics.tar.gz")
    bundles = [tmp_path / f"b{i}.tar.zst" for i in range(3)]
    assert _redact(guide, bundles[0])[0] == 0
    assert _redact(guide, bundles[1])[0] == 0
    assert _redact(guide, bundles[2], "--fresh-key")[0] == 0
    files = [members(b) for b in bundles]
    env = [f["config/guide/config.env"] for f in files]
    assert env[0] == env[1] and env[0] != env[2]
    manifests = [json.loads(f["manifest.json"]) for f in files]
    ids = [m["redaction"]["key_id"] for m in manifests]
    assert ids[0] == ids[1] != ids[2]
    assert [m["redaction"]["key_source"] for m in manifests] == ["host", "host", "fresh"]
    host_key = default_key_path().read_text().strip()  # the session's state folder (tests/conftest.py)
    for f in files:
        blob = b"".join(f.values()).lower()
        assert host_key.encode() not in blob and host_key[:16].encode() not in blob


def test_redaction_key_option_and_the_warning_for_a_bad_file(tmp_path: Path) -> None:
    log = tmp_path / "node.log"
    log.write_text(LOG)
    own = tmp_path / "own.key"
    code, _ = _redact(log, tmp_path / "a.log", "--redaction-key", str(own), "--secret", SECRET)
    assert code == 0 and own.is_file()
    code, _ = _redact(log, tmp_path / "b.log", "--redaction-key", str(own), "--secret", SECRET)
    assert (tmp_path / "a.log").read_text() == (tmp_path / "b.log").read_text()
    assert SECRET[2:] not in (tmp_path / "a.log").read_text()
    own.write_text("garbage")
    proc = subprocess.run([sys.executable, "-m", "nodediag", "redact", str(log), "-o", str(tmp_path / "c.log"),
                           "--redaction-key", str(own), "--secret", SECRET], capture_output=True, text=True)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1 and "cannot be used" in warnings[0] and "fresh key" in warnings[0]
    assert (tmp_path / "c.log").read_text() != (tmp_path / "a.log").read_text()
    both = CliRunner().invoke(main, ["redact", str(log), "-o", str(tmp_path / "d.log"), "--fresh-key",
                                     "--redaction-key", str(own)])
    assert both.exit_code == 2 and "cannot be used together" in both.output


def test_a_key_file_open_to_other_users_is_used_with_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "redaction.key"
    first = load_key(path)
    path.chmod(0o644)
    again = load_key(path)
    assert again.key_id == first.key_id and again.source == "file"
    assert again.warning is not None and "chmod 600" in again.warning and "\n" not in again.warning
    assert again.secret().hex() not in again.warning
