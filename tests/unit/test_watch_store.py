"""The watcher's sample ring: survives restarts, bounded by age and by size, oldest first."""

from __future__ import annotations

import pytest

from nodediag.collector.watch.store import Sample, SampleStore, StoreError


def _rows(start: float, n: int, step: float = 10.0, pad: int = 0) -> list[Sample]:
    return [Sample(start + i * step, "container", "agent", {"mem_used": i, "pad": "x" * pad}) for i in range(n)]


def test_samples_survive_a_restart_of_the_watcher(tmp_path):
    path = tmp_path / "samples.sqlite"
    store = SampleStore(path)
    store.add(_rows(1000.0, 5))
    store.close()
    again = SampleStore(path)
    again.add(_rows(2000.0, 2))
    got = list(again.between(0))
    assert [s.t for s in got] == [1000.0, 1010.0, 1020.0, 1030.0, 1040.0, 2000.0, 2010.0]
    assert got[0].as_row() == {"t": 1000.0, "kind": "container", "name": "agent", "mem_used": 0, "pad": ""}


def test_between_selects_the_window(tmp_path):
    store = SampleStore(tmp_path / "s.sqlite")
    store.add(_rows(0.0, 10))
    assert [s.t for s in store.between(25.0, 55.0)] == [30.0, 40.0, 50.0]
    assert [s.t for s in store.between(0.0, 55.0, newest=2)] == [40.0, 50.0]  # a bundle's cap keeps the newest


def test_retain_deletes_older_samples_only(tmp_path):
    store = SampleStore(tmp_path / "s.sqlite", retain_s=100.0)
    store.add(_rows(0.0, 30))  # t = 0 .. 290
    deleted = store.prune(now=300.0)
    assert deleted == 20
    assert store.oldest() == 200.0 and store.count() == 10


def test_size_cap_drops_the_oldest_until_under_the_cap(tmp_path):
    cap = 200 * 1024
    store = SampleStore(tmp_path / "s.sqlite", retain_s=1e12, max_bytes=cap)
    store.add(_rows(0.0, 2000, step=1.0, pad=500))  # about 1 MB of rows
    assert store.size_bytes() > cap
    store.prune(now=2000.0)
    assert store.size_bytes() <= cap
    kept = [s.t for s in store.between(0)]
    assert kept and kept[-1] == 1999.0  # the newest are kept
    assert kept == sorted(kept) and kept[0] > 1000.0
    # the file itself shrinks too (incremental vacuum), not only the rows
    assert (tmp_path / "s.sqlite").stat().st_size <= cap * 2


def test_unwritable_folder_is_a_one_line_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(StoreError, match="cannot open the sample database"):
        SampleStore(blocker / "samples.sqlite")
