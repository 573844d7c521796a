"""Secrets learnt late: a value first found in a log (a key in an RPC URL, an ``Authorization``
header, an ``x-api-key``) is propagated to everything redacted after it, and this module fixes
what was redacted before it.

Every output records the redactor's ``generation`` (how many literals it knew) when its
redaction started. Once everything has been redacted, :meth:`Redactor.late_fix` gives the
literals learnt since that generation, in every form they were learnt in (bare, JSON-escaped,
URL-encoded, the base64 of a Basic credential, any case); an output holding one of them is
rewritten with their placeholders, block by block (bounded memory), and gated again. An output
holding none is left as it is: the gates it went through when it was written knew every literal
but these, and the check just made covers these.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from .counts import RedactionCounts, add_found
from .literals import Literal, LiteralSet, fold

BLOCK = 1 << 20
#: gate(text, first_line): raises (the caller's own error) when the text still leaks.
Gate = Callable[[str, int], None]


class LateFix:
    """The literals learnt after some output was redacted, applied to that output."""

    def __init__(self, literals: LiteralSet) -> None:
        self._literals = literals

    @classmethod
    def of(cls, literals: list[Literal], known: Iterable[Literal] = ()) -> LateFix | None:
        """The fix for output redacted by another redactor: ``literals`` (learnt elsewhere, with
        their placeholders) but those whose needle is in ``known`` (already removed by its own
        redactor); None when none is left."""
        skip = {lit.needle for lit in known}
        left = [lit for lit in literals if lit.needle not in skip]
        return cls(LiteralSet.of(left)) if left else None

    def __len__(self) -> int:
        return len(self._literals)

    def present(self, text: str) -> bool:
        """True when text (redacted output) holds one of the late literals outside a placeholder,
        or one printed over two lines."""
        return bool(self._literals.leaks(text)) or \
            self._literals.replace_split(text, lambda kind, pos: None) is not text

    def fix(self, text: str, counts: RedactionCounts, first_line: int = 1) -> str:
        """text with every late literal replaced by its placeholder (also one printed over two
        lines), each counted on its line."""
        low = fold(text)
        found: list[tuple[int, str]] = []
        joined = self._literals.replace_split(text, lambda kind, pos: found.append((pos, kind)), low)
        if joined is not text:
            add_found(counts, text, found, first_line)
            text = joined
        found = []
        new = self._literals.replace(text, lambda kind, pos: found.append((pos, kind)))
        add_found(counts, text, found, first_line)
        return new


def iter_blocks(src: BinaryIO, size: int = BLOCK) -> Iterator[str]:
    """Blocks of whole lines (the last may lack its newline) decoded from UTF-8."""
    rest = b""
    while chunk := src.read(size):
        data = rest + chunk
        cut = data.rfind(b"\n") + 1
        if not cut:
            rest = data
            if len(rest) < 8 * size:
                continue
            cut = len(rest)  # one line longer than 8 blocks: taken in pieces
        rest = data[cut:]
        yield data[:cut].decode("utf-8", errors="replace")
    if rest:
        yield rest.decode("utf-8", errors="replace")


def seamed_blocks(src: BinaryIO) -> Iterator[str]:
    """iter_blocks, each block's last whole line moved to the start of the next block: a secret
    printed over two lines is seen whole also where two blocks meet (a piece of a line longer
    than 8 blocks is not carried)."""
    carry = ""
    for block in iter_blocks(src, BLOCK):
        text = carry + block
        carry = ""
        if text.endswith("\n"):
            cut = text.rfind("\n", 0, len(text) - 1) + 1
            text, carry = text[:cut], text[cut:]
        if text:
            yield text
    if carry:
        yield carry


def needs_fix(src: BinaryIO, fix: LateFix) -> bool:
    """True when the output read from src holds a late literal."""
    return any(fix.present(block) for block in seamed_blocks(src))


def fix_stream(src: BinaryIO, dst: BinaryIO, fix: LateFix, counts: RedactionCounts, gate: Gate) -> None:
    """Copy src to dst with the late literals replaced; every block goes through ``gate``."""
    line = 1
    for block in seamed_blocks(src):
        new = fix.fix(block, counts, line)
        gate(new, line)
        dst.write(new.encode("utf-8"))
        line += new.count("\n")


def fix_file(path: Path, fix: LateFix, counts: RedactionCounts, gate: Gate) -> bool:
    """Fix a redacted file in place (through a new file renamed over it, owner-only); False (the
    file untouched) when it holds no late literal."""
    with open(path, "rb") as src:
        if not needs_fix(src, fix):
            return False
    temp = path.with_name(f".{path.name}.late")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    try:
        with os.fdopen(fd, "wb") as dst, open(path, "rb") as src:
            fix_stream(src, dst, fix, counts, gate)
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return True
