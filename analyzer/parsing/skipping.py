"""Which log lines cannot matter to the analysis, decided for a whole block of bytes at once.

A pino line below WARN that contains none of the log rules' anchor literals can match no rule,
and the timeline ignores it: the parser only counts it. ``LineSieve`` finds, in a block of whole
lines, the few lines that need a look of their own, with a handful of passes that each run at C
speed over the block: one regex search for the lines that do not start as such a pino line, one
Aho-Corasick search for every anchor (and ESC) in the lower-cased block, and counts of "] " to
rule out records glued onto a line. Everything between those lines is counted, never decoded.

The sieve may over-mark (the parser then decides the line exactly, as ``parse_log_lines`` does
for every line), never under-mark: a line it does not return is a plain pino line at a skipped
level, with no anchor in any case, no ANSI escape, no second record and only ASCII bytes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import ahocorasick_rs


@dataclass(frozen=True, slots=True)
class SkipPlan:
    """Records at ``levels`` whose line contains none of ``anchors`` (lower-case) need no Record."""

    levels: frozenset[str]
    anchors: tuple[str, ...]


def _head_pattern(labels: frozenset[str]) -> bytes:
    names = "|".join(sorted(map(re.escape, labels), key=lambda n: (-len(n), n)))
    # formats.PRETTY_LINE_RE with ASCII digits only (a narrower \\d, and quicker to test)
    stamps = r"(?:DDDD-DD-DDTDD:DD:DD(?:\.D{1,9})?Z )?\[DD:DD:DD\.D{3}\] ".replace("D", "[0-9]")
    return rf"{stamps}(?=[A-Z]{{4,7}}:)(?:{names}):".encode()


# a line holding a byte outside ASCII: str.lower() may then find an anchor bytes.lower() cannot
# (the Kelvin sign lower-cases to "k"), so such a line is decided on its decoded text
_NON_ASCII_LINE = re.compile(rb"^[^\n]*?[\x80-\xff]", re.MULTILINE)


class LineSieve:
    """Finds the lines of a block that the parser must look at, given a skip plan and the level
    labels it skips (``formats.LEVEL_BY_NAME`` keys)."""

    def __init__(self, plan: SkipPlan, labels: frozenset[str]) -> None:
        # matches the newline before each line that does not start as a plain pino line at a
        # skipped level; searched in b"\n" + block, so that a match's start is its line's offset
        self._not_plain = re.compile(rb"\n(?!" + _head_pattern(labels) + rb")")
        marks = [a.encode() for a in plan.anchors] + [b"\x1b"]
        self._marks = ahocorasick_rs.BytesAhoCorasick(marks, matchkind=ahocorasick_rs.MATCHKIND_LEFTMOST_FIRST)

    def lines_to_check(self, block: bytes) -> list[tuple[int, int]]:
        """(start, end) offsets, in order, of the lines of ``block`` that may not be skipped. The
        block holds whole lines: each ends with b"\\n" except perhaps the last. ``end`` is past
        the line's newline."""
        size = len(block)
        found = {m.start() for m in self._not_plain.finditer(b"\n" + block)}
        found.discard(size)
        rfind = block.rfind
        for _, start, _ in self._marks.find_matches_as_indexes(block.lower()):
            found.add(rfind(b"\n", 0, start) + 1)
        if not block.isascii():
            found.update(m.start() for m in _NON_ASCII_LINE.finditer(block))
        find = block.find
        lines = []
        for start in sorted(found):
            end = find(b"\n", start) + 1
            lines.append((start, end or size))
        count = block.count
        # the start of a plain line holds one "] ": if the other lines hold more than one each,
        # the runs between the marked lines are looked at one by one
        plain = count(b"\n") + (block[-1:] != b"\n" and size > 0) - len(lines)
        if count(b"] ") - sum(count(b"] ", s, e) for s, e in lines) != plain:
            lines = sorted({*lines, *self._glued_lines(block, lines)})
        return lines

    @staticmethod
    def _glued_lines(block: bytes, marked: list[tuple[int, int]]) -> list[tuple[int, int]]:
        """The unmarked lines of ``block`` that hold "] " more than once."""
        size = len(block)
        count, find = block.count, block.find
        glued = []
        pos = 0
        for start, end in (*marked, (size, size)):
            if count(b"] ", pos, start) != count(b"\n", pos, start) + (start == size and block[-1:] != b"\n"):
                while pos < start:
                    stop = find(b"\n", pos, start) + 1 or start
                    if count(b"] ", pos, stop) > 1:
                        glued.append((pos, stop))
                    pos = stop
            pos = end
        return glued


def strip_eol(line: str) -> str:
    """``line`` without its "\\n" and then one "\\r", as the parser reads lines."""
    if line[-1:] == "\n":
        line = line[:-1]
        if line[-1:] == "\r":
            line = line[:-1]
    return line


def has_anchor(line: str, anchors: tuple[str, ...]) -> bool:
    low = line.lower()
    return any(a in low for a in anchors)


__all__ = ["LineSieve", "SkipPlan", "has_anchor", "strip_eol"]
