"""The rule pack applied to log lines as they arrive (for `nodediag watch`).

``LiveRuleMatcher(rules, min_severity)`` takes the new lines of one container at a time (with or
without Docker's timestamp prefix), parses them into records the way ``analyze`` does and returns
the rules of at least ``min_severity`` they hit, and those tagged ``capture`` (a symptom whose
moment is the one to capture, such as the burst of "Broker facade stopped"). A rule's
``ignore_first`` and ``min_count`` count per container across calls, as in a report: a rule that
needs three hits fires on the third.
The watcher receives this object as a plain callable; it never imports the analyzer.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from nodediag.analyzer.model import ROLES, SEVERITY_RANK
from nodediag.analyzer.parsing.logs import parse_log_lines
from nodediag.analyzer.rules.catalog import Rule, load_rules
from nodediag.analyzer.rules.engine import LogRuleEngine


@dataclass(frozen=True, slots=True)
class LiveHit:
    rule_id: str
    severity: str
    title: str
    time: float | None  # Unix time of the first line that hit, when the line carries one


class LiveRuleMatcher:
    """``matcher(container, role, lines) -> [(rule id, severity, title, time or None), ...]``, each rule once
    per call; ``time`` is the Unix time of the line that hit (Docker's timestamp), when it has one."""

    def __init__(self, rules: Iterable[Rule] | None = None, min_severity: str = "high") -> None:
        if min_severity not in SEVERITY_RANK:
            raise ValueError(f"unknown severity {min_severity!r}")
        floor = SEVERITY_RANK[min_severity]
        chosen = [r for r in (load_rules() if rules is None else rules)
                  if r.match is not None and (SEVERITY_RANK[r.severity] >= floor or "capture" in r.tags)]
        self.rule_ids = tuple(r.id for r in chosen)
        self._engine = LogRuleEngine(chosen)
        self._seen: dict[tuple[str, str], int] = {}

    def __call__(self, container: str, role: str, lines: list[str]) -> list[tuple[str, str, str, float | None]]:
        if not lines:
            return []
        role = role if role in ROLES else "other"
        found: dict[str, LiveHit] = {}
        for record in parse_log_lines(lines, file="live", container=container, role=role):
            for rule in self._engine.match_ids(record)[0]:
                key = (rule.id, container)
                seen = self._seen[key] = self._seen.get(key, 0) + 1
                if seen - rule.ignore_first >= max(rule.min_count, 1):
                    when = record.time.timestamp() if record.time is not None else None
                    found.setdefault(rule.id, LiveHit(rule.id, rule.severity, rule.title, when))
        return [(h.rule_id, h.severity, h.title, h.time) for h in found.values()]
