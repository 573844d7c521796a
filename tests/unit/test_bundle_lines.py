"""Overlong lines (nodediag/bundle/lines.py): cut at the cap, marked, the rest of the text unchanged,
whatever the chunking; the text cutter never leaves part of a token before the cut."""

from __future__ import annotations

import io

from hypothesis import given, settings
from hypothesis import strategies as st

from nodediag.bundle.lines import MARK, LineCappedReader, LineCutter

LINES = st.lists(st.one_of(st.text("ab \n", max_size=40), st.just("x" * 50), st.just("k=" + "f" * 30 + " t")),
                 max_size=30).map("".join)


def reference_bytes(data: bytes, cap: int) -> bytes:
    out = []
    for line in data.split(b"\n"):
        out.append(line[:cap] + MARK.format(cap=cap).encode() if len(line) > cap else line)
    return b"\n".join(out)


def read_all(reader: io.RawIOBase, sizes: list[int]) -> bytes:
    out = bytearray()
    n = 0
    while True:
        buf = bytearray(sizes[n % len(sizes)])
        n += 1
        count = reader.readinto(memoryview(buf))
        if not count:
            return bytes(out)
        out += buf[:count]


@settings(max_examples=300, deadline=None)
@given(LINES, st.integers(1, 60), st.lists(st.integers(1, 70), min_size=1, max_size=5))
def test_the_byte_reader_cuts_exactly_the_overlong_lines(text: str, cap: int, sizes: list[int]) -> None:
    data = text.encode()
    assert read_all(LineCappedReader(io.BytesIO(data), cap), sizes) == reference_bytes(data, cap)


@settings(max_examples=300, deadline=None)
@given(LINES, st.integers(1, 60), st.lists(st.integers(1, 70), min_size=1, max_size=5))
def test_the_text_cutter_keeps_short_lines_and_cuts_long_ones_at_a_token_boundary(
        text: str, cap: int, sizes: list[int]) -> None:
    cutter = LineCutter(cap)
    out, pos, n = [], 0, 0
    while pos < len(text):
        size = sizes[n % len(sizes)]
        out.append(cutter.feed(text[pos:pos + size]))
        pos += size
        n += 1
    out.append(cutter.close())
    got = "".join(out).split("\n")
    mark = MARK.format(cap=cap)
    for original, line in zip(text.split("\n"), got, strict=True):
        if len(original) <= cap:
            assert line == original
        else:
            assert line.endswith(mark)
            head = line[:-len(mark)]
            assert original.startswith(head) and len(head) <= cap
            # the cut never splits a token: what was kept ends at a separator (or nothing was kept)
            assert head == "" or head[-1] == " " or original[len(head)] == " "


def test_a_secret_across_the_cut_is_dropped_whole() -> None:
    key = "0x" + "ab12" * 16
    cutter = LineCutter(40)
    out = cutter.feed(f"INFO: publisher key={key} end\nnext\n") + cutter.close()
    assert "ab12" not in out and out.endswith("\nnext\n") and "line cut by nodediag" in out
