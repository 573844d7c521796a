"""Secrets recognised by shape alone, where the shape is unambiguous, and `name=value` in free text.

Never by shape: a bare `0x` + 64 hex, because transaction and block hashes look exactly like keys.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from importlib import resources

Placeholder = Callable[[str, str], str]
Recorder = Callable[[str, int], None]

_SIMPLE_SHAPES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("aws_key", re.compile(r"A[KS]IA[0-9A-Z]{16}(?![A-Za-z0-9])")),  # a literal first: fast to search
    ("github_token", re.compile(r"gh[pousr]_[A-Za-z0-9]{36,255}(?![A-Za-z0-9])")),
    ("github_token", re.compile(r"github_pat_[A-Za-z0-9_]{22,255}")),
    ("jwt", re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")),
)

# --- BIP-39 seed phrases -------------------------------------------------------------------------
_MNEMONIC_LENGTHS = (24, 21, 18, 15, 12)
_WORD_RUN = re.compile(r"(?<![A-Za-z])(?:[a-z]{3,8} ){11,}[a-z]{3,8}(?![A-Za-z])")
_DELETE_LOWER = b"abcdefghijklmnopqrstuvwxyz"
_ELEVEN_SPACES = b" " * 11


@lru_cache(maxsize=1)
def bip39_words() -> frozenset[str]:
    text = resources.files(__package__).joinpath("bip39-english.txt").read_text(encoding="utf-8")
    words = frozenset(w.strip() for w in text.splitlines() if w.strip())
    if len(words) != 2048:
        raise RuntimeError(f"bip39-english.txt holds {len(words)} words, expected 2048")
    return words


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


def redact_mnemonics(text: str, placeholder: Placeholder, record: Recorder) -> str:
    """Replace runs of 12/15/18/21/24 (or more) BIP-39 English words separated by single spaces."""
    # Gate at C speed: with lower-case letters deleted, 12 words in a row leave 11 spaces in a row,
    # and newlines stay, so the gate also says which lines to look at.
    gate = text.encode("utf-8", "surrogatepass").translate(None, _DELETE_LOWER)
    hit = gate.find(_ELEVEN_SPACES)
    if hit == -1:
        return text
    line_numbers: list[int] = []
    while hit != -1:
        line_numbers.append(gate.count(b"\n", 0, hit))
        end = gate.find(b"\n", hit)
        hit = -1 if end == -1 else gate.find(_ELEVEN_SPACES, end)
    lines = text.split("\n")
    starts = [0]
    for line in lines[:-1]:
        starts.append(starts[-1] + len(line) + 1)
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


def redact_simple_shapes(text: str, placeholder: Placeholder, record: Recorder) -> str:
    """AWS access key ids, GitHub tokens and JWTs."""
    for kind, pattern in _SIMPLE_SHAPES:  # each starts with a literal: the regex engine skips fast
        def repl(m: re.Match[str], kind: str = kind) -> str:
            if kind == "aws_key" and m.start() > 0 and m.string[m.start() - 1].isalnum():
                return m.group()
            record(kind, m.start())
            return placeholder(kind, m.group())
        text = pattern.sub(repl, text)
    return text


# --- PEM private-key blocks ----------------------------------------------------------------------
_PEM_BEGIN = re.compile(r"-----BEGIN (?P<label>[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?)-----")
# One-line forms: JSON/compose strings with escaped newlines, or a key pasted without newlines.
_PEM_INLINE = re.compile(
    r"-----BEGIN (?P<label>[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?)-----.{0,16384}?-----END (?P=label)-----")
# What may stand before the text of a log line: compose's `service | ` and Docker's timestamp.
_LINE_PREFIX = re.compile(r"(?:[\w.-]+\s*\|\s?)?(?:\d{4}-\d\d-\d\dT[0-9:.]+(?:Z|[+-]\d\d:?\d\d)\s)?")
_PEM_BODY = re.compile(r"\s*[\"']?(?:[A-Za-z0-9+/=]+|(?:Proc-Type|DEK-Info|Comment|Version|Hash): ?.*)?[\"']?\s*")
#: A PEM block longer than this is cut: what was seen is redacted, the rest is treated as ordinary text.
MAX_PEM_CHARS = 65536


def _redact_inline_pem(text: str, placeholder: Placeholder, record: Recorder) -> str:
    def repl(m: re.Match[str]) -> str:
        record("pem", m.start())
        return placeholder("pem", m.group())
    return _PEM_INLINE.sub(repl, text)


def redact_pem(text: str, placeholder: Placeholder, record: Recorder, at_end: bool = True) -> tuple[str, int]:
    """Redact private-key PEM blocks.

    Returns (text, open_at): when at_end is False and a block is still open when the text ends, the
    text from the start of its BEGIN line is returned unredacted from open_at on, for the caller to
    hold back until more lines arrive (open_at is len(text) otherwise).
    """
    if "-----BEGIN " not in text:
        return text, len(text)
    text = _redact_inline_pem(text, placeholder, record)
    out: list[str] = []
    last = 0
    search_from = 0
    while True:
        m = _PEM_BEGIN.search(text, search_from)
        if m is None:
            break
        line_start = text.rfind("\n", 0, m.start()) + 1
        end_marker = f"-----END {m.group('label')}-----"
        pos = text.find("\n", m.end())
        block_end = None  # index just after the last character of the block
        keep_after = ""
        while pos != -1:
            nxt = text.find("\n", pos + 1)
            line = text[pos + 1: nxt if nxt != -1 else len(text)]
            e = line.find(end_marker)
            if e != -1:
                block_end = nxt if nxt != -1 else len(text)
                keep_after = line[e + len(end_marker):]
                break
            body = line[_LINE_PREFIX.match(line).end():]  # type: ignore[union-attr]
            if not _PEM_BODY.fullmatch(body) or pos + 1 - m.start() > MAX_PEM_CHARS:
                block_end = pos  # stops before this line: an unterminated block
                break
            if nxt == -1:
                break
            pos = nxt
        if block_end is None:  # ran to the end of the text
            if not at_end and len(text) - m.start() <= MAX_PEM_CHARS:
                out.append(text[last:line_start])
                done = "".join(out)
                return done + text[line_start:], len(done)
            block_end = len(text)
        out.append(text[last:m.start()])
        out.append(placeholder("pem", text[m.start():block_end]))
        out.append(keep_after)
        record("pem", m.start())
        last = block_end
        search_from = block_end
    if not out:
        return text, len(text)
    out.append(text[last:])
    result = "".join(out)
    return result, len(result)

