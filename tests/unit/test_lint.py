"""The code base stays `ruff check` clean and mypy clean (settings in pyproject.toml), and the
pre-commit configuration that runs both on commit is valid."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))

import typecheck  # noqa: E402


@pytest.mark.skipif(shutil.which("ruff") is None, reason="ruff is installed by .ci/setup (test extras)")
def test_ruff_clean():
    run = subprocess.run(["ruff", "check", "--no-cache", "."], cwd=REPO, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr


def test_mypy_clean():
    pytest.importorskip("mypy", reason="mypy is installed by .ci/setup (test extras)")
    run = typecheck.run([])
    assert run.returncode == 0, run.stdout + run.stderr


@pytest.mark.skipif(shutil.which("pre-commit") is None, reason="pre-commit is installed by .ci/setup (test extras)")
def test_pre_commit_config_is_valid():
    run = subprocess.run(["pre-commit", "validate-config", ".pre-commit-config.yaml"], cwd=REPO,
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
