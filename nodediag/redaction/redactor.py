"""The Redactor: learns secrets from config, then redacts config, JSON, text and log streams."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import unquote

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
from .counts import add_found as _count
from .cuts import OpenValue, continuation_end, name_ends_line, open_credential, redact_next_line_values
from .detect import detect_secret_values
from .encodings import basic_auth_forms, encoded_forms
from .headers import HeaderPass, header_list_secrets, header_names, is_credential_header
from .ips import redact_public_ips
from .late import LateFix
from .literals import PLACEHOLDER_RE, SAMPLE, Literal, LiteralSet, Tagger, fold, occurrences
from .names import (
    is_public_value,
    names_a_digest,
    names_headers,
    secret_kind_for_name,
    secret_kind_for_pair,
    split_value_list,
)
from .shapes import (
    ADMIN_KEY_BANNER,
    find_admin_api_keys,
    redact_mnemonics,
    redact_pem,
    redact_simple_shapes,
    shape_kind,
)
from .urls import UrlCache, redact_urls, url_secrets, url_userinfo

#: LogStream.feed redacts a block longer than twice this in pieces of whole lines about this long.
PIECE_CHARS = 128 * 1024
_COMMAND_KEYS = frozenset({"Cmd", "Args", "Entrypoint", "cmdline"})  # docker inspect; psutil
Stage = Callable[[str, Callable[[str, int], None]], str]


def _is_redacted(value: str) -> bool:
    """True when value is only placeholders (perhaps comma-separated): never redact it again."""
    return bool(value) and PLACEHOLDER_RE.sub("", value).strip(", ") == ""


class Redactor:
    """One bundle's redaction state: an HMAC key that is never exposed and the secrets learnt so far."""

    #: The secret-name pass is handed the lower case of the text the redactor already made, instead
    #: of folding it again (False: it folds it itself, the plain path the tests compare with).
    _lower_known = True

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
        self._headers = HeaderPass(learn=self._learn_found)
        self._gate_headers = HeaderPass()  # the second gate's: learns nothing
        self._gate_url_cache = UrlCache()

    def _learn_found(self, value: str, kind: str) -> None:
        """A credential a pass found in text (a header value, a key in a URL): propagated from here
        on in every form a log prints it, and to what was redacted before (see late.py)."""
        if not _is_redacted(value):
            self.add_secret(value, kind)

    def _learn_userinfo(self, user: str, password: str) -> None:
        """The HTTP Basic forms of a ``user:password@`` found in a URL in text."""
        if not _is_redacted(password):
            for secret in dict.fromkeys((password, unquote(password))):
                for form in basic_auth_forms(unquote(user), secret):
                    self._literals.add(form, "url_credential")

    def __repr__(self) -> str:
        return f"Redactor(secrets_known={self.secrets_known})"

    @property
    def key_id(self) -> str:
        """The id of the placeholder key (recorded in the manifest; the key itself never leaves)."""
        return self._tagger.key_id

    # --- learning ---------------------------------------------------------------------------------
    @property
    def secrets_known(self) -> int:
        """How many distinct secret values are propagated through every file."""
        return len(self._literals)

    @property
    def skipped_short(self) -> int:
        """How many secret values were too short (< 6 characters) to propagate safely."""
        return self._literals.skipped_short

    @property
    def generation(self) -> int:
        """How many literals were ever learnt; record it when an output's redaction starts and
        hand it to :meth:`late_fix` once everything is redacted."""
        return self._literals.generation

    def late_fix(self, since: int) -> LateFix | None:
        """The fix for output redacted when ``generation`` was ``since``: the literals learnt
        after it (None when there are none)."""
        late = self._literals.since(since)
        return LateFix(late) if late is not None else None

    def learnt(self, since: int = 0) -> list[Literal]:
        """The literals learnt after ``generation`` was ``since``, every form of each value, with
        their placeholders: what another redaction (another input of one analysis) must also remove
        (:meth:`LateFix.of`). They hold secret values: keep them in memory, in private files only."""
        return self._literals.literals(since)

    def settle(self, text: str, since: int, counts: RedactionCounts, first_line: int = 1) -> str:
        """text, redacted when ``generation`` was ``since``, with the literals learnt since (by
        another thread, or a later part of the same stream) replaced too: what a gate checks."""
        fix = self.late_fix(since)
        return fix.fix(text, counts, first_line) if fix is not None and fix.present(text) else text

    def add_secret(self, value: str, kind: str) -> None:
        """Propagate a literal: it is removed wherever it appears, any case, with or without 0x."""
        if not value or not value.strip() or _is_redacted(value):
            return
        if "\n" in value:  # e.g. a PEM or a multi-line phrase: each line on its own
            lines = [line.strip().strip("\"'") for line in value.splitlines()]
            lines = [line for line in lines if line and not line.startswith("-----")]
            for line in lines:
                self._literals.add(line, kind)
            if len(lines) > 1 and " " in value:  # a phrase over several lines, printed on one
                self.add_secret(" ".join(" ".join(lines).split()), kind)
            return
        for form in encoded_forms(value):
            self._literals.add(form, kind)
        for part in split_value_list(value):
            for form in encoded_forms(part):
                self._literals.add(form, kind)

    def _learn_pair(self, name: str, value: str) -> str | None:
        """Learn the secrets of one config pair; the pair's kind when the whole value is secret."""
        if _is_redacted(value) or is_public_value(value):
            return None
        kind = secret_kind_for_pair(name, value)
        if kind is None and "-----BEGIN " in value and "PRIVATE KEY" in value:
            kind = "pem"  # a private key under any name
        if kind is not None:
            self.add_secret(value, kind)
            return kind
        if names_headers(name):
            if "=" in value:  # a header list: OTEL_EXPORTER_OTLP_HEADERS=Authorization=Bearer ..,x-key=..
                for header_kind, secret in header_list_secrets(value, self._headers.custom):
                    self.add_secret(secret, header_kind)
            else:  # header names (L1_CONSENSUS_HOST_API_KEY_HEADERS): not secret, but their values are
                self._headers.add_names(header_names(value))
            return None
        if value.lstrip().startswith(("{", "[")) and self._learn_json_value(value):
            return None
        self._learn_urls(value)
        if self._use_detect_secrets and not names_a_digest(name):
            # A second opinion on a name that says nothing: a value of an unambiguous shape is
            # propagated; anything else is only replaced where it stands ("ambiguous", listed by
            # inspect for review), never removed from the evidence elsewhere.
            ambiguous = False
            for secret in detect_secret_values(name, value):
                shape = shape_kind(secret)
                if shape is not None:
                    self.add_secret(secret, shape)
                elif self._literals.kind_of(secret) is None:
                    ambiguous = True
            if ambiguous:
                return "ambiguous"
        return None

    def _learn_json_value(self, value: str) -> bool:
        """Learn the secrets of a value that is a JSON document (a header map, a config blob);
        False when it is not JSON."""
        try:
            doc = json.loads(value)
        except ValueError:
            return False

        def walk(node: Any) -> None:
            if isinstance(node, dict):
                for key, item in node.items():
                    if isinstance(item, str) and (secret_kind_for_name(str(key))
                                                  or is_credential_header(str(key), self._headers.custom)):
                        for header_kind, secret in header_list_secrets(f"{key}={item}", self._headers.custom):
                            self.add_secret(secret, secret_kind_for_name(str(key)) or header_kind)
                    elif isinstance(item, str):
                        self._learn_pair(str(key), item)
                    else:
                        walk(item)
            elif isinstance(node, list):
                for item in node:
                    walk(item)

        walk(doc)
        return True

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
            self._learn_urls(arg)
            self._learn_from_text(arg)

    def _learn_from_text(self, text: str) -> None:
        """The secrets the text passes know by their context (the admin key banner, a secret-named key in
        JSON text, a credential header), learnt now: the same command is also written in forms those
        passes cannot read (a compose file's escaped YAML string), and every file must be redacted of
        them whichever source writes first. The redacted text is dropped."""
        if len(text) >= 16:  # room for a name and a secret: most arguments are flags and paths
            self.redact_text(text, RedactionCounts())

    def _learn_urls(self, text: str) -> None:
        """The secrets in the URLs of text, and the HTTP Basic form of each user:password."""
        if "://" not in text:
            return
        for url_kind, secret in url_secrets(text):
            self.add_secret(secret, url_kind)
        for user, password in url_userinfo(text):
            self._learn_userinfo(user, password)

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
        split: list[tuple[int, str]] = []  # a known secret printed over two lines
        joined = self._literals.replace_split(text, lambda kind, pos: split.append((pos, kind)), low)
        if joined is not text:
            _count(counts, text, split, first_line)
            text, low = joined, joined.lower()
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
        block = text  # what low is the lower case of (a stage that changes nothing returns it)
        same_length = len(low) == len(text)  # then low is also fold(text)
        stages: list[Stage] = [
            lambda t, rec: self._literals.replace(t, rec, low, counts, data, sampled),
            lambda t, rec: redact_urls(t, placeholder, rec, self._url_cache, self._learn_found, self._learn_userinfo),
            lambda t, rec: redact_assignments(t, placeholder, rec, stems, self._learn_found,
                                              low=low if t is block and same_length and self._lower_known else None),
        ]
        if "\n" in text and (every_pass or stems or "header" in present):  # `key:` then the value alone
            stages.append(lambda t, rec: redact_next_line_values(t, placeholder, rec, self._learn_found))
        if shapes is None or shapes:
            stages.append(lambda t, rec: redact_simple_shapes(t, placeholder, rec, shapes))
        if self._headers.possible(low, None if every_pass else present):  # after the shapes: a JWT keeps its kind
            stages.append(lambda t, rec: self._headers.redact(t, placeholder, rec))
        stages.append(lambda t, rec: redact_mnemonics(t, placeholder, rec))  # it looks first (see gates.py)
        if self.patterns:
            stages.append(self._redact_patterns)
        if self.redact_ips:
            stages.append(lambda t, rec: redact_public_ips(t, placeholder, rec))
        known = len(self._literals)
        for stage in stages:
            found: list[tuple[int, str]] = []

            def record(kind: str, pos: int, found: list[tuple[int, str]] = found) -> None:
                found.append((pos, kind))

            new = stage(text, record)
            _count(counts, text, found, first_line)
            text = new
        if len(self._literals) != known:  # a pass found a secret (a URL key, a header): everywhere in the block
            late: list[tuple[int, str]] = []
            new = self._literals.replace(text, lambda kind, pos: late.append((pos, kind)))
            _count(counts, text, late, first_line)
            text = new
        if not every_pass and "pem" not in present:
            return text + held, self._value_may_follow(text, len(text), at_end)
        found = []
        new, open_at = redact_pem(text, placeholder, lambda kind, pos: found.append((pos, kind)),
                                  at_end=at_end and not held)
        _count(counts, text, found, first_line)
        return new + held, self._value_may_follow(new, open_at, at_end)

    def _value_may_follow(self, text: str, open_at: int, at_end: bool) -> int:
        """Where a stream holds text back: also the last line when it ends with a secret name and
        its separator (its value may be the next line, which comes with the next block), or with
        the first part of a known secret (its rest may start the next line: the block's seam)."""
        if at_end or not text.endswith("\n"):
            return open_at
        start = text.rfind("\n", 0, len(text) - 1) + 1
        if start < open_at and (name_ends_line(text[start:]) or self._literals.may_go_on(text[start:-1])):
            return start
        return open_at

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

    def find_shape_leaks(self, text: str, first_line: int = 1) -> list[tuple[str, int]]:
        """The second gate: (kind, line) of every secret the shape detectors (keys, tokens,
        credentials in URLs, headers and assignments, PEM blocks, seed phrases) still find in
        redacted output. Nothing is learnt and text is not changed."""
        masked = PLACEHOLDER_RE.sub("\x00", text) if "[REDACTED:" in text else text
        low = masked.lower()
        return self._shape_leaks(masked, first_line, "\x00" in text, low, low.encode("utf-8", "surrogatepass"),
                                 folded=len(low) == len(masked))

    def _shape_leaks(self, text: str, first_line: int, nul_in_output: bool, low: str,
                     data: bytes, folded: bool = False) -> list[tuple[str, int]]:
        """find_shape_leaks over text whose placeholders are each one NUL: a placeholder's kind is
        not a secret name, and nothing of it is a value (every pass skips a value without a letter
        or digit). ``nul_in_output``: the output itself held a NUL (then every pass runs). ``low``:
        text lower-cased; ``folded``: low is fold(text) (then the secret-name pass takes it)."""
        found: list[tuple[int, str]] = []

        def record(kind: str, pos: int) -> None:
            found.append((pos, kind))

        def mark(kind: str, value: str) -> str:
            return "[REDACTED:gate#00000000]"

        present = gates.present(data)
        if not nul_in_output:
            present.discard("nul")
        every_pass = "nul" in present
        redact_urls(text, mark, record, self._gate_url_cache)
        redact_assignments(text, mark, record, None if every_pass else gates.stems_listed(present),
                           many_placeholders=True, low=low if folded and self._lower_known else None)
        shapes = None if every_pass else present.intersection(gates.SHAPE_OPENINGS)
        if shapes is None or shapes:
            redact_simple_shapes(text, mark, record, shapes)
        if self._gate_headers.possible(low, None if every_pass else present):
            self._gate_headers.add_names(self._headers.custom)
            self._gate_headers.redact(text, mark, record)
        if every_pass or "pem" in present:
            redact_pem(text, mark, record, at_end=True)
        redact_mnemonics(text, mark, record)  # it looks first
        if ADMIN_KEY_BANNER in text:
            keys, _ = find_admin_api_keys(text, at_end=True)
            for key in keys:
                record("api_key", text.find(key))
        found.sort()
        return [(kind, first_line + text.count("\n", 0, pos)) for pos, kind in found]

    def output_leak(self, text: str, path: str, first_line: int = 1) -> str | None:
        """Both gates over redacted output: None when clean, else the one-line reason (file, line
        and kind; never the value) for refusing the bundle."""
        masked = PLACEHOLDER_RE.sub("\x00", text) if "[REDACTED:" in text else text
        low = fold(masked)
        data = low.encode("utf-8", "surrogatepass")
        kinds = self._literals.leaks(masked, masked=True, low=low, data=data)
        if kinds:
            return (f"a known secret of kind {', '.join(sorted(set(kinds)))} survived redaction in {path}; "
                    "no bundle was written. Please report this to the nodediag maintainers")
        shaped = self._shape_leaks(masked, first_line, "\x00" in text, low, data, folded=True)
        if shaped:
            where = ", ".join(f"{kind} at line {line}" for kind, line in shaped[:5])
            return (f"the second leak gate found what looks like a secret in {path} ({where}); no bundle was "
                    "written. Pass it with --secret or a --pattern if it is one, and report this to the "
                    "nodediag maintainers")
        return None


#: LogStream.write holds an unterminated line back up to this many characters, then cuts it.
MAX_LINE_CHARS = 8 * 1024 * 1024
_CUT_LOOKBACK = 64 * 1024
_MOVE_MAX = 4096  # a value cut after more than this many characters is redacted on both sides instead
# Where an overlong line may be cut, best first: between JSON items, then between words. None of
# them is in a URL, a token, a key or a base64 run, so no shape is cut in two.
_CUT_AFTER = (",", "}", ";", "]", " ", "\t", ")", ">", "|", "'", '"')


class LogStream:
    """Stateful log redactor: holds back an unterminated PEM block (bounded) until the next feed."""

    def __init__(self, redactor: Redactor, counts: RedactionCounts) -> None:
        self._redactor = redactor
        self._counts = counts
        self._held = ""
        self._line = 1
        self._partial = ""  # write(): an unterminated last line
        self._open: OpenValue | None = None  # write(): a credential's value goes on past the last cut

    @property
    def line(self) -> int:
        """The number of the next line to come out (1-based)."""
        return self._line

    def write(self, text: str) -> str:
        """Redact any text, not only whole lines: an unterminated last line waits for the rest.
        A line longer than MAX_LINE_CHARS is cut where no secret is cut in two: after a separator
        (see _CUT_AFTER) and before any known secret that would straddle the cut."""
        self._partial += text
        cut = self._partial.rfind("\n") + 1
        inside = False  # the cut falls inside a line
        if not cut and len(self._partial) > MAX_LINE_CHARS:
            cut, inside = self._safe_cut(self._partial, MAX_LINE_CHARS), True
        if not cut:
            return ""
        done, self._partial = self._partial[:cut], self._partial[cut:]
        return self.feed(self._values_across_cuts(done, inside))

    def _values_across_cuts(self, done: str, inside: bool) -> str:
        """A credential cut in two (its name too close to the start of what was held to move the
        cut before it): the part before the cut and the part after are each replaced, so that no
        piece of it survives, whatever its shape."""
        placeholder = self._redactor._tagger.placeholder
        if self._open is not None:  # the value goes on at the start of this piece
            end = continuation_end(done, self._open.quoted)
            if end:
                self._counts.add(self._open.kind, line=self._line)
                done = placeholder(self._open.kind, done[:end]) + done[end:]
            if end < len(done):
                self._open = None
        if inside:
            opened = open_credential(done, _CUT_LOOKBACK)
            if opened is not None and opened.value_start < len(done):
                self._counts.add(opened.kind, line=self._line + done.count("\n"))
                partial = done[opened.value_start:]
                done = done[:opened.value_start] + placeholder(opened.kind, partial)
            if opened is not None:
                self._open = opened
        return done

    def _safe_cut(self, text: str, limit: int) -> int:
        cut = self._literal_safe_cut(text, limit)
        # never between a credential's name and the start of its value: before the name (a value
        # already longer than _MOVE_MAX is cut, and _values_across_cuts redacts both sides)
        opened = open_credential(text[:cut], _CUT_LOOKBACK)
        if opened is not None and opened.name_start > 0 and cut - opened.value_start <= _MOVE_MAX:
            cut = opened.name_start
        return cut

    def _literal_safe_cut(self, text: str, limit: int) -> int:
        window_start = max(0, limit - _CUT_LOOKBACK)
        cut = limit
        for sep in _CUT_AFTER:
            at = text.rfind(sep, window_start, limit)
            if at != -1:
                cut = at + 1
                break
        literals = self._redactor._literals
        for _ in range(64):  # move before every known secret that straddles the cut
            lo, hi = max(0, cut - _CUT_LOOKBACK), min(len(text), cut + _CUT_LOOKBACK)
            window = text[lo:hi]
            low = window.lower()
            if len(low) != len(window):
                break
            starts = [lo + pos for lit in literals._candidates(low) for pos in occurrences(low, lit.needle)
                      if lo + pos < cut < lo + pos + len(lit.needle)]
            if not starts:
                break
            cut = max(1, min(starts) - 2 if text[max(0, min(starts) - 2):min(starts)].lower() == "0x"
                      else min(starts))
        return cut

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
        since, first_line = self._redactor.generation, self._line
        while start < len(block):
            cut = block.find("\n", start + PIECE_CHARS)
            end = len(block) if cut == -1 or len(block) - cut <= PIECE_CHARS // 2 else cut + 1
            out.append(self._feed_piece(block[start:end], banner))
            start = end
        done = "".join(out)
        fix = self._redactor.late_fix(since)
        if fix is not None and len(out) > 1:  # a piece taught a secret: the pieces before it are one block too
            done = fix.fix(done, self._counts, first_line)
        return done

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
        if self._partial:
            partial, self._partial = self._partial, ""
            tail = self.feed(self._values_across_cuts(partial, False))
            return tail + self.close()
        text, self._held = self._held, ""
        if not text:
            return ""
        result, _ = self._redactor._redact_block(text, self._counts, self._line, at_end=True)
        self._line += text.count("\n")
        return result
