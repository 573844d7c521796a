"""The analyzer's fast paths change no result: on logs of every mix the benchmark uses (real Aztec
messages, every line with its own values: benchmarks/realistic_logs.py), as a single file and as a
bundle written as `collect` writes one, the whole JSON report is the same with every fast path as
with none (no skip plan: every line parsed one by one; the one-pass shape mask; one process; every
rule tried on every record; every timeline key found at once)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from nodediag.analyzer import forking, parse_child, timeline, unexplained
from nodediag.analyzer.model import Record
from nodediag.analyzer.parsing.logs import Repeats
from nodediag.analyzer.pipeline import analyze_path
from nodediag.analyzer.report import render_json
from nodediag.analyzer.rules.catalog import Rule
from nodediag.analyzer.rules.engine import LogRuleEngine, _rule_matches

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from analyze_throughput import build_bundle
from realistic_logs import MIXES, write_log


@pytest.fixture(autouse=True)
def _helpers_may_fork(monkeypatch: pytest.MonkeyPatch) -> None:
    # (a thread another test left behind, or a one-core machine, must not turn the forked paths off here)
    monkeypatch.setattr(forking, "can_fork_helper", lambda: True)


def _report(target: Path) -> dict:
    data = json.loads(render_json(analyze_path(target)))
    data.pop("analyzed_at")
    data["input"].pop("root")  # (a temporary folder of its own each time)
    return data


def _every_rule(engine: LogRuleEngine, record: Record, text: str) -> tuple[Rule, ...]:
    """The rules ``record`` matches, each rule tried (no anchors, no checks made once)."""
    return tuple(r for r in engine.rules if _rule_matches(r, record, text, text.lower()))


@pytest.mark.parametrize("kind", ["file", "bundle"])
@pytest.mark.parametrize("mix", MIXES)
def test_every_fast_path_gives_the_plain_paths_whole_report(mix: str, kind: str, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    log = tmp_path / f"{mix}.log"
    write_log(log, mix, 1_200_000, seed=7)  # type: ignore[arg-type]
    target = log
    if kind == "bundle":  # (the log in a Zstandard frame of its own, read from the bundle)
        target = tmp_path / f"{mix}.tar.zst"
        build_bundle(target, log)
    children: list[str] = []
    real = parse_child.records_from_child

    def spy(*args: object, **kwargs: object) -> Iterator[Record | Repeats]:
        children.append(str(args[3]))
        return real(*args, **kwargs)  # type: ignore[arg-type]

    with monkeypatch.context() as fast:  # the log parsed by a child process too
        fast.setattr(parse_child, "SPLIT_MIN_BYTES", 0)
        fast.setattr(parse_child, "records_from_child", spy)
        quick = _report(target)
    assert children, "no child parsed the log"
    assert quick["findings"] and quick["unexplained"] and quick["timeline"]
    with monkeypatch.context() as plain:
        plain.setattr(LogRuleEngine, "skip_plan", lambda self, below="WARN": None)
        plain.setattr(unexplained, "mask", unexplained.mask_reference)
        plain.setattr(parse_child, "SPLIT_MIN_BYTES", 1 << 62)
        plain.setattr(LogRuleEngine, "_match", _every_rule)
        plain.setattr(timeline, "EAGER_KEYS", True)
        slow = _report(target)
    assert quick == slow
