"""Run the log rules on a stream of records, one record at a time.

Memory stays bounded whatever the log size: per (rule, container) the engine keeps a count,
first/last time, at most ``MAX_EVIDENCE`` excerpts (the first ones and the latest) and at most
``MAX_EPISODES`` episodes (runs of hits closer than the rule's ``burst_gap_s``), never the
records themselves.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import ahocorasick_rs

from nodediag.analyzer.model import LEVEL_RANK, LEVELS, Evidence, Finding, Record
from nodediag.analyzer.parsing.logs import RepeatItem, Repeats
from nodediag.analyzer.parsing.skipping import SkipPlan
from nodediag.analyzer.rules.catalog import Rule
from nodediag.analyzer.unexplained import UnexplainedGroups

MAX_EVIDENCE = 5  # excerpts per finding: the first MAX_EVIDENCE - 1 and the latest
MAX_EXCERPT_LINES = 4  # a record's first line plus up to 3 continuation lines
MAX_EPISODES = 500
MATCH_CACHE_SIZE = 4096  # distinct (level, role, module, text) whose matching rules are remembered
MATCH_CACHE_TEXT = 512  # ... for texts up to this long
MAX_CAPTURED = 5  # distinct values kept per named group of a rule's regexes
MAX_CAPTURE_CHARS = 160
_PLACEHOLDER = re.compile(r"\{(\w+)\}")
_OPTIONAL_PART = re.compile(r"\[([^\[\]]*)\]")


@dataclass(slots=True)
class Episode:
    """A run of hits of one rule in one container, no two further apart than burst_gap_s."""

    start: datetime
    end: datetime
    count: int = 1
    first_line: int = 0


@dataclass(slots=True)
class RuleHits:
    """What the engine remembers about one rule in one container."""

    rule: Rule
    container: str
    seen: int = 0  # every hit, including the rule's ignore_first ones
    count: int = 0
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    evidence: list[Evidence] = field(default_factory=list)
    latest: Record | None = None  # the latest hit once evidence is full: it replaces the last excerpt
    episodes: deque[Episode] = field(default_factory=lambda: deque(maxlen=MAX_EPISODES))
    gap: timedelta | None = None  # the rule's burst_gap_s, once made
    captured: dict[str, list[str]] = field(default_factory=dict)  # named group -> distinct values


def capture(hits: RuleHits, text: str) -> None:
    """Keep the values of the named groups of the rule's regexes found in ``text`` (a circuit
    type, an error), a few distinct ones per group."""
    match = hits.rule.match
    if match is None:
        return
    for regex in match.regexes:
        if not regex.groupindex:
            continue
        found = regex.search(text)
        if found is None:
            continue
        for name, value in found.groupdict().items():
            if not value:
                continue
            value = " ".join(value.split())[:MAX_CAPTURE_CHARS]
            values = hits.captured.setdefault(name, [])
            if value not in values and len(values) < MAX_CAPTURED:
                values.append(value)


def fill_title(title: str, captured: dict[str, list[str]]) -> str:
    """``title`` with ``{group}`` replaced by the values captured; a ``[...]`` part whose groups
    were not all captured is left out, the brackets of the others removed."""
    def part(found: re.Match[str]) -> str:
        names = _PLACEHOLDER.findall(found.group(1))
        return found.group(1) if all(captured.get(n) for n in names) else ""

    title = _OPTIONAL_PART.sub(part, title)
    return _PLACEHOLDER.sub(lambda m: ", ".join(captured.get(m.group(1)) or ["unknown"]), title)


def excerpt(record: Record, note: str = "") -> Evidence:
    """The record's lines as evidence: its first line and up to a few continuation lines."""
    lines = [record.raw or record.message, *record.stack[: MAX_EXCERPT_LINES - 1]]
    line_end = record.line_end
    if len(record.stack) > MAX_EXCERPT_LINES - 1:
        line_end = record.line_start + len(lines) - 1
        note = note or f"{len(record.stack) - len(lines) + 1} more continuation lines not shown"
    return Evidence(
        file=record.file,
        line_start=record.line_start,
        line_end=line_end,
        lines=lines,
        container=record.container,
        time=record.time,
        note=note,
    )


def _module_matches(module: str | None, prefixes: tuple[str, ...]) -> bool:
    """Whether ``module`` is one of ``prefixes``. A record without a module (raw Node output
    pasted from a terminal, a line exported from a log service) cannot be narrowed by one: the
    wording alone decides, as the rule's fragments say."""
    if not module:
        return True
    if module.startswith("aztec:"):
        module = module[len("aztec:") :]
    return any(module == p or module.startswith(p + ":") or module.startswith(p) for p in prefixes)


def _rule_matches(rule: Rule, record: Record, text: str, lowered: str) -> bool:
    match = rule.match
    assert match is not None
    if match.min_level and record.level and LEVEL_RANK[record.level] < LEVEL_RANK[match.min_level]:
        return False
    if match.roles and record.role not in match.roles:
        return False
    if match.modules and not _module_matches(record.module, match.modules):
        return False
    found = any(f.lower() in lowered for f in match.fragments) or any(
        r.search(text) for r in match.regexes
    )
    return found and not any(u in lowered for u in match.unless)


# a rule's test, made once (``_rule_matches`` is what it is tested against): (the rule, its level
# rank below which a record is ignored or -1, its roles, its module prefixes, its fragments
# lower-cased, its regexes, its unless)
_Check = tuple[Rule, int, tuple[str, ...], tuple[str, ...], tuple[str, ...], tuple[re.Pattern[str], ...],
               tuple[str, ...]]


def _check_of(rule: Rule) -> _Check:
    match = rule.match
    assert match is not None
    rank = LEVEL_RANK[match.min_level] if match.min_level else -1
    return (rule, rank, match.roles, match.modules, tuple(f.lower() for f in match.fragments), match.regexes,
            match.unless)


def _passes(check: _Check, record: Record, text: str, lowered: str) -> bool:
    """``_rule_matches(check[0], record, text, lowered)``, from the rule's check made once."""
    rule, rank, roles, modules, fragments, regexes, unless = check
    if rank >= 0 and record.level and LEVEL_RANK[record.level] < rank:
        return False
    if roles and record.role not in roles:
        return False
    if modules and not _module_matches(record.module, modules):
        return False
    for fragment in fragments:
        if fragment in lowered:
            break
    else:
        for regex in regexes:
            if regex.search(text):
                break
        else:
            return False
    for veto in unless:
        if veto in lowered:
            return False
    return True


# what a record matched: the rules, their ids, and whether one of them always reports
Matched = tuple[tuple[Rule, ...], tuple[str, ...], bool]
_NOTHING: Matched = ((), (), False)


@dataclass(slots=True)
class _LevelPlan:
    anchored: list[tuple[Rule, tuple[str, ...]]] = field(default_factory=list)
    always: list[Rule] = field(default_factory=list)
    anchors: tuple[str, ...] = ()  # every anchor of the anchored rules, once
    rules_of: dict[str, tuple[int, ...]] = field(default_factory=dict)  # anchor -> indexes in anchored
    automaton: ahocorasick_rs.AhoCorasick | None = None  # finds every anchor in a text at once
    always_checks: tuple[_Check, ...] = ()  # the checks of ``always``
    checks_of: tuple[tuple[_Check, ...], ...] = ()  # anchor's index -> the checks of its rules, in order
    anchored_checks: tuple[_Check, ...] = ()  # the checks of ``anchored``


class EngineHits(dict[tuple[str, str], RuleHits]):
    """What one engine gathered, to be merged into another (``absorb``): its hits by (rule id,
    container), and in ``unexplained`` the records no rule (that surely reports) matched."""

    def __init__(self, hits: dict[tuple[str, str], RuleHits], unexplained: UnexplainedGroups) -> None:
        super().__init__(hits)
        self.unexplained = unexplained


class LogRuleEngine:
    """Feed records with :meth:`feed`; read :meth:`findings` and :meth:`episodes` at the end.
    Records that match no rule, or only rules that may report no finding (``min_count``,
    ``ignore_first``), go to ``unexplained`` (unexplained.py) as well."""

    def __init__(self, rules: Iterable[Rule]) -> None:
        self.rules = [r for r in rules if r.match is not None]
        self.unexplained = UnexplainedGroups()
        # a hit of one of these rules always ends in a finding: its record is explained
        self._reporting = frozenset(r.id for r in self.rules if r.min_count <= 1 and r.ignore_first == 0)
        self._hits: dict[tuple[str, str], RuleHits] = {}
        self._matched: dict[tuple[str | None, str, str | None, str], Matched] = {}
        # Per record level: the rules that apply, and which rules each of their anchors (literals
        # searched in the lower-cased text) points to: a record costs one substring test per
        # distinct anchor, and only the rules of the anchors it contains are tried.
        self._by_level: dict[str | None, _LevelPlan] = {}
        for level in (None, *LEVELS):
            plan = _LevelPlan()
            for rule in self.rules:
                min_level = rule.match.min_level  # type: ignore[union-attr]
                if level and min_level and LEVEL_RANK[level] < LEVEL_RANK[min_level]:
                    continue
                anchors = rule.match.anchors()  # type: ignore[union-attr]
                if anchors is None:
                    plan.always.append(rule)
                else:
                    plan.anchored.append((rule, tuple(anchors)))
            rules_of: dict[str, list[int]] = {}
            for index, (_, anchors) in enumerate(plan.anchored):
                for anchor in anchors:
                    if index not in rules_of.setdefault(anchor, []):
                        rules_of[anchor].append(index)
            plan.anchors = tuple(rules_of)
            plan.rules_of = {a: tuple(found) for a, found in rules_of.items()}
            plan.always_checks = tuple(map(_check_of, plan.always))
            plan.anchored_checks = tuple(_check_of(rule) for rule, _ in plan.anchored)
            checks = plan.anchored_checks
            plan.checks_of = tuple(tuple(checks[i] for i in sorted(plan.rules_of[a])) for a in plan.anchors)
            if plan.anchors:
                plan.automaton = ahocorasick_rs.AhoCorasick(plan.anchors, matchkind=ahocorasick_rs.MATCHKIND_STANDARD)
            self._by_level[level] = plan

    def skip_plan(self, below: str = "WARN") -> SkipPlan | None:
        """The records this engine cannot match and the timeline ignores: those at levels below
        ``below`` whose text holds none of the anchors of the rules that apply at those levels
        (None when such a level has a rule without anchors, or an anchor is not ASCII)."""
        levels = [lv for lv in LEVELS if LEVEL_RANK[lv] < LEVEL_RANK[below]]
        anchors: set[str] = set()
        for level in levels:
            plan = self._by_level[level]
            if plan.always:
                return None
            anchors.update(a for _, found in plan.anchored for a in found)
        if not levels or not all(a.isascii() and a for a in anchors):
            return None
        # an anchor that contains another is redundant: a line holding it holds the shorter one
        needed = [a for a in anchors if not any(b != a and b in a for b in anchors)]
        return SkipPlan(frozenset(levels), tuple(sorted(needed)))

    def feed(self, record: Record) -> tuple[Rule, ...]:
        """Match one record against every log rule; return the rules it matched."""
        return self.feed_ids(record)[0]

    def feed_ids(self, record: Record) -> Matched:
        """Match one record against every log rule; return the rules it matched and their ids
        (and whether one of them always reports: see match_ids)."""
        found = self.match_ids(record)
        for rule in found[0]:
            self._remember(rule, record)
        if not found[2]:
            self.unexplained.add(record, found[1])
        return found

    def feed_repeats(self, repeats: Repeats) -> list[tuple[str, ...]]:
        """``feed_ids`` for each record ``repeats`` stands for, in order, making a record only for
        the excerpts kept (the first ones, and the latest of the run); the ids of the rules each
        matched."""
        make, hit, place = repeats.record, self._hit, self._place
        unexplained = self.unexplained.add
        latest: dict[int, tuple[RuleHits, RepeatItem]] = {}
        matched: dict[int, Matched] = {}  # by id(): the records repeated
        ids = []
        for item in repeats.items:
            proto = item[0]
            found = matched.get(id(proto))
            fresh = found is None
            if found is None:
                found = matched[id(proto)] = self.match_ids(proto)
            ids.append(found[1])
            if not found[2]:
                unexplained(proto, found[1], when=item[2], line=item[1],
                            raw=lambda item=item: make(item).raw)  # type: ignore[misc]
            for rule in found[0]:
                hits = hit(rule, proto.container)
                if hits is None:
                    continue
                if fresh and rule.match is not None and rule.match.captures:
                    capture(hits, proto.text if proto.stack else proto.message)
                if len(hits.evidence) < MAX_EVIDENCE:
                    hits.evidence.append(excerpt(make(item)))
                else:
                    latest[id(hits)] = (hits, item)
                place(hits, item[2], item[1])
        for hits, item in latest.values():
            hits.latest = make(item)
        return ids

    def match_ids(self, record: Record) -> Matched:
        """The rules ``record`` matches, their ids, and whether one of them always ends in a
        finding (the record is explained: it is no unexplained error). Nothing is remembered."""
        text = record.text if record.stack else record.message
        # which rules match depends on these alone: repeated messages are matched once
        if len(text) > MATCH_CACHE_TEXT:
            return self._matched_of(self._match(record, text))
        key = (record.level, record.role, record.module, text)
        found = self._matched.get(key)
        if found is None:
            if len(self._matched) >= MATCH_CACHE_SIZE:
                self._matched.clear()
            found = self._matched[key] = self._matched_of(self._match(record, text))
        return found

    def _matched_of(self, matched: tuple[Rule, ...]) -> Matched:
        if not matched:
            return _NOTHING
        ids = tuple(r.id for r in matched)
        reporting = self._reporting
        return matched, ids, any(i in reporting for i in ids)

    def _match(self, record: Record, text: str) -> tuple[Rule, ...]:
        plan = self._by_level.get(record.level) or self._by_level[None]
        lowered = text.lower()
        # every anchor the text holds (overlapping: one anchor may hold another), in one pass
        automaton = plan.automaton
        found_at = automaton.find_matches_as_indexes(lowered, overlapping=True) if automaton is not None else ()
        checks: tuple[_Check, ...]
        if not found_at:
            if not plan.always_checks:
                return ()
            checks = plan.always_checks
        else:
            first = found_at[0][0]
            if all(m[0] == first for m in found_at):  # one anchor (maybe found more than once)
                checks = plan.checks_of[first]
            else:
                rules_of, anchors = plan.rules_of, plan.anchors
                found = sorted({i for m in found_at for i in rules_of[anchors[m[0]]]})
                anchored = plan.anchored_checks
                checks = tuple(anchored[i] for i in found)
            if plan.always_checks:
                checks = plan.always_checks + checks
        return tuple(check[0] for check in checks if _passes(check, record, text, lowered))

    def _hit(self, rule: Rule, container: str) -> RuleHits | None:
        """Count a hit of ``rule`` in ``container``: its RuleHits, or None for a hit the rule
        ignores (its first ``ignore_first``)."""
        key = (rule.id, container)
        hits = self._hits.get(key)
        if hits is None:
            hits = self._hits[key] = RuleHits(rule=rule, container=container)
        hits.seen += 1
        if hits.seen <= rule.ignore_first:
            return None
        hits.count += 1
        return hits

    def _remember(self, rule: Rule, record: Record) -> None:
        hits = self._hit(rule, record.container)
        if hits is None:
            return
        if rule.match is not None and rule.match.captures and len(hits.evidence) < MAX_EVIDENCE:
            capture(hits, record.text if record.stack else record.message)
        if len(hits.evidence) < MAX_EVIDENCE:
            hits.evidence.append(excerpt(record))
        else:
            hits.latest = record  # excerpted by findings(): one record per (rule, container)
        if record.time is not None:
            self._place(hits, record.time, record.line_start)

    @staticmethod
    def _place(hits: RuleHits, when: datetime, line: int) -> None:
        """Count a hit at ``when`` (on ``line``) in the first and last times and the episodes."""
        last_seen = hits.last_seen
        if last_seen is None:
            hits.first_seen = hits.last_seen = when
        elif when > last_seen:  # (records mostly come in time order)
            hits.last_seen = when
        elif when < hits.first_seen:  # type: ignore[operator]
            hits.first_seen = when
        episodes = hits.episodes
        if episodes:
            last = episodes[-1]
            gap = hits.gap
            if last.end < when:
                if when <= last.end + gap:  # type: ignore[operator]
                    last.end = when
                    last.count += 1
                    return
            elif last.start - gap <= when:  # type: ignore[operator]
                if when < last.start:
                    last.start = when
                last.count += 1
                return
        else:
            hits.gap = timedelta(seconds=hits.rule.burst_gap_s)
        episodes.append(Episode(start=when, end=when, first_line=line))

    def hits_by_key(self) -> dict[tuple[str, str], RuleHits]:
        """(rule id, container) -> what was remembered, in first-hit order, and the unexplained
        records (see absorb)."""
        return EngineHits(self._hits, self.unexplained)

    def absorb(self, hits: dict[tuple[str, str], RuleHits]) -> None:
        """Take over the hits another engine (with the same rules) gathered from other containers'
        logs, as if they had been fed here after everything fed so far (and its unexplained
        records, when ``hits`` is an EngineHits)."""
        if isinstance(hits, EngineHits):
            self.unexplained.absorb(hits.unexplained)
        rules = {r.id: r for r in self.rules}
        for key, found in hits.items():
            if key in self._hits:
                raise ValueError(f"hits of {key!r} gathered twice")
            found.rule = rules[found.rule.id]
            self._hits[key] = found

    def last_seen(self) -> dict[str, dict[str, datetime]]:
        """rule id -> container -> the time of its latest dated hit."""
        found: dict[str, dict[str, datetime]] = {}
        for (rule_id, container), hits in self._hits.items():
            if hits.last_seen is not None:
                found.setdefault(rule_id, {})[container] = hits.last_seen
        return found

    def hit_counts(self, rule_id: str) -> dict[str, int]:
        """container -> every hit of ``rule_id`` (including ignored and under-threshold ones)."""
        return {c: h.seen for (r, c), h in self._hits.items() if r == rule_id}

    def episodes(self) -> dict[tuple[str, str], list[Episode]]:
        """(rule id, container) -> episodes, for the findings that were reported."""
        return {
            key: list(h.episodes) for key, h in self._hits.items()
            if h.count and h.count >= h.rule.min_count and h.rule.report
        }

    def findings(self) -> list[Finding]:
        """One finding per (rule, container) with at least the rule's ``min_count`` hits."""
        found = []
        for hits in self._hits.values():
            rule = hits.rule
            if not hits.count or hits.count < rule.min_count or not rule.report:
                continue
            evidence = list(hits.evidence)
            if hits.latest is not None:
                evidence[-1] = excerpt(hits.latest, note=f"latest of {hits.count} hits")
            details: dict[str, object] = {"rule file": rule.source}
            if len(hits.episodes) > 1:
                details["episodes"] = len(hits.episodes)
            for name, values in hits.captured.items():
                details[name] = ", ".join(values)
            found.append(
                Finding(
                    rule_id=rule.id,
                    title=fill_title(rule.title, hits.captured),
                    severity=rule.severity,
                    category=rule.category,
                    meaning=rule.meaning,
                    action=rule.action,
                    container=hits.container,
                    first_seen=hits.first_seen,
                    last_seen=hits.last_seen,
                    count=hits.count,
                    evidence=evidence,
                    details=details,
                )
            )
        return found
