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


def test_sigterm_exits_0_within_5s_even_when_docker_hangs(tmp_path):
    import signal
    import socket
    import threading
    import time

    sock_path = tmp_path / "hung.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(sock_path))
    server.listen(16)
    held: list[socket.socket] = []

    def accept() -> None:  # an engine that takes connections and never answers
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            held.append(conn)

    threading.Thread(target=accept, daemon=True).start()
    proc = subprocess.Popen([sys.executable, "-m", "nodediag", "watch", "--json", "--out", str(tmp_path / "out")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
                            env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "DOCKER_HOST": f"unix://{sock_path}"})
    try:
        deadline = time.monotonic() + 30
        while not held and time.monotonic() < deadline:  # the watcher is inside a call to "Docker"
            time.sleep(0.1)
        assert held, "the watcher never called Docker"
        time.sleep(0.5)
        start = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=10)
        took = time.monotonic() - start
        assert code == 0 and took < 5.0, (code, took)
        assert '"event": "stopped"' in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
        server.close()
        for conn in held:
            conn.close()
