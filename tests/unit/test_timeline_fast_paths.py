"""The timeline finds a record's key (its rules and its text with numbers as '#') only when it
needs it: to join the rows just before it, or for a row of its own. Records over their hour's quota
that join no row skip it. The timeline is the same as with every key found at once, whatever the
mix of repeats, cycles, quotas, rules and hours."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nodediag.analyzer import timeline
from nodediag.analyzer.model import Record
from nodediag.analyzer.parsing.logs import Repeats
from nodediag.analyzer.timeline import TimelineCollector

START = datetime(2026, 11, 27, 0, 58, tzinfo=timezone.utc)
# messages that share a shape (numbers differ) and messages that do not
MESSAGES = ("Retrying job 12 attempt 1", "Retrying job 13 attempt 2", "Broker facade stopped",
            "Timeout after 30000ms", "Timeout after 5ms", "epoch 0x1f proven", "epoch 0x2a proven")
STEP = st.tuples(
    st.sampled_from(MESSAGES),
    st.sampled_from(("WARN", "ERROR", "INFO", None)),
    st.sampled_from(((), ("rule-a",), ("rule-a", "rule-b"))),
    st.sampled_from((0, 1, 30, 119, 121, 600)),  # seconds after the record before
    st.sampled_from(("node", "agent")),
    st.sampled_from(("prover-node", "p2p", None)),
    st.booleans(),  # a repeat of the record before (Repeats) rather than a record of its own
)


def _timeline(steps: list[tuple], eager: bool, monkeypatch: pytest.MonkeyPatch) -> tuple:
    monkeypatch.setattr(timeline, "EAGER_KEYS", eager)
    monkeypatch.setattr(timeline, "PER_HOUR_CAP", 3)  # the quota is met often
    collected = TimelineCollector()
    when = START
    before: Record | None = None
    for n, (message, level, ids, gap, container, module, repeat) in enumerate(steps, 1):
        when += timedelta(seconds=gap, milliseconds=n)
        if repeat and before is not None:
            collected.add_repeats(Repeats(b"x", [(before, n, when, 0, 1)]), [ids])
            continue
        before = Record(container, "prover-node", "logs.txt", n, n, when, level, module, message, {}, [],
                        f"[{level}] {message}", "pino")
        collected.add_record(before, ids)
    built = collected.build([], [], [], None)
    return ([(e.time, e.container, e.level, e.text, e.line, e.rule_id, e.count, e.until) for e in built.entries],
            built.note, collected.significant, collected.dropped, collected.collapsed, collected.level_series())


@settings(max_examples=400, deadline=None)
@given(st.lists(STEP, max_size=60))
def test_keys_found_when_needed_give_the_timeline_of_keys_found_at_once(steps: list[tuple]) -> None:
    with pytest.MonkeyPatch.context() as patch:
        lazy = _timeline(steps, False, patch)
        eager = _timeline(steps, True, patch)
    assert lazy == eager


def test_a_storm_over_its_quota_still_collapses_its_repeats() -> None:
    steps = [(MESSAGES[n % 2], "WARN", (), 1, "node", "prover-node", False) for n in range(40)]
    with pytest.MonkeyPatch.context() as patch:
        entries, note, significant, dropped, collapsed, _ = _timeline(steps, False, patch)
    assert significant == 40 and dropped == 0 and collapsed == 39
    assert len(entries) == 1 and entries[0][6] == 40
