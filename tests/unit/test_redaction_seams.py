"""A known secret printed over two lines is joined and redacted also when the cut between two
blocks of the streaming redactor falls exactly between those two lines (or one byte either side):
`redact` of a log file, collect's log writer, LogStream.feed's pieces of a big block."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from nodediag import redact as redact_module
from nodediag.bundle.writer import BundleWriter
from nodediag.collector.engine import Source, SourceContext, SourceResult
from nodediag.redaction import RedactionCounts, Redactor, late
from nodediag.redaction import redactor as redactor_module
from nodediag.redaction.late import LateFix, fix_file
from tests.unit.test_redact_command import members

SECRET = "Qv7Lm2Xc9Rt4Wb8Np3Hk6Jd1Fs5Gy0Za"  # known (as --secret or from the .env)
CUT = 15  # the secret's first 15 characters end one line, the rest starts the next
TS = "2026-12-03T08:00:00.000000000Z "
TX = "0x" + "9f8e7d6c" * 8
BLOCK = 4096


def _redactor() -> Redactor:
    redactor = Redactor()
    redactor.add_secret(SECRET, "token")
    return redactor


def _log(seam: int, prefix: str = TS) -> str:
    """A log whose line ``... SECRET[:CUT]`` ends (its newline included) at byte ``seam``; the next
    line starts with the rest of the secret."""
    head = ""
    while len((head + prefix).encode()) < seam - 300:
        head += f"{prefix}filler line tx {TX}\n"
    pad = seam - len((head + prefix + "upstream said " + SECRET[:CUT] + "\n").encode())
    text = head + prefix + "upstream " + "." * pad + "said " + SECRET[:CUT] + "\n"
    assert len(text.encode()) == seam
    return text + prefix + f"{SECRET[CUT:]} and more\n" + f"{prefix}last line tx {TX}\n"


def _no_piece(text: str) -> None:
    low = text.lower()
    assert SECRET[:CUT].lower() not in low and SECRET[CUT:].lower() not in low
    assert "[redacted:token#" in low and TX in text  # the near-miss stays


@pytest.mark.parametrize("shift", [-1, 0, 1])
def test_redact_of_a_log_file_joins_a_secret_split_at_the_block_boundary(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shift: int) -> None:
    monkeypatch.setattr(redact_module, "_BLOCK", BLOCK)
    source = tmp_path / "node.log"
    source.write_text(_log(BLOCK + shift))
    target = tmp_path / "redacted.log"
    redact_module.redact_log_file(source, target, _redactor())
    _no_piece(target.read_text())


@pytest.mark.parametrize("shift", [-1, 0, 1])
def test_collects_log_writer_joins_a_secret_split_at_the_block_boundary(tmp_path: Path, shift: int) -> None:
    writer = BundleWriter.create(tmp_path / "b.tar.zst")
    path = "containers/c/logs.txt"
    ctx = SourceContext(Source("container_logs:c", lambda c: None, writes=(path,)), writer, _redactor(), None,
                        SourceResult("container_logs:c"), time.monotonic() + 60, line_cap=BLOCK)
    log = ctx.log_writer(path, 10 << 20)
    data = _log(BLOCK + shift).encode()
    seam = data.index(SECRET[:CUT].encode()) + CUT + 1  # just after the first part's newline
    # the writer emits whole lines once it holds a block: the first emitted block ends at the seam
    log.feed(data[:seam + shift])
    log.feed(data[seam + shift:])
    log.finish()
    bundle = writer.finish({"format": "nodediag-bundle", "format_version": 1})
    _no_piece(members(bundle)[path].decode())


@pytest.mark.parametrize("prefix", [TS, "prover-node-1  | ", ""])
def test_two_feeds_cut_between_the_two_lines(prefix: str) -> None:
    text = _log(600, prefix)
    seam = text.index(SECRET[:CUT]) + CUT + 1
    stream = _redactor().stream(RedactionCounts())
    _no_piece(stream.feed(text[:seam]) + stream.feed(text[seam:]) + stream.close())


def test_the_pieces_of_a_big_block_are_cut_where_a_secret_is_split(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(redactor_module, "PIECE_CHARS", 1024)
    text = _log(1100)  # the first newline after 1024 characters ends the first part: a piece ends there
    text += "".join(f"{TS}tail line {n}\n" for n in range(200))
    stream = _redactor().stream(RedactionCounts())
    _no_piece(stream.feed(text) + stream.close())


@pytest.mark.parametrize("shift", [-1, 0, 1])
def test_a_late_fix_joins_a_secret_split_at_its_block_boundary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                               shift: int) -> None:
    """What another input (or a later line) taught is removed from a copy already written, also
    where the secret was printed over two lines across the late fix's own blocks."""
    monkeypatch.setattr(late, "BLOCK", BLOCK)
    copy = tmp_path / "copy.log"
    copy.write_text(_log(BLOCK + shift))
    fix = LateFix.of(_redactor().learnt())
    assert fix is not None
    counts = RedactionCounts()
    assert fix_file(copy, fix, counts, lambda text, line: None)
    _no_piece(copy.read_text())
    assert counts.by_kind == {"token": 2}
