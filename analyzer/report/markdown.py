"""Markdown escaping for the ticket/chat report: bundle text never becomes markup.

Inline text is backslash-escaped (CommonMark escapes any ASCII punctuation), raw HTML cannot
open, and code fences are longer than any run of backticks inside them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_INLINE_SPECIAL = re.compile(r"([\\`*_{}\[\]<>#|!~&])")
_BACKTICK_RUN = re.compile(r"`+")
_BLANK_RUNS = re.compile(r"\n{3,}")


def md_text(value: object) -> str:
    """One line of inline Markdown showing ``value`` literally (not for the start of a line)."""
    text = " ".join(str(value if value is not None else "").split())
    return _INLINE_SPECIAL.sub(r"\\\1", text)


# as _INLINE_SPECIAL, but an underscore inside a word (NODE_OPTIONS) opens no emphasis in
# CommonMark: it stays as it is, and the text reads the same pasted as plain text
_PROSE_SPECIAL = re.compile(r"([\\`*{}\[\]<>#|!~&]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9]))")
_CODE_SPAN = re.compile(r"`([^`\n<]{1,200})`")


def md_prose(value: object) -> str:
    """``md_text`` for nodediag's own wording (a rule's meaning or action): its `code spans`
    stay code spans instead of showing escaped backticks; everything else is escaped."""
    text = " ".join(str(value if value is not None else "").split())
    out, pos = [], 0
    for m in _CODE_SPAN.finditer(text):
        out.append(_PROSE_SPECIAL.sub(r"\\\1", text[pos:m.start()]))
        out.append(m.group(0))
        pos = m.end()
    out.append(_PROSE_SPECIAL.sub(r"\\\1", text[pos:]))
    return "".join(out)


def md_code(value: object) -> str:
    """``value`` as one inline code span, shown literally whatever it holds (a backtick run
    longer than any inside it delimits it; CommonMark parses nothing inside a code span)."""
    text = " ".join(str(value if value is not None else "").split())
    if not text:
        return ""
    marker = "`" * (max((len(run) for run in _BACKTICK_RUN.findall(text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{marker}{pad}{text}{pad}{marker}"


def md_cell(value: object) -> str:
    """Text for a Markdown table cell (never empty, never breaks the row)."""
    return md_text(value) or "—"


def fence(lines: Iterable[str] | str, info: str = "") -> str:
    """A fenced code block holding ``lines`` verbatim, whatever backticks they contain."""
    body = lines if isinstance(lines, str) else "\n".join(lines)
    body = body.replace("\r\n", "\n").replace("\r", "\n")
    longest = max((len(run) for run in _BACKTICK_RUN.findall(body)), default=0)
    marker = "`" * max(3, longest + 1)
    info = re.sub(r"[^A-Za-z0-9_+-]", "", info)
    return f"{marker}{info}\n{body}\n{marker}"


def tidy(text: str) -> str:
    """At most one blank line in a row, exactly one trailing newline."""
    return _BLANK_RUNS.sub("\n\n", text).strip("\n") + "\n"


def grep_lines(view: object, limit: int = 20) -> list[str]:
    """An evidence excerpt as ``grep -n -B -A`` prints it: ``N:`` before its own lines, ``N-``
    before the context lines around them (no number when the lines do not map 1:1)."""
    out = [f"{n}-{text}" for n, text in getattr(view, "before", [])]
    for n, text in getattr(view, "numbered", [])[:limit]:
        out.append(f"{n}:{text}" if n is not None else text)
    out += [f"{n}-{text}" for n, text in getattr(view, "after", [])]
    return out


def numbered(lines: Iterable[tuple[int, str]]) -> list[str]:
    """(line number, text) pairs as ``N:text`` lines (the number left out when 0)."""
    return [f"{n}:{text}" if n else text for n, text in lines]
