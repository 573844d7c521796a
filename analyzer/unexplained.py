"""Errors no rule explains: every ERROR/FATAL record, and every WARN that repeats, that no
finding explains, grouped by message shape (numbers, hashes and ids masked).

The rule engine hands each record (or each repeat of one) that matched no rule, or only rules
that may report no finding (``min_count`` above one, ``ignore_first``), to ``UnexplainedGroups.add``.
Memory is bounded: at most ``MAX_GROUPS`` shapes are kept, later shapes only counted. Groups from
several engines (worker processes) merge with ``absorb``; ``build`` drops the groups a reported
finding explains and orders the rest (errors first, most frequent first).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from nodediag.analyzer.model import Record, UnexplainedGroup

MAX_GROUPS = 2000  # distinct message shapes kept; more are counted in ``overflow``
MAX_EXAMPLE = 600  # characters of the example line kept
MIN_WARN_REPEATS = 2  # a WARN shape is shown only when it repeats
SHAPE_CACHE = 8192

GroupLevel = Literal["FATAL", "ERROR", "WARN"]
_LEVELS: dict[str | None, GroupLevel] = {"FATAL": "FATAL", "ERROR": "ERROR", "WARN": "WARN"}
_LEVEL_ORDER = {"FATAL": 0, "ERROR": 1, "WARN": 2}

# What varies between two records of one kind, most specific first, in one pass.
_MASK = re.compile(
    r"(?P<uuid>\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b)"
    r"|(?P<redacted>\[REDACTED:[^\]]*\])"
    r"|(?P<x>0x[0-9a-fA-F]+)"
    r"|(?P<hex>\b(?=[0-9a-fA-F]*\d)(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{8,}\b)"
    r"|(?P<id>\b(?=[A-Za-z0-9]*\d)(?=[A-Za-z0-9]*[A-Za-z])[A-Za-z0-9]{12,}\b)"
    r"|(?P<ip>\b\d{1,3}(?:\.\d{1,3}){3}\b)"
    r"|(?P<n>\d+(?:\.\d+)?)"
)
_PLACEHOLDERS = {"uuid": "<uuid>", "redacted": "<redacted>", "x": "0x<hex>", "hex": "<hex>", "id": "<id>", "ip": "<ip>",
                 "n": "<n>"}
# Raw output that is an error although it carries no level: an uncaught exception block, an
# error a program printed itself, a native crash (bb, the C++ runtime, the shell).
_RAW_ERROR = re.compile(
    r"(?:Uncaught )?(?:[A-Z][A-Za-z]*)?(?:Error|Exception)\b(?:: |$)|.*triggerUncaughtException"
    r"|terminate called|Segmentation fault|Aborted \(core dumped\)|Assertion failed|what\(\): |panic: |Killed$")


def _placeholder(found: re.Match[str]) -> str:
    return _PLACEHOLDERS[found.lastgroup or "n"]


def mask_reference(text: str) -> str:
    """``mask``, in one pass of ``_MASK`` over the whole text: what ``mask`` is tested against."""
    return " ".join(_MASK.sub(_placeholder, text).split())


# A token that holds no digit and no "-" is never masked: every kind above but a UUID needs a
# digit ("0x" is one), and a UUID needs its dashes. The rest are masked one by one, remembered.
# (A whole token from its start: the possessive run up to its first digit or "-" never backtracks.)
_MAY_MASK = re.compile(r"(?<!\S)[^\s\d-]*+[\d-]\S*")
_TOKENS: dict[str, str] = {}  # token -> its masked form (the words of the messages, mostly)
TOKEN_CACHE = 16384
# a token that is all "0x" and hex digits: one "x" match, whatever comes first is tried
_HEX_TOKEN = re.compile(r"0x[0-9a-fA-F]+").fullmatch


def _mask_token(found: re.Match[str]) -> str:
    token = found.group()
    if token.isdigit() and token.isascii():  # a counter, a block number: one "n" match (never remembered)
        return "<n>"
    masked = _TOKENS.get(token)
    if masked is None:
        if token[:2] == "0x" and _HEX_TOKEN(token) is not None:  # a hash, an address (seldom seen twice)
            return "0x<hex>"
        masked = _MASK.sub(_placeholder, token)
        if len(_TOKENS) >= TOKEN_CACHE:
            _TOKENS.clear()
        _TOKENS[token] = masked
    return masked


def mask(text: str) -> str:
    """``text`` with numbers, hex hashes, ids, UUIDs, IPs and redaction tokens replaced by
    placeholders, so that records of one kind share one shape; runs of whitespace made one space.

    No kind spans whitespace (but a redaction token: such texts take the one-pass way), and
    each kind's edges (``\\b``, the look-aheads) read whitespace as they read a text's ends: so
    each whitespace-separated token is masked on its own, and a token seen before (the template's
    words, a repeated value) costs a dict lookup, not a pass of the seven-way pattern."""
    if "[REDACTED:" in text:
        return mask_reference(text)
    return " ".join(_MAY_MASK.sub(_mask_token, text).split())


_MODULE_ID = re.compile(r"(?<=[-_:.])(?=[0-9a-fA-F]*\d)[0-9a-fA-F]{6,}\b|\b\d+\b")


def mask_module(module: str) -> str:
    """A module name with its per-instance ids masked (``job-controller-052bf782``), its own
    digits kept (``p2p``)."""
    return _MODULE_ID.sub("<id>", module)


def level_of(record: Record) -> GroupLevel | None:
    """The level a record counts at here: its own, ERROR for a raw uncaught exception block
    (Node prints it without a level), None for anything quieter than WARN."""
    level = _LEVELS.get(record.level)
    if level is not None or record.level is not None:
        return level
    if record.kind == "node-fatal":
        return "FATAL"
    if _RAW_ERROR.match(record.message) or any("triggerUncaughtException" in line for line in record.stack[:40]):
        return "ERROR"
    return None


@dataclass(slots=True)
class _Group:
    level: GroupLevel
    module: str
    shape: str
    rules: tuple[str, ...]  # rules the records matched (none, or only rules that may not report)
    count: int = 0
    containers: dict[str, int] = field(default_factory=dict)
    first: datetime | None = None
    last: datetime | None = None
    example: str = ""
    file: str = ""
    line: int = 0
    example_container: str = ""
    example_time: datetime | None = None


@dataclass
class UnexplainedGroups:
    """Groups of unexplained records, gathered one record at a time (see the module docstring)."""

    groups: dict[tuple[str, str, str, tuple[str, ...]], _Group] = field(default_factory=dict)
    overflow: int = 0  # records of shapes beyond MAX_GROUPS
    _shapes: dict[str, str] = field(default_factory=dict, repr=False)  # message -> its shape
    _modules: dict[str | None, str] = field(default_factory=dict, repr=False)  # module -> its shape

    def add(self, record: Record, rules: tuple[str, ...] = (), *, when: datetime | None = None,
            line: int = 0, raw: Callable[[], str] | None = None) -> None:
        """Count ``record`` (or a repeat of it at ``when`` on ``line``, whose raw line ``raw()``
        gives) when it is WARN or worse; ``rules``: the ids of the rules it matched."""
        level = _LEVELS.get(record.level)
        if level is None:
            if record.level is not None:  # (level_of, its common case inline)
                return
            level = level_of(record)
            if level is None:
                return
        # the module's and the message's shapes, remembered apart: a few modules, many messages
        module = self._modules.get(record.module)
        if module is None:
            if len(self._modules) >= SHAPE_CACHE:
                self._modules.clear()
            module = self._modules[record.module] = mask_module(record.module or "")
        message = record.message
        shape = self._shapes.get(message)
        if shape is None:
            if len(self._shapes) >= SHAPE_CACHE:
                self._shapes.clear()
            shape = self._shapes[message] = mask(message[:400])
        key = (level, module, shape, rules)
        group = self.groups.get(key)
        if group is None:
            if len(self.groups) >= MAX_GROUPS:
                self.overflow += 1
                return
            group = self.groups[key] = _Group(level, module, shape, rules)
        time = when if when is not None else record.time
        if group.count == 0:
            group.example = (raw() if raw is not None else record.raw or record.message).rstrip("\n")[:MAX_EXAMPLE]
            group.file, group.line = record.file, line or record.line_start
            group.example_container, group.example_time = record.container, time
        group.count += 1
        group.containers[record.container] = group.containers.get(record.container, 0) + 1
        if time is not None:
            if group.first is None or time < group.first:
                group.first = time
            if group.last is None or time > group.last:
                group.last = time

    def absorb(self, other: UnexplainedGroups) -> None:
        """Take over what ``other`` gathered (another engine's logs), after what is here."""
        self.overflow += other.overflow
        for key, theirs in other.groups.items():
            mine = self.groups.get(key)
            if mine is None:
                if len(self.groups) >= MAX_GROUPS:
                    self.overflow += theirs.count
                    continue
                self.groups[key] = theirs
                continue
            mine.count += theirs.count
            for name, n in theirs.containers.items():
                mine.containers[name] = mine.containers.get(name, 0) + n
            if theirs.first is not None and (mine.first is None or theirs.first < mine.first):
                mine.first = theirs.first
                mine.example, mine.file, mine.line = theirs.example, theirs.file, theirs.line
                mine.example_container, mine.example_time = theirs.example_container, theirs.example_time
            if theirs.last is not None and (mine.last is None or theirs.last > mine.last):
                mine.last = theirs.last

    def build(self, reported: set[str]) -> list[UnexplainedGroup]:
        """The groups no finding explains (``reported``: the rule ids of the findings reported),
        merged across the rules they matched, errors first, then by count."""
        merged: dict[tuple[str, str, str], UnexplainedGroup] = {}
        for group in self.groups.values():
            if any(rule in reported for rule in group.rules):
                continue
            key = (group.level, group.module, group.shape)
            out = merged.get(key)
            if out is None:
                merged[key] = UnexplainedGroup(
                    level=group.level, module=group.module, message=group.shape, count=group.count,
                    containers=sorted(group.containers), first_seen=group.first, last_seen=group.last,
                    example=group.example, file=group.file, line=group.line,
                    example_container=group.example_container, example_time=group.example_time,
                    matched_rules=list(group.rules))
                continue
            out.count += group.count
            out.containers = sorted(set(out.containers) | set(group.containers))
            out.matched_rules = sorted(set(out.matched_rules) | set(group.rules))
            if group.first is not None and (out.first_seen is None or group.first < out.first_seen):
                out.first_seen = group.first
                out.example, out.file, out.line = group.example, group.file, group.line
                out.example_container, out.example_time = group.example_container, group.example_time
            if group.last is not None and (out.last_seen is None or group.last > out.last_seen):
                out.last_seen = group.last
        shown = [g for g in merged.values() if g.level != "WARN" or g.count >= MIN_WARN_REPEATS]
        return sorted(shown, key=lambda g: (_LEVEL_ORDER[g.level], -g.count, g.module, g.message))
