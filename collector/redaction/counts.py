"""Per-file redaction counts."""

from __future__ import annotations

from dataclasses import dataclass, field

#: How many line numbers one RedactionCounts keeps (the counts themselves are never capped).
MAX_LINES_KEPT = 1000


@dataclass
class RedactionCounts:
    """How many secrets of each kind were replaced in one output file, and on which lines."""

    by_kind: dict[str, int] = field(default_factory=dict)
    lines: list[int] = field(default_factory=list)

    def add(self, kind: str, n: int = 1, line: int | None = None) -> None:
        self.by_kind[kind] = self.by_kind.get(kind, 0) + n
        if line is not None and len(self.lines) < MAX_LINES_KEPT and (not self.lines or self.lines[-1] != line):
            self.lines.append(line)

    @property
    def total(self) -> int:
        return sum(self.by_kind.values())
