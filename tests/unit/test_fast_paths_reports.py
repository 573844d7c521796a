"""The analyzer's fast paths change no result: on logs of every mix the benchmark uses (real Aztec
messages, every line with its own values: benchmarks/realistic_logs.py), the whole JSON report is
the same with every fast path as with none (no skip plan: every line parsed one by one; the one-pass
shape mask)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from nodediag.analyzer import unexplained
from nodediag.analyzer.pipeline import analyze_path
from nodediag.analyzer.report import render_json
from nodediag.analyzer.rules.engine import LogRuleEngine

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from realistic_logs import MIXES, write_log


def _report(log: Path) -> dict:
    data = json.loads(render_json(analyze_path(log)))
    data.pop("analyzed_at")
    data["input"].pop("root")  # (a temporary folder of its own each time)
    return data


@pytest.mark.parametrize("mix", MIXES)
def test_every_fast_path_gives_the_plain_paths_whole_report(mix: str, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    log = tmp_path / f"{mix}.log"
    write_log(log, mix, 600_000, seed=7)  # type: ignore[arg-type]
    fast = _report(log)
    assert fast["findings"] and fast["unexplained"] and fast["timeline"]
    with monkeypatch.context() as plain:
        plain.setattr(LogRuleEngine, "skip_plan", lambda self, below="WARN": None)
        plain.setattr(unexplained, "mask", unexplained.mask_reference)
        slow = _report(log)
    assert fast == slow
