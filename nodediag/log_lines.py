"""What a line of an Aztec container log starts with, in the few checks both sides need: the
analyzer's parser and `nodediag redact` (which dates the manual guide's logs as it converts them)."""

from __future__ import annotations

import re

_ANSI_RE = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])")

# RFC 3339 with up to nanoseconds, as `docker logs -t` prints it, followed by one space.
DOCKER_TS_RE = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:Z|[+-]\d\d:\d\d)) ")


def strip_ansi(text: str) -> str:
    """Remove ANSI escape sequences (colours, cursor moves, OSC titles) from ``text``."""
    if "\x1b" not in text:
        return text
    return _ANSI_RE.sub("", text)


def is_pretty_start(body: str) -> bool:
    """``[HH:MM:SS.mmm] `` at the start of ``body`` (cheap positional checks, no regex)."""
    return (
        len(body) > 16
        and body[13] == "]"
        and body[3] == ":"
        and body[6] == ":"
        and body[9] == "."
        and body[14] == " "
        and body[1:3].isdigit()
        and body[4:6].isdigit()
        and body[7:9].isdigit()
        and body[10:13].isdigit()
    )
