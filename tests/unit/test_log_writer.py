"""The log writer: an overlong line is cut, marked and still redacted across the cut, in bounded
memory; a log that ends early (cancelled, broken stream) keeps what was read, marked truncated."""

from __future__ import annotations

import time
import tracemalloc
from pathlib import Path

from nodediag.bundle.verify import verify_bundle
from nodediag.bundle.writer import BundleWriter
from nodediag.collector.engine import Source, SourceContext, SourceResult
from nodediag.redaction import Redactor
from tests.unit.test_redact_command import members

KEY = "0x" + "ab12" * 16  # a private key, known to the redactor
PATH = "containers/c/logs.txt"


def make(tmp_path: Path, line_cap: int = 4096, log_cap: int = 10 << 20):
    writer = BundleWriter.create(tmp_path / "b.tar.zst")
    redactor = Redactor()
    redactor.add_secret(KEY, "private_key")
    result = SourceResult("container_logs:c")
    ctx = SourceContext(Source("container_logs:c", lambda c: None, writes=(PATH,)), writer, redactor, None, result,
                        time.monotonic() + 60, line_cap=line_cap)
    return writer, ctx, ctx.log_writer(PATH, log_cap), result


def written(writer: BundleWriter, tmp_path: Path) -> str:
    path = writer.finish({"format": "nodediag-bundle", "format_version": 1})
    assert verify_bundle(path).ok
    return members(path)[PATH].decode()


def test_a_secret_across_the_cut_is_redacted_whole(tmp_path):
    writer, ctx, log, result = make(tmp_path)
    for offset in (10, 40, 63):  # the key starts so that the cut (4096) falls inside it
        line = "2026-12-03T08:00:00.000000000Z " + "x" * (4096 - 31 - offset) + KEY + "y" * 9000 + "\n"
        log.feed(line.encode())
    log.feed(b"2026-12-03T08:00:01.000000000Z short line\n")
    log.finish()
    text = written(writer, tmp_path)
    lines = text.splitlines()
    assert len(lines) == 4 and lines[-1].endswith("short line")
    for line in lines[:3]:
        assert "[nodediag: line cut here" in line and len(line.encode()) < 4096 + 200
    low = text.lower()
    assert "ab12ab12" not in low  # not even a piece of the key is left at the cut
    assert "[redacted:private_key#" in low  # kept whole as a tag, or left out with the rest of the line
    assert "3 line(s) longer than 4096 bytes cut (--line-cap)" in (ctx.truncation or "")


def test_a_huge_single_line_stays_in_bounded_memory(tmp_path):
    writer, ctx, log, _ = make(tmp_path, line_cap=1 << 20)
    chunk = b"A" * (1 << 20)
    tracemalloc.start()
    log.feed(b"2026-12-03T08:00:00.000000000Z ")
    for _ in range(64):  # one 64 MB line
        log.feed(chunk)
    log.feed(b"\n2026-12-03T08:00:01.000000000Z after\n")
    log.finish()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 24 << 20, f"peak {peak >> 20} MB for a 64 MB line"
    text = written(writer, tmp_path)
    first, second = text.splitlines()
    assert len(first) <= (1 << 20) + 200 and "more bytes of this line not kept" in first
    dropped = int(first.rsplit("line cut here, ", 1)[1].split(" ", 1)[0])
    assert abs(dropped - (64 << 20) + (1 << 20)) < 1024 + 64 * 1024
    assert second.endswith("after")


def test_a_log_stopped_early_keeps_what_was_read_and_says_why(tmp_path):
    writer, ctx, log, _ = make(tmp_path)
    for i in range(18):
        log.feed(f"2026-12-03T08:00:{i:02d}.000000000Z line {i}\n".encode())
    log.finish("stopped early: interrupted (Ctrl-C)")
    text = written(writer, tmp_path)
    assert len(text.splitlines()) == 18
    assert "interrupted (Ctrl-C)" in (ctx.truncation or "")


def test_a_complete_log_is_not_marked_truncated(tmp_path):
    writer, ctx, log, _ = make(tmp_path)
    for i in range(18):
        log.feed(f"2026-12-03T08:00:{i:02d}.000000000Z line {i}\n".encode())
    log.finish()
    assert ctx.truncation is None
    assert len(written(writer, tmp_path).splitlines()) == 18


def test_the_cap_records_the_time_range_kept(tmp_path):
    writer, ctx, log, result = make(tmp_path, log_cap=2000)
    for i in range(200):
        log.feed(f"2026-12-03T08:{i // 60:02d}:{i % 60:02d}.000000000Z line {i}\n".encode())
    log.finish()
    assert result.kept_range is not None
    assert result.kept_range["to"] == "2026-12-03T08:03:19.000000000Z"
    text = written(writer, tmp_path)
    assert text.splitlines()[0].startswith(result.kept_range["from"])
    assert result.kept_range["from"] in (ctx.truncation or "")
