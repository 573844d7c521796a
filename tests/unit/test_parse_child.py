"""A large log parsed by a forked child (parse_child.py) ends as one parsed here: the same one-line
error for a damaged log, the child's own failure raised (never a silently short scan), and no
child left behind when the analysis stops early."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from nodediag.analyzer import forking, parse_child
from nodediag.analyzer.inputs import InputError
from nodediag.analyzer.model import ParseStats, Record
from nodediag.analyzer.parsing.logs import Repeats
from nodediag.analyzer.pipeline import analyze_path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from analyze_throughput import build_bundle
from realistic_logs import write_log


@pytest.fixture(autouse=True)
def _helpers_may_fork(monkeypatch: pytest.MonkeyPatch) -> None:
    # (a thread another test left behind, or a one-core machine, must not turn the forked paths off here)
    monkeypatch.setattr(forking, "can_fork_helper", lambda: True)


def _damaged_bundle(tmp_path: Path) -> Path:
    log = tmp_path / "node.log"
    write_log(log, "storm", 3_000_000, seed=5)
    bundle = tmp_path / "b.tar.zst"
    build_bundle(bundle, log)
    data = bytearray(bundle.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 64] = bytes(64)  # inside the log's frame
    bundle.write_bytes(bytes(data))
    return bundle


def test_a_damaged_log_read_by_the_child_gives_the_line_it_gives_read_here(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    bundle = _damaged_bundle(tmp_path)
    monkeypatch.setattr(parse_child, "SPLIT_MIN_BYTES", 0)
    with pytest.raises(InputError) as child:
        analyze_path(bundle)
    monkeypatch.setattr(parse_child, "SPLIT_MIN_BYTES", 1 << 62)
    with pytest.raises(InputError) as here:
        analyze_path(bundle)
    assert str(child.value) == str(here.value)
    assert "\n" not in str(child.value)


def _records(lines: int, fail: bool) -> Callable[[Callable[[int], None]], Iterator[Record | Repeats]]:
    def make(tick: Callable[[int], None]) -> Iterator[Record | Repeats]:
        for n in range(1, lines + 1):
            tick(10)
            yield Record("c", "other", "f", n, n, None, "WARN", "m", f"message {n}")
        if fail:
            raise ValueError("a bug in the parser")
    return make


def test_the_child_sends_every_record_in_order_with_its_statistics_and_bytes() -> None:
    stats = ParseStats(file="f")

    def make(tick: Callable[[int], None]) -> Iterator[Record | Repeats]:
        stats.lines = 7  # (as the parser fills it, in the child)
        yield from _records(1000, fail=False)(tick)

    ticks: list[int] = []
    got = list(parse_child.records_from_child(make, stats, {}, "f", ticks.append))
    assert [r.line_start for r in got if isinstance(r, Record)] == list(range(1, 1001))
    assert sum(ticks) == 10_000 and stats.lines == 7


def test_a_failure_in_the_child_is_raised_here_not_a_short_scan() -> None:
    with pytest.raises(RuntimeError, match="a bug in the parser"):
        list(parse_child.records_from_child(_records(1000, fail=True), ParseStats(file="f"), {}, "f"))


def test_a_child_is_ended_and_reaped_when_the_reading_stops_early(monkeypatch: pytest.MonkeyPatch) -> None:
    forks: list[int] = []
    real_fork = os.fork

    def fork() -> int:
        pid = real_fork()
        if pid:
            forks.append(pid)
        return pid

    monkeypatch.setattr(os, "fork", fork)
    given = parse_child.records_from_child(_records(10**9, fail=False), ParseStats(file="f"), {}, "f")
    assert isinstance(next(given), Record)
    given.close()  # (what an error in the consumer does)
    with pytest.raises(ChildProcessError):  # ended and reaped: no zombie left
        os.waitpid(forks[0], 0)
