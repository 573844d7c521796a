"""A large log parsed by a forked child (parse_child.py) ends as one parsed here: the same one-line
error for a damaged log, the child's own failure raised (never a silently short scan), and no
child left behind when the analysis stops early."""

from __future__ import annotations

import os
import sys
import time
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


def _waits_for(marker: Path, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while not marker.exists():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_the_scan_gets_each_batch_as_soon_as_the_child_has_made_it(tmp_path: Path) -> None:
    # The two processes work at once only if a batch reaches this side when it is made: held in the
    # child's buffer until a megabyte was full, the scan waited while the child parsed, and the
    # child waited while the scan matched (each ~55 % busy on a 200 MB log).
    seen = tmp_path / "seen"

    def make(tick: Callable[[int], None]) -> Iterator[Record | Repeats]:
        yield from _records(parse_child.BATCH, fail=False)(tick)
        if not _waits_for(seen):  # (in the child) the first batch never reached the other side
            yield Record("c", "other", "f", 0, 0, None, "WARN", "m", "the first batch was held back")

    given = parse_child.records_from_child(make, ParseStats(file="f"), {}, "f")
    first = next(given)
    seen.touch()
    rest = list(given)
    assert isinstance(first, Record) and first.line_start == 1
    assert [r.message for r in rest if isinstance(r, Record) and r.line_start == 0] == []


def test_the_child_works_ahead_of_a_busy_scan(tmp_path: Path) -> None:
    # about 600 KB of records: far more than a pipe's default 64 KB, within what the child may hold
    made, count = tmp_path / "made", 6 * parse_child.BATCH

    def make(tick: Callable[[int], None]) -> Iterator[Record | Repeats]:
        for n in range(1, count + 1):
            yield Record("c", "other", "f", n, n, None, "WARN", "m", f"message {n} " + "x" * 350)
        made.touch()
        yield Record("c", "other", "f", count + 1, count + 1, None, "WARN", "m", "last")

    given = parse_child.records_from_child(make, ParseStats(file="f"), {}, "f")
    next(given)
    assert _waits_for(made), "the child stopped making records while this side was busy"
    assert len(list(given)) == count
