"""The one `.env` reader: parses a `.env` file the way docker compose does (compose-go's dotenv).

Used by the redaction (which rewrites values in place, so it needs their spans) and by the
analyzer (which needs the values). Rules, as compose applies them:

- blank lines and lines starting with ``#`` are comments; ``export KEY=value`` is ``KEY=value``;
  ``KEY: value`` (the YAML-like form) is accepted too;
- an unquoted value runs to the end of the line; an inline comment starts at a ``#`` that follows
  whitespace; trailing whitespace is dropped;
- a quoted value runs to the next quote of its kind that is not preceded by a backslash, across
  lines (multi-line values: a PEM key, a seed phrase over several lines);
- inside double quotes, backslash escapes are expanded (``\\"`` -> ``"``, ``\\n`` -> newline,
  ``\\\\`` -> ``\\``); inside single quotes the text is kept as it is (``'a\\'b'`` is ``a\\'b``);
- anything after a closing quote up to the end of the line is ignored.

``parse_env(text, commented=True)`` also reports ``# KEY=value`` lines (flagged ``commented``):
compose ignores them, but a commented-out key is still a secret to redact.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Quote = Literal["", "'", '"']

_KEY = re.compile(r"[ \t]*(?:export[ \t]+)?(?P<key>[A-Za-z_][A-Za-z0-9_.\-]*)[ \t]*(?P<sep>=|:(?=[ \t]|$))[ \t]*")
_COMMENTED = re.compile(r"[ \t]*#[ \t]*(?=(?:export[ \t]+)?[A-Za-z_][A-Za-z0-9_.\-]*[ \t]*=)")
_INLINE_COMMENT = re.compile(r"[ \t]#")
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "a": "\a", "b": "\b", "f": "\f", "v": "\v", "\\": "\\", '"': '"',
            "'": "'", "$": "$"}


@dataclass(frozen=True)
class EnvEntry:
    """One ``KEY=value`` of a .env file."""

    key: str
    value: str  # as compose reads it: quotes removed, escapes expanded
    start: int  # offsets in the text of the value as written (inside its quotes)
    end: int
    quote: Quote
    line: int  # 1-based line of the key
    commented: bool = False  # a "# KEY=value" line: compose ignores it


def unescape_double(raw: str) -> str:
    """Expand the backslash escapes compose expands inside double quotes."""
    if "\\" not in raw:
        return raw
    out: list[str] = []
    i = 0
    while i < len(raw):
        ch = raw[i]
        if ch == "\\" and i + 1 < len(raw):
            nxt = raw[i + 1]
            out.append(_ESCAPES.get(nxt, "\\" + nxt))
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def escape_double(value: str) -> str:
    """The inverse of unescape_double for the characters a log or a file may print escaped."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _closing_quote(text: str, quote: str, start: int) -> int:
    """Index of the quote closing a value opened just before ``start`` (-1: never closed)."""
    i = text.find(quote, start)
    while i != -1 and i > start and text[i - 1] == "\\":
        i = text.find(quote, i + 1)
    return i


def parse_env(text: str, *, commented: bool = False) -> list[EnvEntry]:
    """Every ``KEY=value`` of a .env text, in order; with ``commented``, ``# KEY=value`` lines too."""
    entries: list[EnvEntry] = []
    pos, line_no, size = 0, 1, len(text)
    while pos < size:
        eol = text.find("\n", pos)
        eol = size if eol == -1 else eol
        at, is_comment = pos, False
        if commented:
            c = _COMMENTED.match(text, pos, eol)
            if c is not None:
                at, is_comment = c.end(), True
        m = _KEY.match(text, at, eol)
        if m is None or (not is_comment and text[pos:eol].lstrip().startswith("#")):
            pos, line_no = eol + 1, line_no + 1
            continue
        key, vstart = m.group("key"), m.end()
        first = text[vstart:vstart + 1]
        if first in ("'", '"'):
            close = _closing_quote(text, first, vstart + 1)
            if is_comment:  # a commented value stays on its line
                close = close if close != -1 and close < eol else -1
            if close == -1:  # never closed: compose fails; read the rest of the line as the value
                raw_end = eol
                value = text[vstart + 1:raw_end]
                entries.append(EnvEntry(key, value, vstart + 1, raw_end, first, line_no, is_comment))  # type: ignore[arg-type]
                pos, line_no = eol + 1, line_no + 1
                continue
            raw = text[vstart + 1:close]
            value = unescape_double(raw) if first == '"' else raw
            entries.append(EnvEntry(key, value, vstart + 1, close, first, line_no, is_comment))  # type: ignore[arg-type]
            end_line = text.find("\n", close)
            end_line = size if end_line == -1 else end_line
            line_no += text.count("\n", pos, end_line) + 1
            pos = end_line + 1
            continue
        raw = text[vstart:eol]
        comment = _INLINE_COMMENT.search(raw)
        if comment is not None:
            raw = raw[:comment.start()]
        raw = raw.rstrip()
        entries.append(EnvEntry(key, raw, vstart, vstart + len(raw), "", line_no, is_comment))
        pos, line_no = eol + 1, line_no + 1
    return entries


def env_values(text: str) -> dict[str, str]:
    """KEY -> value of a .env text as compose reads it (the last of a repeated key wins)."""
    return {e.key: e.value for e in parse_env(text)}
