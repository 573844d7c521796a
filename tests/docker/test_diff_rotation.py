"""Bundles of one host share the host's redaction key: against the real engine, `nodediag diff` of
two collections names a secret rotated between them ("changed (redacted)"), says nothing of an
unchanged one, and says plainly when the bundles were redacted with different keys."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest

from tests.conftest import rewrite_env_file
from tests.docker.test_collect import nodediag

pytestmark = pytest.mark.docker

ROTATED = "PROVER_PUBLISHER_PRIVATE_KEY changed (redacted)"


def collect(dep, out: Path, *extra: str) -> Path:
    proc = nodediag("collect", "--project", dep.project, "--since", "10m", "-o", str(out), *extra)
    assert proc.returncode == 0, proc.stderr
    return out


def diff(a: Path, b: Path, fmt: str = "md") -> str:
    proc = nodediag("diff", str(a), str(b), "-f", fmt)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_diff_names_a_rotated_secret_and_not_an_unchanged_one(deployment, tmp_path):
    dep = deployment("official")
    before = collect(dep, tmp_path / "before.tar.zst")
    again = collect(dep, tmp_path / "again.tar.zst")
    unchanged = diff(before, again)
    assert "PROVER_PUBLISHER_PRIVATE_KEY" not in unchanged and "Not compared" not in unchanged
    new_key = "0x" + secrets.token_hex(32)
    rewrite_env_file(dep.dir / ".env", {"PROVER_PUBLISHER_PRIVATE_KEY": new_key})
    dep.compose("up", "--detach", "--no-build", "--pull", "never")  # the node gets the new key
    after = collect(dep, tmp_path / "after.tar.zst")
    rotated = diff(again, after)
    assert ROTATED in rotated, rotated
    assert new_key[2:] not in rotated and "ETHEREUM_HOSTS" not in rotated  # only what changed
    data = json.loads(diff(again, after, "json"))
    assert data["secrets_changed"] == ["PROVER_PUBLISHER_PRIVATE_KEY"] and data["redaction_keys"] == "same"
    fresh = collect(dep, tmp_path / "fresh.tar.zst", "--fresh-key")
    other = diff(after, fresh)
    assert "redacted with different keys" in other and ROTATED not in other
