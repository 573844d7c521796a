"""Per-file redaction counts, and on which lines each kind was found (never the values)."""

from __future__ import annotations

from dataclasses import dataclass, field

#: How many line numbers one RedactionCounts keeps in ``lines`` (the counts are never capped).
MAX_LINES_KEPT = 1000
#: How many line numbers are kept per kind in ``lines_by_kind`` (what the manifest records).
MAX_LINES_PER_KIND = 100


@dataclass
class RedactionCounts:
    """How many secrets of each kind were replaced in one output file, and on which lines."""

    by_kind: dict[str, int] = field(default_factory=dict)
    lines: list[int] = field(default_factory=list)  # any kind; complete only while no kind hit its cap
    lines_by_kind: dict[str, list[int]] = field(default_factory=dict)

    def add(self, kind: str, n: int = 1, line: int | None = None) -> None:
        self.by_kind[kind] = self.by_kind.get(kind, 0) + n
        if line is None:
            return
        if len(self.lines) < MAX_LINES_KEPT and (not self.lines or self.lines[-1] != line):
            self.lines.append(line)
        kept = self.lines_by_kind.setdefault(kind, [])
        if len(kept) < MAX_LINES_PER_KIND and (not kept or kept[-1] != line):
            kept.append(line)

    def wants_lines(self, kind: str) -> bool:
        """False once no more line numbers would be kept for kind (callers may skip finding them)."""
        return len(self.lines_by_kind.get(kind, ())) < MAX_LINES_PER_KIND

    @property
    def total(self) -> int:
        return sum(self.by_kind.values())


def add_found(counts: RedactionCounts, text: str, found: list[tuple[int, str]], first_line: int) -> None:
    """Count ``found`` ((position in text, kind) pairs) with the line each is on (text starts at first_line)."""
    if not found:
        return
    # A kind that keeps no more line numbers never will again: count its finds in one go.
    done = {kind for _, kind in found}
    done = {kind for kind in done if not counts.wants_lines(kind)}
    if done:
        for _, kind in found:
            if kind in done:
                counts.by_kind[kind] = counts.by_kind.get(kind, 0) + 1
        found = [item for item in found if item[1] not in done]
        if not found:
            return
    found.sort()
    line, pos = first_line, 0
    for at, kind in found:
        if not counts.wants_lines(kind):  # no line number kept any more: count only
            counts.by_kind[kind] = counts.by_kind.get(kind, 0) + 1
            continue
        line += text.count("\n", pos, at)
        pos = at
        counts.add(kind, line=line)
