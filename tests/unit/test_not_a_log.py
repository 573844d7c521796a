"""Not a log, not a verdict: ``analyze`` of text without log records exits non-zero with one
line; raw Node.js output pasted from a terminal is a log, and its known failure is found."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

PASTED_FETCH_FAILED = """\
$ docker compose up prover-node
node:internal/deps/undici/undici:13502
      Error.captureStackTrace(err);
            ^

TypeError: fetch failed
    at node:internal/deps/undici/undici:13502:13
    at process.processTicksAndRejections (node:internal/process/task_queues:105:5) {
  [cause]: Error: getaddrinfo ENOTFOUND eth-mainnet.example
      at GetAddrInfoReqWrap.onlookup [as oncomplete] (node:dns:120:26)
}
    at triggerUncaughtException (node:internal/process/execution:1:1)

Node.js v22.15.0
"""

V8_REPORT = """\
<--- Last few GCs --->

[1:0x6a3c000]  7384519 ms: Mark-Compact 4047.2 (4130.5) -> 4032.1 (4131.0) MB, 1834.21 / 0.00 ms

<--- JS stacktrace --->

FATAL ERROR: Ineffective mark-compacts near heap limit Allocation failed - JavaScript heap out of memory
"""


def analyze(path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "nodediag", "analyze", str(path), *args],
                          capture_output=True, text=True, timeout=120, cwd=path.parent)


@pytest.mark.parametrize("text", [
    Path("/etc/passwd").read_text() if Path("/etc/passwd").exists() else "root:x:0:0:root:/root:/bin/bash\n",
    "Dear support,\nthe prover stopped yesterday, please help.\nThanks\n",
    "id,name\n1,alice\n2,bob\n",
])
def test_text_without_log_records_is_refused_in_one_line(tmp_path: Path, text: str) -> None:
    path = tmp_path / "input.txt"
    path.write_text(text)
    done = analyze(path, "-f", "json")
    assert done.returncode != 0 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "is not a log nodediag knows" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(("fmt", "kind"), [("json", "JSON"), ("md", "Markdown"), ("html", "HTML")])
def test_its_own_reports_are_refused(tmp_path: Path, fmt: str, kind: str) -> None:
    log = tmp_path / "pasted.log"
    log.write_text(PASTED_FETCH_FAILED)
    report = tmp_path / f"report.{fmt}"
    assert analyze(log, "-f", fmt, "-o", str(report)).returncode == 0
    if fmt == "json":
        assert json.loads(report.read_text())["schema"] == "nodediag-report"
    done = analyze(report, "-f", "md")
    assert done.returncode != 0 and f"is a nodediag report ({kind}), not a log" in done.stderr
    assert done.stderr.count("\n") == 1


@pytest.mark.parametrize(("text", "rule"), [(PASTED_FETCH_FAILED, "startup-fetch-failed"), (V8_REPORT, "v8-heap-oom")])
def test_raw_node_output_without_any_prefix_is_read_and_its_failure_found(tmp_path: Path, text: str, rule: str) -> None:
    log = tmp_path / "pasted.log"
    log.write_text(text)
    done = analyze(log, "-f", "json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["verdict"]["rule_id"] == rule
