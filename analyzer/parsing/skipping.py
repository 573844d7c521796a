"""Which log lines cannot matter to the analysis, decided a block of lines at a time.

A pino line below WARN that contains none of the log rules' anchor literals can match no rule,
and the timeline ignores it: the parser only counts it. This is decided per block of lines:
one regex search over the block finds the lines that do not start as such a pino line, one
count of "] " rules out records glued onto a line, and the remaining lines are joined,
lower-cased once and each anchor found with ``str.find``.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from itertools import accumulate, islice, repeat


@dataclass(frozen=True, slots=True)
class SkipPlan:
    """Records at ``levels`` whose line contains none of ``anchors`` (lower-case) need no Record."""

    levels: frozenset[str]
    anchors: tuple[str, ...]


def lines_with_anchor(lines: list[str], anchors: tuple[str, ...]) -> set[int] | None:
    """Indexes in ``lines`` of the lines whose lower-cased text contains one of ``anchors``.

    None when lower-casing changes the block's length (some non-ASCII text): the caller then
    checks line by line. Lines given without newlines may join into a match spanning two lines:
    it marks the first (harmless: that line is merely not skipped)."""
    blob = "".join(lines)
    low = blob.lower()
    if len(low) != len(blob):
        return None
    ends = list(accumulate(map(len, lines)))
    found: set[int] = set()
    find = low.find
    for anchor in anchors:
        pos = find(anchor)
        while pos != -1:
            i = bisect_right(ends, pos)
            found.add(i)
            pos = find(anchor, ends[i])  # the next line: this one is marked already
    return found


def _head_pattern(labels: frozenset[str]) -> str:
    names = "|".join(sorted(map(re.escape, labels), key=lambda n: (-len(n), n)))
    # formats.PRETTY_LINE_RE with ASCII digits only (a narrower \\d, and quicker to test)
    stamps = r"(?:DDDD-DD-DDTDD:DD:DD(?:\.D{1,9})?Z )?\[DD:DD:DD\.D{3}\] ".replace("D", "[0-9]")
    return rf"{stamps}(?=[A-Z]{{4,7}}:)(?:{names}):"


def skip_prefix_re(labels: frozenset[str]) -> re.Pattern[str]:
    """The start of a pino pretty line (formats.PRETTY_LINE_RE) whose level label is one of
    ``labels``: a line it matches, PRETTY_LINE_RE matches too, with the same label."""
    return re.compile(_head_pattern(labels))


def not_plain_re(labels: frozenset[str]) -> re.Pattern[str]:
    """Matches the newline before each line that does not start as ``skip_prefix_re`` says.
    Searched in "\\n" + the lines joined."""
    return re.compile(rf"\n(?!{_head_pattern(labels)})")


def lines_to_check(lines: list[str], anchors: tuple[str, ...], not_plain: re.Pattern[str]) -> set[int] | None:
    """Indexes in ``lines`` of the lines that are not plain or whose lower-cased text holds one
    of ``anchors``: every other line can be skipped. A plain line starts as ``skip_prefix_re``
    says, and holds no ANSI escape and no "] " after that start (no second record glued on).

    None when the block does not allow this (a line without its newline before the last one, a
    newline inside a line, or lower-casing that changes the length): the caller checks each line."""
    count = len(lines)
    if not count:
        return set()
    blob = "".join(lines)
    whole = count - (lines[-1][-1:] != "\n")
    if blob.count("\n") != whole or not all(map(str.endswith, islice(lines, whole), repeat("\n"))):
        return None
    starts = list(accumulate(map(len, lines), initial=0))  # starts[i]: offset of line i
    # in "\n" + blob, the newline before line i is at offset starts[i]
    found = {bisect_left(starts, m.start()) for m in not_plain.finditer("\n" + blob)}
    found.discard(count)
    # the rest is looked for in the lines that are plain so far, only
    plain: list[int] | range = range(count)
    if found:
        plain = [i for i in plain if i not in found]
        blob = "".join([lines[i] for i in plain])
        starts = list(accumulate([len(lines[i]) for i in plain], initial=0))
    # the start of a plain line holds one "] ": if these lines hold more, the lines holding
    # more are looked for one by one
    if blob.count("] ") != len(plain):
        found.update(i for i in plain if lines[i].count("] ") > 1)
    low = blob.lower()
    if len(low) != len(blob):
        return None
    find = low.find
    for anchor in (*anchors, "\x1b"):
        pos = find(anchor)
        while pos != -1:
            i = bisect_right(starts, pos) - 1
            found.add(plain[i])
            pos = find(anchor, starts[i + 1])  # the next line: this one is marked already
    return found


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


__all__ = [
    "SkipPlan", "has_anchor", "lines_to_check", "lines_with_anchor", "not_plain_re", "skip_prefix_re", "strip_eol",
]
