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

import json
import json.scanner
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import ahocorasick_rs

from nodediag.analyzer.parsing.formats import level_from_number

try:  # the compiled sieve (setup.py builds it where a C compiler is at hand)
    from nodediag.analyzer.parsing import _sieve

    # a module built from an earlier _sieve.c (a checkout not rebuilt) reads no JSON lines
    if not isinstance(_sieve.mark_lines(b"", (), [], None), tuple):
        raise ImportError("the compiled sieve is out of date")
except (ImportError, TypeError):  # pragma: no cover - the Python sieve below does the same, slower
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

# the start of a JSON line that may be plain (see _sieve.c): checked in full by json_level()
_JSON_HEAD = r'(?:DOCKER)?\{"level":[1-9][0-9][,}]'.replace("DOCKER", _DOCKER)
_JSON_LINE = re.compile(f"(?:{_DOCKER})?{{".encode()).match
_DOCKER_HEAD = re.compile(_DOCKER.encode()).match
_JSON_LEVEL = re.compile(rb'\{"level":([1-9][0-9]{0,2})[,}]').match
_JSON_CANDIDATES = re.compile(b"^" + _JSON_HEAD.encode(), re.MULTILINE)
MAX_JSON_NESTING = 64  # '{' and '[' bytes in a JSON line the sieve reads (more: the parser decides it)


def _refuse(name: str) -> float:
    raise ValueError(name)


# Python's own JSON scanner (the parser's), refusing NaN and Infinity as _sieve.c does
_scan_json = json.scanner.make_scanner(cast(Any, json.JSONDecoder(parse_constant=_refuse)))


def json_level(line: bytes) -> int:
    """_sieve.c's json_record in Python: the level of ``line`` (with or without its newline)
    when it is a JSON record as the sieve reads one (an optional docker timestamp of a time that
    exists, then '{"level":N' and one JSON object that ends the line, its only escapes "\\n"),
    else -1."""
    if line[-1:] == b"\n":
        line = line[:-1]
    head = _DOCKER_HEAD(line) if line[:1] != b"{" else None
    if head is not None:
        try:
            datetime(int(line[0:4]), int(line[5:7]), int(line[8:10]), int(line[11:13]), int(line[14:16]),
                     int(line[17:19]))
        except ValueError:
            return -1
    body = line[head.end():] if head is not None else line
    if body[-1:] == b"\r":
        body = body[:-1]
    level = _JSON_LEVEL(body)
    if (level is None or body[-1:] != b"}" or body.count(b"{") + body.count(b"[") > MAX_JSON_NESTING
            or b"\\" in body.replace(b"\\n", b"") or not body.isascii()):
        return -1
    text = body.decode("ascii")
    try:
        value, end = _scan_json(text, 0)
    except (StopIteration, ValueError, RecursionError):
        return -1
    return int(level.group(1)) if end == len(text) and isinstance(value, dict) else -1


def json_levels(plan: SkipPlan) -> bytes | None:
    """The table _sieve.c reads: byte n is 1 when pino's numeric level n (two digits) is one the
    plan skips; None (no JSON line is plain) when an anchor holds a control character (it could
    span a "\\n" escape)."""
    if any(ord(c) < 0x20 for a in plan.anchors for c in a):
        return None
    return bytes(int(10 <= n and level_from_number(n) in plan.levels) for n in range(100))


def _json_starts(line: bytes) -> bool:
    """A JSON record (json_level) with "\"level\"" once in it, no ESC and no byte outside ASCII."""
    head = _DOCKER_HEAD(line) if line[:1] != b"{" else None
    start = head.end() if head is not None else 0
    return json_level(line) >= 0 and line.count(b'"level"', start) == 1 and b"\x1b" not in line and line.isascii()


Mark = tuple[int, int, int, int, int, int]  # start, end, index, cut, alone, json (see _sieve.c)


def py_mark_lines(block: bytes, not_plain: re.Pattern[bytes], hits: list[int],
                  levels: bytes | None = None) -> tuple[list[Mark], int]:
    """``_sieve.mark_lines`` in Python (see _sieve.c for what it returns), given
    ``not_plain``, the regex LineSieve makes from the labels (and, with ``levels``, the JSON
    head). The compiled one must give the same: the tests compare them."""
    found = {m.start() for m in not_plain.finditer(b"\n" + block)}
    found.discard(len(block))
    rfind, find, count = block.rfind, block.find, block.count
    json_lines = set()  # JSON lines the regex let through: each decided in full
    if levels is not None:
        for m in _JSON_CANDIDATES.finditer(block):
            start = m.start()
            if start in found:
                continue
            line = block[start:find(b"\n", start) + 1 or len(block)]
            level = json_level(line)
            if level >= 10 and level <= 99 and levels[level] and _json_starts(line):
                json_lines.add(start)
            else:
                found.add(start)
    found.update(rfind(b"\n", 0, hit) + 1 for hit in hits)
    pos = find(b"\x1b")
    while pos != -1:
        found.add(rfind(b"\n", 0, pos) + 1)
        pos = find(b"\x1b", pos + 1)
    if not block.isascii():
        found.update(m.start() for m in _NON_ASCII_LINE.finditer(block))
    size = len(block)
    marks: list[tuple[int, int, int, int, int]] = []
    pos = index = 0

    def mark(start: int) -> int:
        end = find(b"\n", start) + 1 or size
        line = block[start:end]
        stamps = _STAMPS(line)
        head = _STARTS(line)
        starts = (head is not None and b"] " not in line[head.end():] and line.isascii()
                  and b"\x1b" not in line)
        if head is None and levels is not None and _JSON_LINE(line) and stamps is None:
            starts = _json_starts(line)
        # (its last item is "starts" here: made "alone" below)
        marks.append((start, end, index, start + stamps.end() if stamps else 0, int(starts)))
        return end

    for start in [*sorted(found), size]:
        if pos < start:  # a run of plain lines: each holds "] " once, unless a record is glued on
            lines = count(b"\n", pos, start) + (start == size and block[-1:] != b"\n")
            if count(b"] ", pos, start) == lines and not json_lines:
                index += lines
                pos = start
            while pos < start:  # find the pino lines holding a second "] "
                end = find(b"\n", pos, start) + 1 or start
                if pos not in json_lines and count(b"] ", pos, end) != 1:
                    mark(pos)
                index += 1
                pos = end
        if start < size:
            pos = mark(start)
            index += 1
    # each mark's last item: whether the next line is in the block and starts a record (a plain
    # line does, a marked one when its "starts" says so)
    # and how many plain JSON lines the run before it holds
    plain_json = sorted(json_lines - {m[0] for m in marks})
    alone: list[Mark] = []
    taken = 0
    for k, (start, end, index, cut, _) in enumerate(marks):
        following = marks[k + 1] if k + 1 < len(marks) and marks[k + 1][2] == index + 1 else None
        before = taken
        while taken < len(plain_json) and plain_json[taken] < start:
            taken += 1
        alone.append((start, end, index, cut, int(end < size and (following is None or following[4] == 1)),
                      taken - before))
    return alone, len(plain_json) - taken


class LineSieve:
    """Finds the lines of a block that the parser must look at, given a skip plan and the level
    labels it skips (``formats.LEVEL_BY_NAME`` keys)."""

    def __init__(self, plan: SkipPlan, labels: frozenset[str], *, compiled: bool = True) -> None:
        # matches the newline before each line that does not start as a plain pino line at a
        # skipped level; searched in b"\n" + block, so that a match's start is its line's offset
        self._json_levels = json_levels(plan)
        json_head = b"|" + _JSON_HEAD.encode() if self._json_levels is not None else b""
        self._not_plain = re.compile(rb"\n(?!" + _head_pattern(labels) + json_head + rb")")
        # (ESC is looked for on its own: a one-byte pattern would slow the automaton's prefilter)
        self._anchors = ahocorasick_rs.BytesAhoCorasick([a.encode() for a in plan.anchors],
                                                        matchkind=ahocorasick_rs.MATCHKIND_LEFTMOST_FIRST)
        self._labels = tuple(sorted(label.encode() for label in labels))
        # the compiled sieve reads a label as [A-Z]{4,7}: any other label needs the Python one
        self.compiled = compiled and _sieve is not None and _all_plain_labels(labels)

    def marks(self, block: bytes) -> tuple[list[Mark], int]:
        """The lines of ``block`` the parser must look at, in order, as
        (start, end, index, cut, alone, json) (see _sieve.c): those that are not a plain pino
        line (pretty or JSON) at a skipped level, or that hold an anchor (in any ASCII case), an
        ESC, a byte outside ASCII, or (pretty) a second record glued on; and how many plain JSON
        lines follow the last of them. ``block`` holds whole lines: each ends with b"\\n" but
        perhaps the last."""
        # (the automaton's matches do not overlap and come in order: the hits are ascending)
        hits = [start for _, start, _ in self._anchors.find_matches_as_indexes(block.lower())]
        if self.compiled:
            return _sieve.mark_lines(block, self._labels, hits, self._json_levels)
        return py_mark_lines(block, self._not_plain, hits, self._json_levels)


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


def anchor_test(anchors: tuple[str, ...]) -> Callable[[str], bool]:
    """``has_anchor(text, anchors)`` for many texts: one automaton pass over the lower-cased text,
    not a substring test per anchor (a marked DEBUG line holding one of 40 anchors took ~20)."""
    if not anchors:
        return lambda text: False
    find = ahocorasick_rs.AhoCorasick(list(anchors)).find_matches_as_indexes

    def holds(text: str) -> bool:
        return bool(find(text.lower()))

    return holds


__all__ = ["LineSieve", "Mark", "SkipPlan", "anchor_test", "has_anchor", "json_level", "json_levels", "py_mark_lines",
           "strip_eol"]
