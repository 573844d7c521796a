"""A credential cut away from its name, whose value no shape detector can tell from any word:
at the cut of an overlong line (``...PRIVATE_KEY=0xabc`` | cut | ``def...``, ``Authorization:
Bearer ey`` | cut | ``J...``), or printed on the line after its name (``privateKey:`` then
``  0x...``).

- :func:`open_credential`: the text ends inside a credential (a secret name or credential header,
  its separator, perhaps the first part of its value). A cutter moves its cut to before the name
  (the whole credential then lies after the cut), or, when the name is at the very start of what
  it holds, redacts the part before the cut and treats what follows the cut as the rest of the
  value: :func:`continuation_end` says where that value ends.
- :func:`redact_next_line_values`: a line that ends with a secret name and its separator, followed
  by a line holding one value alone (after the ``service |`` and timestamp prefixes): the value is
  replaced (and learnt, so that it is removed everywhere).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from .names import is_public_value, secret_kind_for_name

Placeholder = Callable[[str, str], str]
Recorder = Callable[[str, int], None]

_SUFFIX = (r"(?:private[_-]?keys?|secret|password|passwd|passphrase|token|api[_-]?keys?|apikey"
           r"|access[_-]?key|mnemonic|credentials?)")
_NAME = (r"(?P<name>(?<![A-Za-z0-9_.-])(?:--)?[A-Za-z0-9_.-]*?" + _SUFFIX + r"(?![A-Za-z0-9_])"
         r"|(?<![A-Za-z0-9_-])(?:proxy-)?authorization|(?<![A-Za-z0-9_-])(?:set-)?cookie)")
_SCHEMES = r"(?:bearer|basic|token|digest|apikey|api-key|negotiate|ntlm|hmac|dpop)"
#: The text ends inside a credential: name, separator, optional scheme, optional start of the value.
#: Matched only at the candidate starts open_credential picks (no look-behind: a cut may have left
#: any text glued before the name).
_OPEN_AT_END = re.compile(
    r"(?P<name>(?:--)?[A-Za-z0-9_.-]*?" + _SUFFIX + r"(?![A-Za-z0-9_])|(?:proxy-)?authorization|(?:set-)?cookie)"
    r"(?P<sep>\\?[\"']?[ \t]*[:=][ \t]*|[ \t]+)"
    r"(?:" + _SCHEMES + r"(?:[ \t]+|%20|\+))?"
    r"(?:(?P<quote>\\?[\"'])(?P<quoted>[^\"'\n\\]*)|(?P<bare>[^\s\"',;}\]&)\\]*))\Z",
    re.IGNORECASE)
_WINDOW = 4096  # how far back from the end a credential's name is looked for
_BARE_END = re.compile(r"[\s\"',;}\]&)\\]")
_QUOTED_END = re.compile(r"[\"'\n\\]")
_PLACEHOLDER_START = "[REDACTED:"


@dataclass(frozen=True)
class OpenValue:
    name_start: int  # where the credential's name starts in the text
    value_start: int  # where its value (what the text holds of it) starts
    kind: str
    quoted: bool  # the value is in quotes: it goes on up to the closing one


def _kind(name: str) -> str | None:
    low = name.lower().lstrip("-")
    if low.endswith("authorization") or low.endswith("cookie"):
        return "token"
    return secret_kind_for_name(name)


def open_credential(text: str, window: int = _WINDOW) -> OpenValue | None:
    """The credential ``text`` ends inside of (its name within the last ``window`` characters),
    or None. Linear: each candidate name is found from a stem of secret names and matched from
    its start once."""
    base = max(0, len(text) - window)
    tail = text[base:]
    if not tail or tail[-1] == "\n":
        return None
    starts: set[int] = set()
    for stem in _STEMS.finditer(tail):  # the name's start, the stem's, and a --flag's in between
        begin = _name_start(tail, stem.start())
        starts.update((begin, stem.start()))
        flag = tail.rfind("--", begin, stem.start())
        if flag != -1:
            starts.add(flag)
    for at in sorted(starts, reverse=True):  # the last credential first: the one the text ends inside of
        m = _OPEN_AT_END.match(tail, at)
        if m is None:
            continue
        name, sep = m.group("name"), m.group("sep")
        kind = _kind(name)
        if kind is not None and (sep.strip() or name.startswith("--")):
            group = "quoted" if m.group("quote") is not None else "bare"
            value = m.group(group) or ""
            if not value.startswith(_PLACEHOLDER_START):
                return OpenValue(base + m.start(), base + m.start(group), kind, group == "quoted")
    return None


_STEMS = re.compile(r"key|secret|pass|token|mnemonic|credential|authorization|cookie", re.IGNORECASE)
_NAME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")


def _name_start(text: str, at: int) -> int:
    """Where the name holding the character at ``at`` starts (scanning back over name characters)."""
    while at > 0 and text[at - 1] in _NAME_CHARS:
        at -= 1
    return at


def continuation_end(text: str, quoted: bool) -> int:
    """Where the value that goes on at the start of ``text`` ends (len(text) when it goes on)."""
    m = (_QUOTED_END if quoted else _BARE_END).search(text)
    return m.start() if m is not None else len(text)


# --- a value on the line after its name ---------------------------------------------------------

_LINE_END_SEP = re.compile(r"[:=][ \t]*(?:\\?[\"'])?[ \t]*\r?\n")
# The same pattern spelt backwards, searched in the reversed text: it then starts with the literal
# "\n", which the regex engine skips to at C speed, and is tried once per line; the forward one is
# tried at every ":" and "=" (a log line holds a dozen: timestamps, key=value), about six times
# slower. A line ends with a separator exactly when the reversed text matches here at its "\n".
_LINE_END_SEP_REVERSED = re.compile(r"\n\r?[ \t]*(?:[\"']\\?)?[ \t]*[:=]")
_NAME_AT_LINE_END = re.compile(_NAME + r"\\?[\"']?[ \t]*[:=][ \t]*(?:\\?[\"'])?[ \t]*\r?\n\Z", re.IGNORECASE)
_PREFIX = r"(?:[\w.-]+[ \t]*\|[ \t]?)?(?:\d{4}-\d\d-\d\d[Tt][0-9:.]+(?:[Zz]|[+-]\d\d:?\d\d)[ \t])?"
_VALUE_LINE = re.compile(
    _PREFIX + r"[ \t]*(?P<q>\\?[\"'])?(?:(?P<scheme>" + _SCHEMES + r")[ \t]+)?"
    r"(?P<value>[^\s\"'\\,;]{6,})(?:\\?[\"'])?[ \t]*,?[ \t]*\r?$",
    re.IGNORECASE)
_NOT_VALUES = frozenset({"null", "none", "true", "false", "undefined", "nil", "<nil>", "***", "bearer", "basic",
                         "required", "missing", "invalid"})


def name_ends_line(line: str) -> bool:
    """True when ``line`` (ending in a newline) ends with a secret name and its separator: its
    value may be on the next line."""
    return _name_line_kind(line) is not None


_SEP_AT_LINE_END = re.compile(r"\\?[\"']?[ \t]*[:=][ \t]*(?:\\?[\"'])?[ \t]*\r?\n\Z")


def _name_line_kind(line: str) -> str | None:
    sep = _SEP_AT_LINE_END.search(line, max(0, len(line) - 64))
    if sep is None:
        return None
    at = _name_start(line, sep.start())
    m = _NAME_AT_LINE_END.match(line, at)
    return _kind(m.group("name")) if m is not None else None


def _separators_at_line_ends(text: str) -> list[tuple[int, int]]:
    """(start, end) of every match of _LINE_END_SEP in text, in order: a separator, perhaps
    quotes and blanks, then the line's end (its newline included). Found in the reversed text (see
    _LINE_END_SEP_REVERSED); each line holds at most one, as a match ends with its newline."""
    size = len(text)
    found = [(size - m.end(), size - m.start()) for m in _LINE_END_SEP_REVERSED.finditer(text[::-1])]
    found.reverse()
    return found


def redact_next_line_values(text: str, placeholder: Placeholder, record: Recorder,
                            learn: Callable[[str, str], None] | None = None) -> str:
    """Replace a value printed alone on the line after its secret name (``key:`` / ``  0x...``)."""
    if "\n" not in text:
        return text
    spans: list[tuple[int, int, str, str]] = []
    for sep_start, sep_end in _separators_at_line_ends(text):
        line_start = text.rfind("\n", 0, sep_start) + 1
        kind = _name_line_kind(text[line_start:sep_end])
        if kind is None:
            continue
        next_end = text.find("\n", sep_end)
        next_end = len(text) if next_end == -1 else next_end
        v = _VALUE_LINE.match(text, sep_end, next_end)
        if v is None:
            continue
        value = v.group("value")
        if (value.lower() in _NOT_VALUES or value.startswith(_PLACEHOLDER_START) or is_public_value(value)
                or not any(c.isalnum() for c in value) or (value.startswith("<") and value.endswith(">"))
                or value.startswith("$")):
            continue
        spans.append((v.start("value"), v.end("value"), kind, value))
    if not spans:
        return text
    out: list[str] = []
    last = 0
    for start, end, kind, value in spans:
        if start < last:
            continue
        out.append(text[last:start])
        out.append(placeholder(kind, value))
        record(kind, start)
        if learn is not None and len(value) >= 8:
            learn(value, kind)
        last = end
    out.append(text[last:])
    return "".join(out)
