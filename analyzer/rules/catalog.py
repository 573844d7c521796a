"""Load and validate the rule files (``analyzer/rules/*.yaml``).

A rule file is a YAML list of rules. Every rule has ``id``, ``title``, ``severity``,
``category``, ``meaning``, ``action`` and ``fixture``, and either ``match`` (a log rule) or
``check`` (a logic rule implemented in Python). Optional: ``causes`` / ``symptom_of`` (links
for causal ordering), ``min_count``, ``burst_gap_s``, ``window_s``, ``params``, ``tags``,
``blame``, ``report``, ``negative``.

Everything is checked when the rules load, so that half an edit fails loudly: a ``check`` must
name a registered check and its ``params`` must be ones that check reads (see
``registry.CHECK_PARAMS``); a log rule's fixtures list the lines it must match (every one is
tested) and its ``negative`` fixtures lines it must not match.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast, get_args

import yaml

from nodediag.analyzer.model import CATEGORIES, LEVEL_RANK, ROLES, SEVERITIES, Category, Severity

RULES_DIR = Path(__file__).resolve().parent
__all__ = ["CATEGORIES", "TAGS", "Fixture", "LogMatch", "Rule", "RuleFileError", "load_rules", "rules_tagged"]

# What Python may ask of a rule without naming its id: the rule files say which rules play each part.
Tag = Literal[
    "start-banner",  # printed once at every start: more than one means restarts
    "heap-limit",  # an out-of-memory finding: say which heap limit NODE_OPTIONS gave
    "startup-refusal",  # the process refused to start; params.settings names what was missing
    "role-working",  # a line that shows the role doing its work (a job proved, an epoch submitted)
    "epoch-proven",  # an epoch proof completed or submitted
    "memory-kill",  # a container or process killed (for memory, or by SIGKILL): say what memory did before
    "agent-symptom",  # what the node or broker shows when agents fail: with no agent in the evidence, say so
    "capture",  # nodediag watch captures a bundle when it appears, whatever its severity
]
TAGS: tuple[Tag, ...] = get_args(Tag)
_REQUIRED = ("id", "title", "severity", "category", "meaning", "action", "fixture")
_OPTIONAL = ("match", "check", "causes", "symptom_of", "min_count", "ignore_first", "burst_gap_s", "window_s", "params",
             "tags", "blame", "report", "negative")
# params a log rule may carry (a logic rule's are declared by its check: registry.CHECK_PARAMS)
LOG_RULE_PARAMS: dict[str, str] = {"settings": "list[str]", "flags": "list[str]"}
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

    @property
    def captures(self) -> tuple[str, ...]:
        """The named groups of the regexes (values the finding reports, e.g. a circuit type)."""
        return tuple(name for regex in self.regexes for name in regex.groupindex)

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
class Fixture:
    """A fixture file of a rule: for a log rule, ``lines`` are the 1-based lines it must match
    (positive) or must not match (negative; empty: every non-blank line)."""

    file: str
    lines: tuple[int, ...] = ()
    expect: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    title: str
    severity: Severity
    category: Category
    meaning: str
    action: str
    fixture: dict[str, Any]  # the first fixture, as written (``file``, ``line``)
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
    tags: tuple[Tag, ...] = ()
    blame: str | None = None  # a role: the finding is about that role's container, not the one that logged it
    report: bool = True  # False: a marker, counted for logic rules and the verdict, never a finding
    fixtures: tuple[Fixture, ...] = ()  # every positive fixture
    negatives: tuple[Fixture, ...] = ()  # lines this rule must not match


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
    is_log = "match" in raw
    fixtures = _fixtures(raw["fixture"], f"{where} fixture", lines_needed=is_log)
    negatives = _fixtures(raw.get("negative") or [], f"{where} negative", lines_needed=False)
    params = raw.get("params") or {}
    if not isinstance(params, dict):
        raise RuleFileError(f"{where}: 'params' must be a mapping")
    if is_log:
        _check_params(params, LOG_RULE_PARAMS, f"{where}: params")
    tags = _strings(raw.get("tags"), f"{where} tags")
    bad_tags = [t for t in tags if t not in TAGS]
    if bad_tags:
        raise RuleFileError(f"{where}: unknown tags {bad_tags} (known: {list(TAGS)})")
    if "startup-refusal" in tags and not params.get("settings"):
        raise RuleFileError(f"{where}: a startup-refusal rule names the settings it needs in params.settings")
    blame = raw.get("blame")
    if blame is not None and blame not in ROLES:
        raise RuleFileError(f"{where}: blame must be one of {list(ROLES)}")
    report = raw.get("report", True)
    if not isinstance(report, bool):
        raise RuleFileError(f"{where}: 'report' must be true or false")
    first = raw["fixture"][0] if isinstance(raw["fixture"], list) else raw["fixture"]
    match = _parse_match(raw["match"], where) if is_log else None
    placeholders = re.findall(r"\{(\w+)\}", str(raw["title"]))
    missing_groups = [p for p in placeholders if match is None or p not in match.captures]
    if missing_groups:
        raise RuleFileError(f"{where}: title placeholders {missing_groups} are not named groups of its regexes")
    return Rule(
        id=raw["id"],
        title=str(raw["title"]).strip(),
        severity=cast(Severity, raw["severity"]),
        category=cast(Category, raw["category"]),
        meaning=" ".join(str(raw["meaning"]).split()),
        action=" ".join(str(raw["action"]).split()),
        fixture=dict(first),
        source=source,
        match=match,
        check=str(raw["check"]) if "check" in raw else None,
        causes=_strings(raw.get("causes"), f"{where} causes"),
        symptom_of=_strings(raw.get("symptom_of"), f"{where} symptom_of"),
        min_count=int(raw.get("min_count", 1)),
        ignore_first=int(raw.get("ignore_first", 0)),
        burst_gap_s=float(raw.get("burst_gap_s", 300)),
        window_s=float(raw.get("window_s", 900)),
        params=params,
        tags=cast(tuple[Tag, ...], tags),
        blame=blame,
        report=report,
        fixtures=fixtures,
        negatives=negatives,
    )


def _fixtures(raw: Any, where: str, *, lines_needed: bool) -> tuple[Fixture, ...]:
    """``{file, line | lines, expect}`` or a list of them."""
    entries = raw if isinstance(raw, list) else [raw]
    found = []
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("file"), str) or not entry["file"]:
            raise RuleFileError(f"{where}: each fixture is a mapping with a 'file'")
        unknown = set(entry) - {"file", "line", "lines", "expect"}
        if unknown:
            raise RuleFileError(f"{where}: unknown fixture keys {sorted(unknown)}")
        lines = entry.get("lines", [entry["line"]] if "line" in entry else [])
        if not isinstance(lines, list) or not all(isinstance(n, int) and not isinstance(n, bool) and n > 0
                                                  for n in lines):
            raise RuleFileError(f"{where}: 'line' / 'lines' are 1-based line numbers")
        if lines_needed and not lines:
            raise RuleFileError(f"{where}: a log rule's fixture lists the line(s) it must match")
        expect = entry.get("expect") or {}
        if not isinstance(expect, dict):
            raise RuleFileError(f"{where}: 'expect' must be a mapping")
        found.append(Fixture(file=entry["file"], lines=tuple(lines), expect=expect))
    if lines_needed and not found:
        raise RuleFileError(f"{where}: at least one fixture is needed")
    return tuple(found)


_PARAM_TYPES: dict[str, Any] = {
    "int": int, "number": (int, float), "str": str, "bool": bool, "mapping": dict, "list[str]": list,
}


def _check_params(params: dict[str, Any], accepted: dict[str, str], where: str) -> None:
    """Every key of ``params`` must be read by its rule's code, with a value of the declared type."""
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise RuleFileError(f"{where} {unknown} are read by nothing (accepted: {sorted(accepted) or 'none'})")
    for key, value in params.items():
        kind = accepted[key]
        if isinstance(value, bool) and kind != "bool" or not isinstance(value, _PARAM_TYPES[kind]):
            raise RuleFileError(f"{where} {key!r} must be {kind}, not {value!r}")
        if kind == "list[str]" and not all(isinstance(v, str) and v for v in value):
            raise RuleFileError(f"{where} {key!r} must be a list of non-empty strings")


def rules_tagged(rules: list[Rule], tag: Tag) -> list[Rule]:
    """The rules that play the part ``tag`` names (the rule files say which)."""
    return [r for r in rules if tag in r.tags]


def load_rules(directory: Path | None = None, checks: dict[str, dict[str, str]] | None = None) -> list[Rule]:
    """Every rule of every ``*.yaml`` file in ``directory`` (default: the packaged rules), in
    file then document order. Raises RuleFileError on a malformed file, a duplicate id, a link
    (causes / symptom_of) to an unknown rule, a ``check`` no code implements or a ``params``
    entry its check does not read. ``checks``: check name -> the params it reads (default: the
    registered checks)."""
    directory = directory or RULES_DIR
    if checks is None:
        from nodediag.analyzer.rules.registry import CHECK_PARAMS  # the checks import this module

        checks = CHECK_PARAMS
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
        if rule.check is not None:
            if rule.check not in checks:
                raise RuleFileError(f"{rule.source} rule {rule.id!r}: no check named {rule.check!r} "
                                    f"(known: {', '.join(sorted(checks))})")
            _check_params(rule.params, checks[rule.check], f"{rule.source} rule {rule.id!r}: params")
    for rule in rules:
        unknown = [r for r in (*rule.causes, *rule.symptom_of) if link_target(r)[0] not in seen]
        if unknown:
            raise RuleFileError(f"{rule.source} rule {rule.id!r}: links to unknown rules {unknown}")
        bad_roles = [r for r in (*rule.causes, *rule.symptom_of) if link_target(r)[1] not in (None, "self", *ROLES)]
        if bad_roles:
            raise RuleFileError(f"{rule.source} rule {rule.id!r}: links with unknown roles {bad_roles}")
    return rules


def link_target(entry: str) -> tuple[str, str | None]:
    """``rule-id`` or ``rule-id@role``: the link holds only when the CAUSE finding's container
    plays that role (an exit 137 explains "broker unreachable" only when it is the broker's);
    ``rule-id@self``: only when cause and symptom are about the same container."""
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
