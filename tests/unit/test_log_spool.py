"""The newest-lines-kept log spool: bounded disk, whole lines, exactly the newest within the cap."""

from __future__ import annotations

from pathlib import Path

import pytest

from nodediag.collector.log_spool import LogSpool


def kept(parts: list[tuple[Path, int]]) -> bytes:
    out = b""
    for path, start in parts:
        out += path.read_bytes()[start:]
    return out


@pytest.mark.parametrize("cap", [100, 1000, 4096, 65536])
def test_keeps_newest_whole_lines_within_cap(tmp_path, cap):
    lines = [f"2026-11-27T00:00:{i:06d}Z line number {i} {'x' * (i % 37)}\n".encode() for i in range(5000)]
    spool = LogSpool(tmp_path, cap)
    block = b""
    for line in lines:
        block += line
        if len(block) > 700:
            spool.write(block)
            block = b""
    spool.write(block)
    parts = spool.finish()
    data = kept(parts)
    everything = b"".join(lines)
    assert len(data) <= cap
    assert everything.endswith(data)
    # exactly the newest whole lines: adding the previous line would pass the cap
    assert data.startswith(b"2026-")
    previous = everything[: len(everything) - len(data)].splitlines(keepends=True)[-1]
    assert len(previous) + len(data) > cap
    assert spool.truncated and spool.bytes_seen == len(everything)
    # only the parts handed over remain on disk
    assert {p for p in tmp_path.iterdir()} == {p for p, _ in parts}


def test_small_log_is_kept_whole(tmp_path):
    spool = LogSpool(tmp_path, 1 << 20)
    spool.write(b"a\n")
    spool.write(b"b\n")
    parts = spool.finish()
    assert kept(parts) == b"a\nb\n" and not spool.truncated


def test_disk_use_stays_bounded(tmp_path):
    cap = 10_000
    spool = LogSpool(tmp_path, cap)
    peak = 0
    for i in range(20_000):
        spool.write(f"{i:08d} some log text here\n".encode())
        peak = max(peak, sum(p.stat().st_size for p in tmp_path.iterdir()))
    assert peak <= cap + 2 * (cap // 4) + 64
    spool.discard()
    assert list(tmp_path.iterdir()) == []
