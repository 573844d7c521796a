"""The Redactor: learns secrets from config, then redacts config, JSON, text and log streams."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from . import gates
from .assignments import redact_assignments
from .config import (
    command_secrets,
    compose_pairs,
    env_pairs,
    environment_pairs,
    rewrite_compose_text,
    rewrite_env_text,
)
from .counts import RedactionCounts
from .detect import detect_secret_values
from .ips import redact_public_ips
from .literals import PLACEHOLDER_RE, SAMPLE, LiteralSet, Tagger
from .names import is_public_value, names_a_digest, secret_kind_for_name, secret_kind_for_pair, split_value_list
from .shapes import (
    ADMIN_KEY_BANNER,
    find_admin_api_keys,
    redact_mnemonics,
    redact_pem,
    redact_simple_shapes,
    shape_kind,
)
from .urls import UrlCache, redact_urls, url_secrets

#: LogStream.feed redacts a block longer than twice this in pieces of whole lines about this long.
PIECE_CHARS = 128 * 1024
_COMMAND_KEYS = frozenset({"Cmd", "Args", "Entrypoint", "cmdline"})  # docker inspect; psutil
Stage = Callable[[str, Callable[[str, int], None]], str]


def _is_redacted(value: str) -> bool:
    """True when value is only placeholders (perhaps comma-separated): never redact it again."""
    return bool(value) and PLACEHOLDER_RE.sub("", value).strip(", ") == ""


class Redactor:
    """One bundle's redaction state: an HMAC key that is never exposed and the secrets learnt so far."""

    def __init__(self, key: bytes | None = None, *, use_detect_secrets: bool = True, redact_ips: bool = False,
                 patterns: Sequence[str | re.Pattern[str]] = ()) -> None:
        """``redact_ips``: replace public IP addresses by pseudonyms. ``patterns``: operator regexes
        whose matches (group 1 when the regex has a group) are secrets, kind ``pattern``."""
        self._tagger = Tagger(key if key is not None else os.urandom(32))
        self._literals = LiteralSet(self._tagger)
        self._use_detect_secrets = use_detect_secrets
        self._url_cache = UrlCache()
        self.redact_ips = redact_ips
        self.patterns = [p if isinstance(p, re.Pattern) else re.compile(p) for p in patterns]
        self._kinds_seen = -1  # how many literal kinds _kind_shapes was found for
        self._kind_shapes: set[str] | None = set()

    def __repr__(self) -> str:
        return f"Redactor(secrets_known={self.secrets_known})"

    # --- learning ---------------------------------------------------------------------------------
    @property
    def secrets_known(self) -> int:
        """How many distinct secret values are propagated through every file."""
        return len(self._literals)

    @property
    def skipped_short(self) -> int:
        """How many secret values were too short (< 6 characters) to propagate safely."""
        return self._literals.skipped_short

    def add_secret(self, value: str, kind: str) -> None:
        """Propagate a literal: it is removed wherever it appears, any case, with or without 0x."""
        if not value or not value.strip() or _is_redacted(value):
            return
        if "\n" in value:  # e.g. a PEM or a multi-line phrase: each line on its own
            for line in value.splitlines():
                line = line.strip().strip("\"'")
                if line and not line.startswith("-----"):
                    self._literals.add(line, kind)
            return
        self._literals.add(value, kind)
        for part in split_value_list(value):
            self._literals.add(part, kind)

    def _learn_pair(self, name: str, value: str) -> str | None:
        """Learn the secrets of one config pair; the pair's kind when the whole value is secret."""
        if _is_redacted(value) or is_public_value(value):
            return None
        kind = secret_kind_for_pair(name, value)
        if kind is not None:
            self.add_secret(value, kind)
            return kind
        for url_kind, secret in url_secrets(value):
            self.add_secret(secret, url_kind)
        if self._use_detect_secrets and not names_a_digest(name):
            for secret in detect_secret_values(name, value):
                if self._literals.kind_of(secret) is None:
                    self.add_secret(secret, shape_kind(secret) or "detect_secrets")
        return None

    def harvest_env(self, pairs: Mapping[str, str] | Iterable[str]) -> None:
        """Learn from a KEY->value map or from "KEY=VALUE" strings (docker inspect Config.Env)."""
        items = pairs.items() if isinstance(pairs, Mapping) else environment_pairs(list(pairs))
        for name, value in items:
            self._learn_pair(str(name), str(value))

    def harvest_env_file(self, text: str) -> None:
        for name, value in env_pairs(text):
            self._learn_pair(name, value)

    def harvest_compose(self, text: str) -> None:
        pairs, commands = compose_pairs(text)
        for name, value in pairs:
            self._learn_pair(name, value)
        for args in commands:
            self.harvest_command(args)

    def harvest_command(self, args: Sequence[str]) -> None:
        for _, kind, value, _, _ in command_secrets(list(args)):
            self.add_secret(value, kind)
        for arg in args:
            for url_kind, secret in url_secrets(arg):
                self.add_secret(secret, url_kind)

    # --- redacting --------------------------------------------------------------------------------
    def _decider(self, counts: RedactionCounts) -> Callable[[str, str, int], str | None]:
        def decide(name: str, value: str, line: int = 0) -> str | None:
            kind = self._learn_pair(name, value)
            if kind is None:
                return None
            parts = split_value_list(value)
            counts.add(kind, max(1, len(parts)), line=line or None)
            if parts:
                return ",".join(self._tagger.placeholder(kind, p) for p in parts)
            return self._tagger.placeholder(kind, value)
        return decide

    def redact_env_file(self, text: str, counts: RedactionCounts) -> str:
        return self.redact_text(rewrite_env_text(text, self._decider(counts)), counts)

    def redact_compose(self, text: str, counts: RedactionCounts) -> str:
        self.harvest_compose(text)
        return self.redact_text(rewrite_compose_text(text, self._decider(counts)), counts)

    def redact_command(self, args: Sequence[str], counts: RedactionCounts) -> list[str]:
        """A command line with secret arguments replaced, then every argument redacted as text."""
        out = [str(a) for a in args]
        self.harvest_command(out)
        for index, kind, value, start, end in command_secrets(list(out)):
            if index < 0 or _is_redacted(value) or out[index][start:end] != value:
                continue
            out[index] = out[index][:start] + self._tagger.placeholder(kind, value) + out[index][end:]
            counts.add(kind)
        return [self.redact_text(a, counts) for a in out]

    def redact_text(self, text: str, counts: RedactionCounts) -> str:
        """Any text: known literals, URL secrets, secret-name assignments, shapes and PEM blocks."""
        result, _ = self._redact_block(text, counts, 1, at_end=True)
        return result

    def redact_json(self, obj: Any, counts: RedactionCounts) -> Any:
        """A deep copy of obj with every string redacted.

        Dict items whose key is a secret name and "KEY=VALUE" strings with a secret KEY get the value
        replaced (and learnt); lists under Cmd, Args, Entrypoint or cmdline are redacted as commands.
        """
        return self._redact_node(obj, counts, parent_key=None)

    def _redact_node(self, node: Any, counts: RedactionCounts, parent_key: str | None) -> Any:
        if isinstance(node, Mapping):
            result = {}
            for key, value in node.items():
                new_key = self.redact_text(key, counts) if isinstance(key, str) else key
                result[new_key] = self._redact_item(str(key), value, counts)
            return result
        if isinstance(node, (list, tuple)):
            if parent_key in _COMMAND_KEYS and all(isinstance(a, str) for a in node):
                return self.redact_command(node, counts)
            return [self._redact_node(item, counts, parent_key) for item in node]
        if isinstance(node, str):
            return self._redact_string(node, counts)
        return node

    def _redact_item(self, key: str, value: Any, counts: RedactionCounts) -> Any:
        if isinstance(value, str) and secret_kind_for_name(key) is not None:
            new = self._decider(counts)(key, value, 0)
            if new is not None:
                return new
        if isinstance(value, (int, float)) and not isinstance(value, bool) and secret_kind_for_name(key):
            new = self._decider(counts)(key, str(value), 0)
            if new is not None:
                return new
        return self._redact_node(value, counts, parent_key=key)

    def _redact_string(self, text: str, counts: RedactionCounts) -> str:
        name, eq, value = text.partition("=")
        if eq and name and name.replace("_", "a").replace(".", "a").replace("-", "a").isalnum() \
                and not name[0].isdigit():
            new = self._decider(counts)(name, value, 0)
            if new is not None:
                return f"{name}={new}"
        return self.redact_text(text, counts)

    def _redact_block(self, text: str, counts: RedactionCounts, first_line: int,
                      at_end: bool, banner_possible: bool = True) -> tuple[str, int]:
        """``banner_possible``: False when the caller knows text holds no admin key banner."""
        admin_keys, hold_from = find_admin_api_keys(text, at_end) if banner_possible else ([], len(text))
        for key in admin_keys:  # learnt first: the literal pass removes it here and everywhere after
            self.add_secret(key, "api_key")
        text, held = text[:hold_from], text[hold_from:]  # a banner whose key has not arrived yet
        low = text.lower()
        data = low.encode("utf-8", "surrogatepass")
        sampled = data[::SAMPLE]
        present = gates.present(data)
        stems = gates.stems_listed(present)
        placeholder = self._tagger.placeholder
        # Which passes can find anything (see gates.py); all of them where the look cannot tell.
        kinds = self._literals.kinds
        if len(kinds) != self._kinds_seen:  # what the literal pass's placeholders may hold
            self._kinds_seen, self._kind_shapes = len(kinds), gates.shapes_in_kinds(kinds)
        every_pass = "nul" in present or self._kind_shapes is None
        shapes: set[str] | None = None
        if not every_pass:
            shapes = present.intersection(gates.SHAPE_OPENINGS) | self._kind_shapes  # type: ignore[operator]
        stages: list[Stage] = [
            lambda t, rec: self._literals.replace(t, rec, low, counts, data, sampled),
            lambda t, rec: redact_urls(t, placeholder, rec, self._url_cache),
            lambda t, rec: redact_assignments(t, placeholder, rec, stems),
        ]
        if shapes is None or shapes:
            stages.append(lambda t, rec: redact_simple_shapes(t, placeholder, rec, shapes))
        if every_pass or gates.mnemonic_possible(text.encode("utf-8", "surrogatepass")):
            stages.append(lambda t, rec: redact_mnemonics(t, placeholder, rec))
        if self.patterns:
            stages.append(self._redact_patterns)
        if self.redact_ips:
            stages.append(lambda t, rec: redact_public_ips(t, placeholder, rec))
        for stage in stages:
            found: list[tuple[int, str]] = []

            def record(kind: str, pos: int, found: list[tuple[int, str]] = found) -> None:
                found.append((pos, kind))

            new = stage(text, record)
            _count(counts, text, found, first_line)
            text = new
        if not every_pass and "pem" not in present:
            return text + held, len(text)
        found = []
        new, open_at = redact_pem(text, placeholder, lambda kind, pos: found.append((pos, kind)),
                                  at_end=at_end and not held)
        _count(counts, text, found, first_line)
        return new + held, open_at

    def _redact_patterns(self, text: str, record: Callable[[str, int], None]) -> str:
        for pattern in self.patterns:
            def repl(m: re.Match[str]) -> str:
                group = 1 if m.re.groups else 0
                value = m.group(group)
                if not value or PLACEHOLDER_RE.fullmatch(value):
                    return m.group()
                record("pattern", m.start())
                start, end = m.span(group)
                return m.group()[: start - m.start()] + self._tagger.placeholder("pattern", value) + \
                    m.group()[end - m.start():]
            text = pattern.sub(repl, text)
        return text

    def stream(self, counts: RedactionCounts) -> LogStream:
        """A block redactor for logs: feed blocks of complete lines, then close()."""
        return LogStream(self, counts)

    def find_leaks(self, text: str) -> list[str]:
        """Kinds (never values) of the known secrets still present in text."""
        return self._literals.leaks(text)


def _count(counts: RedactionCounts, text: str, found: list[tuple[int, str]], first_line: int) -> None:
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


class LogStream:
    """Stateful log redactor: holds back an unterminated PEM block (bounded) until the next feed."""

    def __init__(self, redactor: Redactor, counts: RedactionCounts) -> None:
        self._redactor = redactor
        self._counts = counts
        self._held = ""
        self._line = 1

    def feed(self, block: str) -> str:
        """Redact a block of complete lines; what a still-open PEM block holds back comes later."""
        if len(block) < 2 * PIECE_CHARS or self._redactor.patterns:  # an operator regex may span lines
            return self._feed_piece(block)
        # A big block is redacted in pieces of whole lines, as if it had been fed so: every pass
        # works line by line, and a piece stays in the CPU cache through all the passes (about a
        # tenth faster on 1 MB blocks). Admin keys are learnt from the whole block first, so a key
        # is removed from the lines before its banner as well, as for one block.
        banner = ADMIN_KEY_BANNER in block
        if banner:
            for key in find_admin_api_keys(block, at_end=False)[0]:
                self._redactor.add_secret(key, "api_key")
        out: list[str] = []
        start = 0
        while start < len(block):
            cut = block.find("\n", start + PIECE_CHARS)
            end = len(block) if cut == -1 or len(block) - cut <= PIECE_CHARS // 2 else cut + 1
            out.append(self._feed_piece(block[start:end], banner))
            start = end
        return "".join(out)

    def _feed_piece(self, block: str, banner_in_block: bool = True) -> str:
        text = self._held + block
        banner_possible = banner_in_block or ADMIN_KEY_BANNER in self._held  # one held back last time
        self._held = ""
        if not text:
            return ""
        result, open_at = self._redactor._redact_block(text, self._counts, self._line, at_end=False,
                                                       banner_possible=banner_possible)
        out, self._held = result[:open_at], result[open_at:]
        self._line += text.count("\n") - self._held.count("\n")
        return out

    def close(self) -> str:
        text, self._held = self._held, ""
        if not text:
            return ""
        result, _ = self._redactor._redact_block(text, self._counts, self._line, at_end=True)
        self._line += text.count("\n")
        return result
