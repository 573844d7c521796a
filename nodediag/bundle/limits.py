"""The caps every command that reads untrusted input works within (documented in
docs/hostile-input.md; each one can be raised by the flag named beside it).

Nothing here trusts a size written in the input: the readers count what they actually produce.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass

MiB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    max_bytes: int = 4 * 1024 * MiB  # --max-bytes: content of all members, expanded
    max_files: int = 20000  # --max-files: members of an archive, files of a folder
    max_header_bytes: int = 1 * MiB  # --max-header-bytes: one pax / GNU long-name tar header
    max_json_bytes: int = 16 * MiB  # --max-json-bytes: the manifest or one JSON fact file
    max_json_depth: int = 64  # nesting of objects and lists in one JSON document
    max_line_bytes: int = 1 * MiB  # --max-line-bytes: a longer log line is cut (marked) at this length


DEFAULT_LIMITS = Limits()


_ENV = "NODEDIAG_LIMITS"  # how a command hands its caps to the worker processes it starts


def set_current_limits(limits: Limits) -> None:
    """Make ``limits`` the caps of this process and of the processes it starts."""
    os.environ[_ENV] = json.dumps(asdict(limits))


def current_limits() -> Limits:
    """The caps set by ``set_current_limits`` (here or in the parent process), else the defaults."""
    text = os.environ.get(_ENV)
    if not text:
        return DEFAULT_LIMITS
    try:
        values = json.loads(text)
        return Limits(**{k: int(v) for k, v in values.items() if k in Limits.__dataclass_fields__})
    except (ValueError, TypeError):
        return DEFAULT_LIMITS
