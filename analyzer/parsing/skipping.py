"""Which log lines cannot matter to the analysis, decided for a whole block of bytes at once.

A pino line below WARN that contains none of the log rules' anchor literals can match no rule,
and the timeline ignores it: the parser only counts it. ``LineSieve`` finds, in a block of whole
lines, the few lines that need a look of their own: one Aho-Corasick search for every anchor in
the lower-cased block, then one pass over the block's lines (``mark_lines``: compiled from
_sieve.c where setup.py could build it, else ``py_mark_lines``, a few regex and find passes) that
marks every line that is not plain, and tells for each where it is, where its timestamps end and
whether the line after it starts a record of its own. The caller counts each run of lines
between marked ones, never decoding it.

The sieve may over-mark (the parser then decides the line exactly, as ``parse_log_lines`` does
for every line), never under-mark: a line it does not return is a plain pino line at a skipped
level, with no anchor in any case, no ANSI escape, only ASCII bytes and no second record glued on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import ahocorasick_rs

try:  # the compiled sieve (setup.py builds it where a C compiler is at hand)
    from nodediag.analyzer.parsing import _sieve
except ImportError:  # pragma: no cover - the Python sieve below does the same, slower
    _sieve = None  # type: ignore[assignment]

# a docker timestamp and a pino time of day, as formats.PRETTY_LINE_RE reads them (ASCII digits)
_DOCKER = r"DDDD-DD-DDTDD:DD:DD(?:\.D{1,9}+)?Z ".replace("D", "[0-9]")
_PINO = r"\[DD:DD:DD\.DDD\] ".replace("D", "[0-9]")


@dataclass(frozen=True, slots=True)
class SkipPlan:
    """Records at ``levels`` whose line contains none of ``anchors`` (lower-case) need no Record."""

    levels: frozenset[str]
    anchors: tuple[str, ...]


def _head_pattern(labels: frozenset[str]) -> bytes:
    """The start of a line that formats.PRETTY_LINE_RE matches with one of ``labels`` as its
    level: the same pattern with ASCII digits only, the docker timestamp's two cases spelt out and
    INFO tried first (each quicker for re than the general form)."""
    names = "|".join(sorted(map(re.escape, labels), key=lambda n: (n != "INFO", -len(n), n)))
    # PRETTY_LINE_RE's level is [A-Z]{4,7}: a label of another shape needs that said
    shape = "" if _all_plain_labels(labels) else "(?=[A-Z]{4,7}:)"
    pino = _PINO + rf"{shape}(?:{names}):"
    return f"{_DOCKER}{pino}|{pino}".encode()


def _all_plain_labels(labels: frozenset[str]) -> bool:
    return all(re.fullmatch("[A-Z]{4,7}", label) for label in labels)


# a line holding a byte outside ASCII: str.lower() may then find an anchor bytes.lower() cannot
# (the Kelvin sign lower-cases to "k"), so such a line is decided on its decoded text
_NON_ASCII_LINE = re.compile(rb"^[^\n]*?[\x80-\xff]", re.MULTILINE)
# a docker timestamp and a pino time: a marked line's ``cut`` is where this ends
_STAMPS = re.compile((_DOCKER + _PINO).encode()).match
# a line the parser reads as the start of a record of its own (see mark_lines), but for its
# bytes outside ASCII, ESC and "] " after this head, which are looked at apart
_STARTS = re.compile(f"(?:{_DOCKER})?{_PINO}[A-Z]{{4,7}}:".encode()).match

Mark = tuple[int, int, int, int, int]


def py_mark_lines(block: bytes, not_plain: re.Pattern[bytes], hits: list[int]) -> list[Mark]:
    """``_sieve.mark_lines`` in Python (see _sieve.c for what it returns), given
    ``not_plain``, the regex LineSieve makes from the labels. The compiled one must give the
    same list: the tests compare them."""
    found = {m.start() for m in not_plain.finditer(b"\n" + block)}
    found.discard(len(block))
    rfind, find, count = block.rfind, block.find, block.count
    found.update(rfind(b"\n", 0, hit) + 1 for hit in hits)
    pos = find(b"\x1b")
    while pos != -1:
        found.add(rfind(b"\n", 0, pos) + 1)
        pos = find(b"\x1b", pos + 1)
    if not block.isascii():
        found.update(m.start() for m in _NON_ASCII_LINE.finditer(block))
    size = len(block)
    marks: list[Mark] = []
    pos = index = 0

    def mark(start: int) -> int:
        end = find(b"\n", start) + 1 or size
        line = block[start:end]
        stamps = _STAMPS(line)
        head = _STARTS(line)
        starts = (head is not None and b"] " not in line[head.end():] and line.isascii()
                  and b"\x1b" not in line)
        # (its last item is "starts" here: made "alone" below)
        marks.append((start, end, index, start + stamps.end() if stamps else 0, int(starts)))
        return end

    for start in [*sorted(found), size]:
        if pos < start:  # a run of plain lines: each holds "] " once, unless a record is glued on
            lines = count(b"\n", pos, start) + (start == size and block[-1:] != b"\n")
            if count(b"] ", pos, start) == lines:
                index += lines
                pos = start
            while pos < start:  # find the lines holding a second "] "
                end = find(b"\n", pos, start) + 1 or start
                if count(b"] ", pos, end) != 1:
                    mark(pos)
                index += 1
                pos = end
        if start < size:
            pos = mark(start)
            index += 1
    # each mark's last item: whether the next line is in the block and starts a record (a plain
    # line does, a marked one when its "starts" says so)
    alone = []
    for k, (start, end, index, cut, _) in enumerate(marks):
        following = marks[k + 1] if k + 1 < len(marks) and marks[k + 1][2] == index + 1 else None
        alone.append((start, end, index, cut, int(end < size and (following is None or following[4] == 1))))
    return alone


class LineSieve:
    """Finds the lines of a block that the parser must look at, given a skip plan and the level
    labels it skips (``formats.LEVEL_BY_NAME`` keys)."""

    def __init__(self, plan: SkipPlan, labels: frozenset[str], *, compiled: bool = True) -> None:
        # matches the newline before each line that does not start as a plain pino line at a
        # skipped level; searched in b"\n" + block, so that a match's start is its line's offset
        self._not_plain = re.compile(rb"\n(?!" + _head_pattern(labels) + rb")")
        # (ESC is looked for on its own: a one-byte pattern would slow the automaton's prefilter)
        self._anchors = ahocorasick_rs.BytesAhoCorasick([a.encode() for a in plan.anchors],
                                                        matchkind=ahocorasick_rs.MATCHKIND_LEFTMOST_FIRST)
        self._labels = tuple(sorted(label.encode() for label in labels))
        # the compiled sieve reads a label as [A-Z]{4,7}: any other label needs the Python one
        self.compiled = compiled and _sieve is not None and _all_plain_labels(labels)

    def marks(self, block: bytes) -> list[Mark]:
        """The lines of ``block`` the parser must look at, in order, as
        (start, end, index, cut, alone) (see _sieve.c): those that do not start as a plain pino
        line at a skipped level, or that hold an anchor (in any ASCII case), an ESC, a byte
        outside ASCII, or a second record glued on. ``block`` holds whole lines: each ends with
        b"\\n" but perhaps the last."""
        # (the automaton's matches do not overlap and come in order: the hits are ascending)
        hits = [start for _, start, _ in self._anchors.find_matches_as_indexes(block.lower())]
        if self.compiled:
            return _sieve.mark_lines(block, self._labels, hits)  # type: ignore[union-attr]
        return py_mark_lines(block, self._not_plain, hits)


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


__all__ = ["LineSieve", "Mark", "SkipPlan", "has_anchor", "py_mark_lines", "strip_eol"]
