"""`nodediag watch`'s bad input: one line on stderr, a non-zero exit, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "nodediag", "watch", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=60, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO),
                                                    "DOCKER_HOST": "unix:///nonexistent.sock"})


@pytest.mark.parametrize(("args", "message"), [
    (("--interval", "soon"), "'soon' is not a duration"),
    (("--interval", "0.5s"), "--interval must be at least 1s"),
    (("--cooldown", "-3m"), "is not a duration"),
    (("--max-disk", "lots"), "is not a size"),
    (("--out", "a-file"), "is a file"),
])
def test_bad_options_fail_in_one_line(tmp_path, args, message):
    (tmp_path / "a-file").write_text("")
    done = run(*args, cwd=tmp_path)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in done.stderr, done.stderr


def test_unwritable_out_fails_in_one_line(tmp_path):
    (tmp_path / "ro").mkdir()
    blocked = tmp_path / "ro" / "file"
    blocked.write_text("")
    done = run("--out", str(blocked / "sub"), cwd=tmp_path)
    assert done.returncode == 2 and "cannot be created" in done.stderr and "Traceback" not in done.stderr
