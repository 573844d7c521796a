"""Which log lines cannot matter to the analysis, decided a block of lines at a time.

A pino line below WARN that contains none of the log rules' anchor literals can match no rule,
and the timeline ignores it: the parser only counts it. Whether a line contains an anchor is
decided per block: the block is lower-cased once and each anchor found with ``str.find``.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from itertools import accumulate


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


def has_anchor(line: str, anchors: tuple[str, ...]) -> bool:
    low = line.lower()
    return any(a in low for a in anchors)


__all__ = ["SkipPlan", "has_anchor", "lines_with_anchor"]
