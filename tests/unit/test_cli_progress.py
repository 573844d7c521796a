"""`nodediag analyze` on a terminal shows one updating progress line for a large input: what it
is doing, log bytes done and the rate; the line is erased at the end; nothing when stderr is not
a terminal."""

from __future__ import annotations

import io
from datetime import datetime, timedelta, timezone
from pathlib import Path

from click.testing import CliRunner

from nodediag.analyzer.analysis import analyze_input
from nodediag.analyzer.model import Facts, LoadedInput, LogFile
from nodediag.cli import main as cli
from nodediag.cli.progress import INTERVAL_S, MB, ProgressLine

T0 = datetime(2026, 11, 27, 10, 0, tzinfo=timezone.utc)
ROLES = {"aztec-prover-prover-node-1": "prover-node", "aztec-prover-prover-broker-1": "prover-broker",
         "aztec-prover-prover-agent-1": "prover-agent"}


def container_log(seed: int, n: int) -> list[str]:
    out = []
    for i in range(n):
        at = T0 + timedelta(milliseconds=700 * i + seed)
        stamp = at.strftime("%Y-%m-%dT%H:%M:%S.%f") + "000Z"
        level, body = (("WARN", f"json-rpc:json_rpc_client request {i % 7} failed") if i % 10 == 0 else
                       ("INFO", f"archiver Downloaded L2 block {i}"))
        out.append(f"{stamp} [{at.strftime('%H:%M:%S.%f')[:-3]}] {level}: {body}")
    return out


def make_input(tmp_path: Path, logs: dict[str, list[str]]) -> tuple[LoadedInput, Facts]:
    log_files = []
    for name, lines in logs.items():
        rel = f"containers/{name}/logs.txt"
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("\n".join(lines) + "\n")
        log_files.append(LogFile(path=rel, container=name, role=ROLES[name]))
    inp = LoadedInput(kind="bundle-v1", root=tmp_path, files=[f.path for f in log_files], manifest=None, gaps=[])
    return inp, Facts(containers=[], log_files=log_files, events=[])


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_line_tells_what_bytes_and_rate_and_is_erased_at_the_end():
    out, clock = Terminal(), Clock()
    line = ProgressLine(out, min_bytes=50 * MB, clock=clock)
    line("reading bundle.tar.zst", -1, -1)
    assert out.getvalue() == ""  # the input's size is not known yet: it may be small
    line("scanning logs", 0, 200 * MB)
    clock.now += 2
    line("scanning logs", 100 * MB, 200 * MB)
    clock.now += INTERVAL_S / 4
    line("scanning logs", 104 * MB, 200 * MB)  # too soon after the last: not written
    clock.now += 2 - INTERVAL_S / 4
    line("scanning logs", 200 * MB, 200 * MB)
    line("writing the report", -1, -1)
    line.close()
    writes = out.getvalue().split("\r")[1:]
    assert writes == ["nodediag: scanning logs: 0 of 200 MB (0%)\x1b[K",
                      "nodediag: scanning logs: 100 of 200 MB (50%), 50 MB/s\x1b[K",
                      "nodediag: scanning logs: 200 of 200 MB (100%), 50 MB/s\x1b[K",
                      "nodediag: writing the report...\x1b[K", "\x1b[K"]


def test_no_line_for_a_small_input_or_when_stderr_is_no_terminal():
    out = Terminal()
    line = ProgressLine(out, min_bytes=50 * MB)
    line("scanning logs", 10 * MB, 49 * MB)
    line.close()
    assert out.getvalue() == ""
    assert ProgressLine.for_terminal(io.StringIO(), size=10**12) is None
    assert isinstance(ProgressLine.for_terminal(Terminal()), ProgressLine)
    shown = Terminal()
    big = ProgressLine(shown, size=60 * MB)  # a large input file: shown from the first stage
    big("reading big.log", -1, -1)
    assert shown.getvalue() == "\rnodediag: reading big.log...\x1b[K"


def test_the_analysis_tells_every_log_byte_read_in_one_process_or_several(tmp_path: Path):
    logs = {name: container_log(seed, 3000) for seed, name in enumerate(ROLES)}
    inp, facts = make_input(tmp_path, logs)
    total = sum((tmp_path / log.path).stat().st_size for log in facts.log_files)
    for parallel_min_bytes in (1 << 62, 0):
        told: list[tuple[str, int, int]] = []
        analyze_input(inp, facts, parallel_min_bytes=parallel_min_bytes,
                      progress=lambda what, done, whole: told.append((what, done, whole)))  # noqa: B023
        scans = [t for t in told if t[0] == "scanning logs"]
        assert [t[2] for t in scans] == [total] * len(scans)
        assert [t[1] for t in scans] == sorted(t[1] for t in scans) and scans[-1][1] == total
        assert told[-1] == ("matching causes and symptoms", -1, -1)


def test_analyze_shows_the_line_on_a_terminal_and_nothing_elsewhere(tmp_path: Path, monkeypatch):
    log = tmp_path / "prover.log"
    log.write_text("\n".join(container_log(7, 4000)) + "\n")
    runner = CliRunner()
    plain = runner.invoke(cli, ["analyze", str(log), "-o", str(tmp_path / "a.html")])
    assert plain.exit_code == 0, plain.output
    assert "\r" not in plain.output and "scanning" not in plain.output  # (CliRunner's stderr is no terminal)
    terminal = Terminal()
    monkeypatch.setattr(ProgressLine, "for_terminal",
                        classmethod(lambda cls, stream=None, size=0: cls(terminal, min_bytes=0, size=size)))
    shown = runner.invoke(cli, ["analyze", str(log), "-o", str(tmp_path / "b.html")])
    assert shown.exit_code == 0, shown.output
    writes = terminal.getvalue().split("\r")[1:]
    assert writes[0] == "nodediag: reading prover.log...\x1b[K"
    assert any(w.startswith("nodediag: scanning logs: ") and "(100%)" in w for w in writes)
    assert writes[-2:] == ["nodediag: writing the report...\x1b[K", "\x1b[K"]  # erased before the verdict
