"""`name=value`, `"name": "value"` and `--name value` in free text, where the name is a secret name.

Used on any text (logs, process command lines). A cheap gate (str.find of a few stems in the
lower-cased text) keeps the regex off blocks that cannot hold such a name.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable

from .literals import fold, occurrences
from .names import is_public_value, secret_kind_for_name

Placeholder = Callable[[str, str], str]
Recorder = Callable[[str, int], None]

# Every secret name holds one of these (lower-case); each costs one str.find over the block.
# (private_key, api_key and access_key all end in "key").
_STEMS = ("key", "secret", "pass", "token", "mnemonic", "credential")
_SUFFIX = (r"(?:private[_-]?keys?|secret|password|passwd|passphrase|token|api[_-]?keys?|apikey"
           r"|access[_-]?key|mnemonic|credentials?)")
_ASSIGNMENT = re.compile(
    r"(?P<name>(?<![A-Za-z0-9_.-])(?P<flag>--)?[A-Za-z0-9_.-]*?" + _SUFFIX + r")(?![A-Za-z0-9_-])"
    # "name value" only after a --flag: in prose ("TOKEN x-api-key: ..") the match would take the
    # next word as a value, and the assignment that starts there would never be looked at
    r"(?P<sep>(?:\\?[\"'])?\s*[=:]\s*|(?(flag)\s+(?=\S)|(?!)))"
    # a value in quotes, in JSON-escaped quotes (JSON inside a JSON string), or bare
    r"(?:\\\"(?P<eq>(?:[^\"\\\n]|\\\\(?!\"))*)\\\"|\"(?P<dq>[^\"\n]*)\"|'(?P<sq>[^'\n]*)'"
    r"|(?P<bare>[^\s\"',;}\]&)\\]+))",
    re.IGNORECASE,
)
_KINDS = ("private_key", "api_key", "password", "token", "mnemonic", "secret", "url_credential", "aws_key",
          "github_token", "jwt", "pem", "detect_secrets", "literal")
# For each stem, the placeholder openings that hold it: "[redacted:api_key" is not a secret name.
_STEM_IN_PLACEHOLDERS = {stem: tuple(f"[redacted:{k}" for k in _KINDS if stem in k) for stem in _STEMS}
_NOT_SECRET_VALUES = frozenset({"", "null", "none", "true", "false", "undefined", "nil", "<nil>", "***"})


# One regex scan per group of stems: the regex engine's literal-prefix scan beats str.__contains__
# on needles this short (whose skip table stalls on the hex digits and common letters of log
# text), and a lookbehind lets two stems share one scan ("k" of key and token, "cre" of secret and
# credential): four scans of ~0.3-0.5 ms per MB instead of six of ~0.35-0.7.
STEM_GROUPS: tuple[tuple[tuple[str, ...], re.Pattern[str]], ...] = (
    (("key", "token"), re.compile(r"k(?:ey|(?<=tok)en)")),
    (("secret", "credential"), re.compile(r"cre(?:(?<=secre)t|dential)")),
    (("pass",), re.compile("pass")),
    (("mnemonic",), re.compile("mnemonic")),
)
assert sorted(stem for stems, _ in STEM_GROUPS for stem in stems) == sorted(_STEMS)


def stems_in(low: str) -> list[str]:
    """The secret-name stems that may be present in a lower-cased text (a cheap gate for the pass
    below): every stem present is listed; a stem that shares its group's scan may be listed
    without being present."""
    return [stem for stems, pattern in STEM_GROUPS if pattern.search(low) is not None for stem in stems]


def redact_assignments(text: str, placeholder: Placeholder, record: Recorder,
                       stems_before: list[str] | None = None,
                       learn: Callable[[str, str], None] | None = None, many_placeholders: bool = False,
                       low: str | None = None) -> str:
    """``stems_before``: stems_in() of the block before earlier passes put placeholders in it
    (placeholders only ever remove stems), so no stem means nothing to do; each is checked again.
    ``many_placeholders``: text is redacted output (the leak gate): skip the count that tells a
    stem outside placeholders from one inside (it costs more than the line scan it would save).
    ``low``: fold(text), when the caller has it (a lower case of the same length: what is found
    in it is at the same place in text; text.lower() is longer where a character such as U+0130
    lowers to two, and the lines cut out of text after it were the wrong ones)."""
    if stems_before is not None and not stems_before:
        return text
    if low is None:
        low = fold(text)
    stems = [stem for stem in (_STEMS if stems_before is None else stems_before) if stem in low]
    if stems and not many_placeholders and "[redacted:" in low:  # kinds inside placeholders are not names
        stems = [stem for stem in stems
                 if low.count(stem) > sum(low.count(opening) for opening in _STEM_IN_PLACEHOLDERS[stem])]
    if not stems:
        return text

    def repl(m: re.Match[str], base: int) -> str:
        name, sep = m.group("name"), m.group("sep")
        value_group = next(g for g in ("eq", "dq", "sq", "bare") if m.group(g) is not None)
        value = m.group(value_group)
        if sep.strip() == "" and not name.startswith("--"):  # (the regex takes none: kept as a guard)
            return m.group()  # "word value" is prose unless the name is a --flag
        kind = secret_kind_for_name(name)
        if (kind is None or value.strip().lower() in _NOT_SECRET_VALUES or value.startswith(("[REDACTED:", "\x00"))
                or value.startswith("$") or is_public_value(value) or not any(c.isalnum() for c in value)
                or (value.isdigit() and len(value) < 6)  # a count ("private_key": 1), not a secret
                or (value.startswith("<") and value.endswith(">"))):  # a placeholder like <key> in help text
            return m.group()
        record(kind, base + m.start())
        if learn is not None and len(value) >= 8:
            learn(value, kind)
        start, end = m.span(value_group)
        whole_start = m.start()
        return m.group()[: start - whole_start] + placeholder(kind, value) + m.group()[end - whole_start:]

    # Only the lines that hold a stem go through the regex.
    lines: set[tuple[int, int]] = set()
    for stem in stems:
        pos = low.find(stem)
        while pos != -1:
            mark = low.rfind("[redacted:", max(0, pos - 24), pos)
            if mark != -1 and "]" not in low[mark:pos]:  # the kind inside a placeholder
                pos = low.find(stem, pos + len(stem))
                continue
            start = low.rfind("\n", 0, pos) + 1
            end = low.find("\n", pos)
            end = len(low) if end == -1 else end
            lines.add((start, end))
            pos = low.find(stem, end)
    out: list[str] = []
    last = 0
    for start, end in sorted(lines):
        if start < last:
            continue
        line = text[start:end]
        new = _substitute(line, functools.partial(repl, base=start), stems)
        if new != line:
            out.append(text[last:start])
            out.append(new)
            last = end
    if not out:
        return text
    out.append(text[last:])
    return "".join(out)


_NAME_RUN = re.compile(r"[a-z0-9_.-]*")  # name characters, lower-cased


def _substitute(line: str, repl: Callable[[re.Match[str]], str], stems: Iterable[str] = _STEMS) -> str:
    """``_ASSIGNMENT.sub(repl, line)``, on an ASCII line tried only where a match can start.

    A match starts where a run of name characters starts (its look-behind), and that run holds
    the name's suffix, hence a stem in the lower-cased line: in ASCII text, what IGNORECASE
    matches is what lower() finds (beyond it, ``ſ`` matches ``s`` and the Kelvin sign ``k``).
    Tried at those starts in order, each match ends the same as sub's scan (which tries every
    position of the line, each with a lazy name: the slowest part of the pass on log lines).
    ``stems``: those whose suffix a match may hold (redact_assignments passes the stems it found
    outside placeholders: no suffix lies in one, as a placeholder's kind is followed by '#')."""
    if not line.isascii():
        return _ASSIGNMENT.sub(repl, line)
    low = line.lower()
    stems = [stem for stem in stems if stem in low]
    if sum(low.count(stem) for stem in stems) > 4 + len(low) // 64:
        # Names everywhere ("x_key=1 " 200 times, "keykeykey..."): each start tried costs more than
        # the positions it saves; sub's scan costs as much per character on any line.
        return _ASSIGNMENT.sub(repl, line)
    hits = sorted({pos for stem in stems for pos in occurrences(low, stem)})
    backwards = low[::-1]  # where a run of name characters starts, found at C speed
    size = len(low)
    starts: list[int] = []
    previous = -1  # the last stem's position, whose run started at starts[-1]
    for pos in hits:
        lower = 0 if previous < 0 else previous + 1
        run = _NAME_RUN.match(backwards, size - pos, size - lower)
        at = pos - (run.end() - run.start()) if run is not None else pos
        if at == lower and previous >= 0:  # reached the last stem (letters): the same run
            at = starts[-1]
        if not starts or at != starts[-1]:
            starts.append(at)
        previous = pos
    out: list[str] = []
    last = 0
    for at in starts:
        if at < last:
            continue
        m = _ASSIGNMENT.match(line, at)
        if m is None:
            continue
        out.append(line[last:at])
        out.append(repl(m))
        last = m.end()
    if not out:
        return line
    out.append(line[last:])
    return "".join(out)


