"""Text from a bundle, made safe to print: control characters shown, never obeyed.

A bundle is untrusted: its file names, manifest fields and log lines may carry ESC sequences
(clear the screen, rewrite the title, OSC 52 writes the clipboard) or Unicode bidi overrides that
reorder what a reader sees. ``visible`` shows each such character as an escape (``\\x1b``,
``\\u202e``); newlines and tabs are kept only where the caller says so.
"""

from __future__ import annotations

import re

# C0 and C1 controls and DEL; the bidi embeddings, overrides and isolates; line/paragraph
# separators (they break lines in some terminals); zero-width marks used to disguise text
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]")
_UNSAFE_NO_LAYOUT = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(text: str, keep_layout: bool = False) -> str:
    """``text`` with control, bidi and invisible characters written as escapes. With
    ``keep_layout``, newlines and tabs stay (for multi-line output such as a Markdown report)."""
    pattern = _UNSAFE if keep_layout else _UNSAFE_NO_LAYOUT
    return pattern.sub(_escape, text)
