"""The plain forms of passes the redactor now runs by a faster path, kept word for word as they
were, for the tests that pin each fast path to its plain one (test_redaction_line_paths.py).
Never imported by nodediag."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from nodediag.redaction.assignments import _ASSIGNMENT
from nodediag.redaction.cuts import _LINE_END_SEP
from nodediag.redaction.shapes import _MNEMONIC_LENGTHS, _WORD_RUN, _WORD_RUN_TABLE, WORD_RUN_MIN, bip39_words


def separators_at_line_ends(text: str) -> list[tuple[int, int]]:
    """cuts.redact_next_line_values looked for its lines so: the forward regex over the text."""
    return [(m.start(), m.end()) for m in _LINE_END_SEP.finditer(text)]


def substitute_assignments(line: str, repl: Callable[[re.Match[str]], str], stems: Iterable[str] = ()) -> str:
    """assignments.redact_assignments ran the regex over every position of a line holding a stem
    (whichever stems it found in the block)."""
    return _ASSIGNMENT.sub(repl, line)


def _mnemonic_spans(line: str) -> list[tuple[int, int]]:
    words = bip39_words()
    spans: list[tuple[int, int]] = []
    for m in _WORD_RUN.finditer(line):
        tokens = [(t.start() + m.start(), t.end() + m.start(), t.group()) for t in re.finditer(r"[a-z]+", m.group())]
        i = 0
        while i < len(tokens):
            run = 0
            while i + run < len(tokens) and tokens[i + run][2] in words:
                run += 1
            best = next((n for n in _MNEMONIC_LENGTHS if n <= run), 0)
            if best:
                spans.append((tokens[i][0], tokens[i + run - 1][1]))  # the whole valid run
                i += run
            else:
                i += max(run, 1)
    return spans


def redact_mnemonics(text: str, placeholder: Callable[[str, str], str], record: Callable[[str, int], None]) -> str:
    """shapes.redact_mnemonics as it was: every line that holds a gate hit, split and searched whole."""
    gate = text.translate(_WORD_RUN_TABLE)
    hit = gate.find(WORD_RUN_MIN)
    if hit == -1:
        return text
    line_numbers: list[int] = []
    line, counted_to = 0, 0
    while hit != -1:
        line += text.count("\n", counted_to, hit)
        counted_to = hit
        line_numbers.append(line)
        end = text.find("\n", hit)
        hit = -1 if end == -1 else gate.find(WORD_RUN_MIN, end)
    lines = text.split("\n")
    starts = [0]
    for piece in lines[:-1]:
        starts.append(starts[-1] + len(piece) + 1)
    out: list[str] = []
    last = 0
    for ln in line_numbers:
        for start, end in _mnemonic_spans(lines[ln]):
            a, b = starts[ln] + start, starts[ln] + end
            out.append(text[last:a])
            out.append(placeholder("mnemonic", text[a:b]))
            record("mnemonic", a)
            last = b
    if not out:
        return text
    out.append(text[last:])
    return "".join(out)


_KEYISH_RUN = re.compile(r"[A-Za-z0-9_-]{20,}")
_PROVIDER_HINTS = ("alchemy", "infura", "ankr", "quiknode", "chainstack", "p2pify", "getblock", "blastapi",
                   "nodereal")


def may_hold_secret(body: str) -> bool:
    """urls._may_hold_secret as it was (any run of 20 key characters sends a URL to the rewrite),
    with a provider's name found in any case (it missed ETH-MAINNET.G.ALCHEMY.COM/v2/shortkey12)."""
    return ("@" in body or "?" in body or _KEYISH_RUN.search(body) is not None
            or any(hint in body.lower() for hint in _PROVIDER_HINTS))


def none_may_hold_secret(bodies: set[str]) -> bool:
    """redact_urls looked at each distinct URL on its own: no test over all of them first."""
    return False
