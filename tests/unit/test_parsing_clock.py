"""The line clock reads a later second of the current minute by adding seconds to the second it
holds: the same second, fields and epoch as reading the whole docker second afresh, and the same
refusals (a second of 60, a non-digit, a digit outside ASCII)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from nodediag.analyzer.parsing.timestamps import LineClock

MINUTES = ("2026-11-27T23:59:", "2026-11-27T23:58:", "2026-11-28T00:00:", "2024-02-29T12:07:", "2026-02-30T01:01:",
           "2026-11-27T23:5x:", " 2026-11-27T23:59:")
SECONDS = ("00", "01", "09", "30", "58", "59", "60", "61", "99", "5a", " 5", "+5", "\u0663\u0663", "5", "050", "")


def _state(clock: LineClock) -> tuple:
    return clock.key, clock.sec, clock.parts, clock._sec_epoch, clock.sec_hms


@settings(max_examples=500, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(MINUTES), st.sampled_from(SECONDS)), min_size=1, max_size=30))
def test_a_second_read_from_the_one_before_is_the_second_read_afresh(keys: list[tuple[str, str]]) -> None:
    clock = LineClock()
    for minute, second in keys:
        key = minute + second
        before = _state(clock)
        fresh = LineClock()
        accepted = clock.set_second(key)
        assert accepted == fresh.set_second(key)
        assert _state(clock) == (_state(fresh) if accepted else before)
        assert type(clock._sec_epoch) is float


def test_a_clock_reads_the_seconds_of_one_minute_in_any_order() -> None:
    clock = LineClock()
    for second in ("10", "59", "00", "31"):
        assert clock.set_second("2026-11-27T23:59:" + second)
        assert clock.sec is not None and clock.sec.second == int(second) and clock.parts[-1] == int(second)
        assert clock._sec_epoch == clock.sec.timestamp()
