"""A large raw log redacted by a child process while the analysis reads it (redact_ahead.py) gives
exactly what redacting it first gives: the same report (redaction note included), no secret in
it, and the same one-line error when the redaction fails."""

from __future__ import annotations

import errno
import json
import os
import re
import sys
import time
from pathlib import Path

import pytest

from nodediag.analyzer import forking, inputs, parse_child
from nodediag.analyzer.inputs import InputError, redact_ahead
from nodediag.analyzer.inputs.redact_ahead import RedactAhead
from nodediag.analyzer.pipeline import analyze_path
from nodediag.analyzer.report import render_json
from nodediag.bundle.safe_archive import CapExceeded
from nodediag.redaction import RedactionCounts

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from realistic_logs import LogGenerator


@pytest.fixture(autouse=True)
def _helpers_may_fork(monkeypatch: pytest.MonkeyPatch) -> None:
    # (a thread another test left behind, or a one-core machine, must not turn the forked paths off here)
    monkeypatch.setattr(forking, "can_fork_helper", lambda: True)

RPC_KEY = "Lq8vT3xZp7Rk2Wm9Yn4Bc6Hd"


def _leak(n: int) -> str:
    return (f"2026-11-27T00:0{n}:00.000000000Z [00:0{n}:00.000] ERROR: archiver Error fetching from "
            f"https://eth-mainnet.g.alchemy.com/v2/{RPC_KEY}: fetch failed\n")


def _raw_log(path: Path, lines: int = 12_000) -> Path:
    """A storm of real messages with an RPC key leaked at its start, middle and end."""
    made = LogGenerator("storm", seed=3).lines()
    body = [next(made) for _ in range(lines)]
    body.insert(0, _leak(0))
    body.insert(lines // 2, _leak(1))
    body.append(_leak(9))
    path.write_text("".join(body))
    return path


def _report(source: Path) -> dict:
    # (a redaction token is keyed afresh in each run: its kind stays, its key goes)
    data = json.loads(re.sub(r"(\[REDACTED:[\w-]+)#[0-9a-f]+\]", r"\1]", render_json(analyze_path(source))))
    data.pop("analyzed_at")
    data["input"].pop("root")  # (a temporary folder of its own each time)
    return data


@pytest.mark.parametrize("parsed_by_a_child", [False, True])
def test_a_log_redacted_while_it_is_read_gives_the_report_of_one_redacted_first(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, parsed_by_a_child: bool) -> None:
    source = _raw_log(tmp_path / "node.log")
    monkeypatch.setattr(redact_ahead, "AHEAD_MIN_BYTES", 0)
    # (and the copy read as it grows by a child that parses it, a grandchild of the redacting one's parent)
    monkeypatch.setattr(parse_child, "SPLIT_MIN_BYTES", 0 if parsed_by_a_child else 1 << 62)
    started: list[Path] = []
    real_init = RedactAhead.__init__

    def spy(self: RedactAhead, source: Path, target: Path, max_bytes: int, size: int) -> None:
        started.append(target)
        real_init(self, source, target, max_bytes, size)

    monkeypatch.setattr(RedactAhead, "__init__", spy)
    ahead = _report(source)
    assert started, "the log was not redacted ahead"
    monkeypatch.setattr(redact_ahead, "usable", lambda size: False)
    monkeypatch.setattr(parse_child, "SPLIT_MIN_BYTES", 1 << 62)
    first = _report(source)
    assert ahead == first
    text = json.dumps(ahead)
    assert RPC_KEY not in text
    assert "redacted it as it read it" in text and "x3" in text  # the note, with the three keys counted


def _no_space(source: Path, target: Path, *, max_bytes: int, **_: object) -> RedactionCounts:
    raise OSError(errno.ENOSPC, "No space left on device")


def _cap_after_a_while(source: Path, target: Path, *, max_bytes: int, **_: object) -> RedactionCounts:
    target.write_bytes(source.read_bytes()[:200_000])
    raise CapExceeded("is larger than the 1 KB cap")


@pytest.mark.parametrize("parsed_by_a_child", [False, True])
@pytest.mark.parametrize("fail", [_no_space, _cap_after_a_while])
def test_a_redaction_that_fails_ahead_ends_in_the_line_of_one_that_fails_first(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fail: object, parsed_by_a_child: bool) -> None:
    source = _raw_log(tmp_path / "node.log")
    monkeypatch.setattr(redact_ahead, "AHEAD_MIN_BYTES", 0)
    monkeypatch.setattr(parse_child, "SPLIT_MIN_BYTES", 0 if parsed_by_a_child else 1 << 62)
    monkeypatch.setattr(redact_ahead, "redact_raw_log", fail)  # (what the child runs)
    with pytest.raises(InputError) as ahead:
        analyze_path(source)
    monkeypatch.setattr(redact_ahead, "usable", lambda size: False)
    monkeypatch.setattr(inputs, "redact_raw_log", fail)
    with pytest.raises(InputError) as first:
        analyze_path(source)
    assert str(ahead.value) == str(first.value)
    assert "\n" not in str(ahead.value) and str(source) in str(ahead.value)


def test_the_reader_waits_for_what_the_child_writes_and_then_ends(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    go = tmp_path / "go"

    def slow(source: Path, target: Path, *, max_bytes: int, **_: object) -> RedactionCounts:
        with open(target, "wb") as out:
            out.write(b"line 1\n")
            out.flush()
            while not go.exists():  # until the test has read the first line
                time.sleep(0.001)
            out.write(b"line 2\n")
        counts = RedactionCounts()
        counts.add("api_key", 2)
        return counts

    monkeypatch.setattr(redact_ahead, "redact_raw_log", slow)
    ahead = RedactAhead(tmp_path / "raw.log", tmp_path / "copy.log", 1000, 14)
    try:
        reader = ahead.open()
        assert reader.read(100) == b"line 1\n"
        go.touch()
        assert reader.read(100) == b"line 2\n"  # waited for
        assert reader.read(100) == b""  # the child has ended
        assert ahead.finish().by_kind == {"api_key": 2}
        reader.close()
    finally:
        ahead.stop()


def test_a_child_still_redacting_is_ended_when_the_analysis_stops(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    def forever(source: Path, target: Path, *, max_bytes: int, **_: object) -> RedactionCounts:
        target.write_bytes(b"x\n")
        while True:
            time.sleep(0.01)

    monkeypatch.setattr(redact_ahead, "redact_raw_log", forever)
    ahead = RedactAhead(tmp_path / "raw.log", tmp_path / "copy.log", 1000, 2)
    assert not ahead.ended()
    ahead.stop()
    assert ahead.ended()
    with pytest.raises(ChildProcessError):  # reaped: no zombie left
        os.waitpid(ahead.pid, 0)
