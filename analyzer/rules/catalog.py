"""Load and validate the rule files (``analyzer/rules/*.yaml``).

A rule file is a YAML list of rules. Every rule has ``id``, ``title``, ``severity``,
``category``, ``meaning``, ``action`` and ``fixture``, and either ``match`` (a log rule) or
``check`` (a logic rule implemented in Python). Optional: ``causes`` / ``symptom_of`` (links
for causal ordering), ``min_count``, ``burst_gap_s``, ``window_s``, ``params``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from nodediag.analyzer.model import LEVEL_RANK, ROLES, SEVERITIES

RULES_DIR = Path(__file__).resolve().parent
CATEGORIES = ("cause", "symptom", "config", "resource", "data-gap", "info")
_REQUIRED = ("id", "title", "severity", "category", "meaning", "action", "fixture")
_OPTIONAL = ("match", "check", "causes", "symptom_of", "min_count", "ignore_first", "burst_gap_s", "window_s", "params")
_MATCH_KEYS = ("fragments", "regex", "unless", "level", "module", "role")
_ID_RE = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


class RuleFileError(ValueError):
    """A rule file is malformed; the message names the file and the rule."""


@dataclass(frozen=True, slots=True)
class LogMatch:
    """What a log rule looks for. Fragments and regexes are case-insensitive; a record matches
    when any of them is found in its text and none of ``unless`` is."""

    fragments: tuple[str, ...] = ()
    regexes: tuple[re.Pattern[str], ...] = ()
    unless: tuple[str, ...] = ()  # lower-cased fragments that veto a match
    min_level: str | None = None  # records with a lower level are ignored (raw records are not)
    modules: tuple[str, ...] = ()  # module prefixes ("aztec:" ignored)
    roles: tuple[str, ...] = ()

    def anchors(self) -> list[str] | None:
        """Lower-case literals of which at least one occurs in every matching text (the
        engine's cheap pre-filter), or None when a regex has no required literal."""
        anchors = [f.lower() for f in self.fragments]
        for regex in self.regexes:
            anchor = regex_anchor(regex.pattern)
            if anchor is None:
                return None
            anchors.append(anchor)
        return anchors


_QUANTIFIERS = "?*{+"
_META = set("[](){}?*+|^$.")


def regex_anchor(source: str) -> str | None:
    """The longest literal run (>= 3 chars, lower-cased) that every match of ``source`` must
    contain: only runs outside groups count, a char followed by a quantifier is dropped, and a
    top-level alternation has no anchor."""
    runs: list[str] = []
    current = ""
    depth = 0
    i = 0
    while i < len(source):
        ch = source[i]
        if ch == "\\":
            runs.append(current)
            current = ""
            i += 2
            continue
        if ch in _META:
            if ch in _QUANTIFIERS and current:
                current = current[:-1]
            if ch == "(":
                depth += 1
            elif ch == ")":
                depth -= 1
            elif ch in "[{":
                close = source.find("]" if ch == "[" else "}", i + 2)
                i = close if close > 0 else len(source)
            elif ch == "|" and depth == 0:
                return None
            runs.append(current)
            current = ""
        elif depth == 0:
            current += ch
        i += 1
    runs.append(current)
    best = max(runs, key=len)
    return best.lower() if len(best) >= 3 else None


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    title: str
    severity: str
    category: str
    meaning: str
    action: str
    fixture: dict[str, Any]
    source: str  # the rule file's name
    match: LogMatch | None = None
    check: str | None = None
    causes: tuple[str, ...] = ()
    symptom_of: tuple[str, ...] = ()
    min_count: int = 1  # fewer hits than this in a container: no finding
    ignore_first: int = 0  # the first N hits per container are normal (e.g. the first start-up banner)
    burst_gap_s: float = 300.0  # hits closer than this form one episode
    window_s: float = 900.0  # how long before a symptom episode a cause may start
    params: dict[str, Any] = field(default_factory=dict)


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise RuleFileError(f"{where}: expected a string or a list of non-empty strings")
    return tuple(value)


def _parse_match(raw: Any, where: str) -> LogMatch:
    if not isinstance(raw, dict):
        raise RuleFileError(f"{where}: 'match' must be a mapping")
    unknown = set(raw) - set(_MATCH_KEYS)
    if unknown:
        raise RuleFileError(f"{where}: unknown match keys {sorted(unknown)}")
    fragments = _strings(raw.get("fragments"), f"{where} match.fragments")
    regexes = []
    for source in _strings(raw.get("regex"), f"{where} match.regex"):
        try:
            regexes.append(re.compile(source, re.IGNORECASE))
        except re.error as exc:
            raise RuleFileError(f"{where}: bad regex {source!r}: {exc}") from exc
    if not fragments and not regexes:
        raise RuleFileError(f"{where}: 'match' needs at least one fragment or regex")
    level = raw.get("level")
    if level is not None and str(level).upper() not in LEVEL_RANK:
        raise RuleFileError(f"{where}: unknown level {level!r}")
    roles = _strings(raw.get("role"), f"{where} match.role")
    bad_roles = [r for r in roles if r not in ROLES]
    if bad_roles:
        raise RuleFileError(f"{where}: unknown roles {bad_roles}")
    return LogMatch(
        fragments=fragments,
        regexes=tuple(regexes),
        unless=tuple(u.lower() for u in _strings(raw.get("unless"), f"{where} match.unless")),
        min_level=str(level).upper() if level is not None else None,
        modules=_strings(raw.get("module"), f"{where} match.module"),
        roles=roles,
    )


def _parse_rule(raw: Any, source: str, index: int) -> Rule:
    where = f"{source} rule #{index + 1}"
    if not isinstance(raw, dict):
        raise RuleFileError(f"{where}: a rule must be a mapping")
    if isinstance(raw.get("id"), str):
        where = f"{source} rule {raw['id']!r}"
    missing = [k for k in _REQUIRED if not raw.get(k)]
    if missing:
        raise RuleFileError(f"{where}: missing required fields {missing}")
    unknown = set(raw) - set(_REQUIRED) - set(_OPTIONAL)
    if unknown:
        raise RuleFileError(f"{where}: unknown fields {sorted(unknown)}")
    if not _ID_RE.match(str(raw["id"])):
        raise RuleFileError(f"{where}: id must be lower-case words joined by '-'")
    if raw["severity"] not in SEVERITIES:
        raise RuleFileError(f"{where}: severity must be one of {list(SEVERITIES)}")
    if raw["category"] not in CATEGORIES:
        raise RuleFileError(f"{where}: category must be one of {list(CATEGORIES)}")
    if ("match" in raw) == ("check" in raw):
        raise RuleFileError(f"{where}: a rule has exactly one of 'match' or 'check'")
    fixture = raw["fixture"]
    if not isinstance(fixture, dict) or not isinstance(fixture.get("file"), str):
        raise RuleFileError(f"{where}: 'fixture' must be a mapping with a 'file'")
    params = raw.get("params") or {}
    if not isinstance(params, dict):
        raise RuleFileError(f"{where}: 'params' must be a mapping")
    return Rule(
        id=raw["id"],
        title=str(raw["title"]).strip(),
        severity=raw["severity"],
        category=raw["category"],
        meaning=" ".join(str(raw["meaning"]).split()),
        action=" ".join(str(raw["action"]).split()),
        fixture=dict(fixture),
        source=source,
        match=_parse_match(raw["match"], where) if "match" in raw else None,
        check=str(raw["check"]) if "check" in raw else None,
        causes=_strings(raw.get("causes"), f"{where} causes"),
        symptom_of=_strings(raw.get("symptom_of"), f"{where} symptom_of"),
        min_count=int(raw.get("min_count", 1)),
        ignore_first=int(raw.get("ignore_first", 0)),
        burst_gap_s=float(raw.get("burst_gap_s", 300)),
        window_s=float(raw.get("window_s", 900)),
        params=params,
    )


def load_rules(directory: Path | None = None) -> list[Rule]:
    """Every rule of every ``*.yaml`` file in ``directory`` (default: the packaged rules), in
    file then document order. Raises RuleFileError on a malformed file, a duplicate id or a
    link (causes / symptom_of) to an unknown rule."""
    directory = directory or RULES_DIR
    rules: list[Rule] = []
    for path in sorted(directory.glob("*.yaml")):
        try:
            documents = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise RuleFileError(f"{path.name}: not valid YAML: {exc}") from exc
        if not isinstance(documents, list):
            raise RuleFileError(f"{path.name}: a rule file is a YAML list of rules")
        rules.extend(_parse_rule(raw, path.name, i) for i, raw in enumerate(documents))
    seen: set[str] = set()
    for rule in rules:
        if rule.id in seen:
            raise RuleFileError(f"{rule.source}: duplicate rule id {rule.id!r}")
        seen.add(rule.id)
    for rule in rules:
        unknown = [r for r in (*rule.causes, *rule.symptom_of) if link_target(r)[0] not in seen]
        if unknown:
            raise RuleFileError(f"{rule.source} rule {rule.id!r}: links to unknown rules {unknown}")
    return rules


def link_target(entry: str) -> tuple[str, str | None]:
    """``rule-id`` or ``rule-id@role``: the link holds only when the CAUSE finding's container
    plays that role (an exit 137 explains "broker unreachable" only when it is the broker's)."""
    rule_id, _, role = entry.partition("@")
    return rule_id, role or None


def cause_links(rules: list[Rule]) -> dict[str, dict[str, str | None]]:
    """symptom rule id -> {id of a rule that may cause it: the role its container must play, or
    None} (from both link directions)."""
    links: dict[str, dict[str, str | None]] = {}
    for rule in rules:
        for entry in rule.causes:
            symptom, role = link_target(entry)
            links.setdefault(symptom, {})[rule.id] = role
        for entry in rule.symptom_of:
            cause, role = link_target(entry)
            links.setdefault(rule.id, {})[cause] = role
    return links
