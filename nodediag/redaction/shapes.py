"""Secrets recognised by shape alone, where the shape is unambiguous, and `name=value` in free text.

Never by shape: a bare `0x` + 64 hex, because transaction and block hashes look exactly like keys.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Container, Iterator
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

Placeholder = Callable[[str, str], str]
Recorder = Callable[[str, int], None]



class ShapeRegistrationError(Exception):
    """A shape registered without a working gate: it would silently never run."""


@dataclass(frozen=True)
class Shape:
    """A secret recognised by its shape alone, and its gate: the lower-case openings one of which
    every match holds (gates.py looks for them before the pass; a shape with none never runs)."""

    kind: str
    pattern: re.Pattern[str]
    openings: tuple[str, ...]
    examples: tuple[str, ...]


SHAPES: list[Shape] = []


def register_shape(kind: str, pattern: str, *, openings: tuple[str, ...], examples: tuple[str, ...],
                   registry: list[Shape] = SHAPES) -> Shape:
    """The ONE place a shape is added: with its gate openings and examples it must find. Fails
    loudly (ShapeRegistrationError, at import) when the openings are missing, are not lower case,
    or when an example is not matched or holds none of the openings (the gate would skip it)."""
    if not openings or any(not o or o != o.lower() or "[" in o or "]" in o for o in openings):
        raise ShapeRegistrationError(f"shape {kind!r} needs lower-case gate openings (without [ or ]), "
                                     f"got {openings!r}")
    if not examples:
        raise ShapeRegistrationError(f"shape {kind!r} needs at least one example the pass must find")
    compiled = re.compile(pattern)
    for example in examples:
        if not compiled.fullmatch(example):
            raise ShapeRegistrationError(f"shape {kind!r}: its pattern does not match its example {example[:12]}..")
        if not any(o in example.lower() for o in openings):
            raise ShapeRegistrationError(f"shape {kind!r}: example {example[:12]}.. holds none of the gate "
                                         f"openings {openings!r}: the gate would skip it")
    shape = Shape(kind, compiled, openings, examples)
    registry.append(shape)
    return shape


register_shape("aws_key", r"A[KS]IA[0-9A-Z]{16}(?![A-Za-z0-9])", openings=("akia", "asia"),
               examples=("AKIAIOSFODNN7EXAMPLE",))  # a literal first: fast to search
register_shape("github_token", r"gh[pousr]_[A-Za-z0-9]{36,255}(?![A-Za-z0-9])",
               openings=("ghp_", "gho_", "ghu_", "ghs_", "ghr_"),
               examples=("ghp_a4zGg53Mc7L5jkdFgi7F4r1DxSZEpmc3HdZ9",))
register_shape("github_token", r"github_pat_[A-Za-z0-9_]{22,255}", openings=("github_pat_",),
               examples=("github_pat_11ABCDEFG0123456789abcdefghij",))
register_shape("jwt", r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}", openings=("eyj",),
               examples=("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",))
register_shape("slack_token", r"xox[abposr]-[A-Za-z0-9-]{10,250}", openings=("xoxb-", "xoxa-", "xoxp-", "xoxo-",
                                                                            "xoxs-", "xoxr-"),
               examples=("xoxb-2401234567-2401234567890-AbCdEfGhIjKlMnOpQrStUvWx",))



# Both GitHub shapes start with "g": one scan says whether either may occur.
_GITHUB_GATE = re.compile(r"gh[pousr]_|github_pat_")

# A JWT starts "eyJ"; scanning for the rarer "J" and looking behind is about twice as fast.
_JWT_GATE = re.compile(r"J(?<=eyJ)")

# --- BIP-39 seed phrases -------------------------------------------------------------------------
_MNEMONIC_LENGTHS = (24, 21, 18, 15, 12)
_WORD_RUN = re.compile(r"(?<![A-Za-z])(?:[a-z]{3,8} ){11,}[a-z]{3,8}(?![A-Za-z])")
_WORD_RUN_TABLE = ["a" if (97 <= c <= 122 or c == 32) else "\n" for c in range(128)]
WORD_RUN_MIN = "a" * (12 * 3 + 11)
_GATE_RUN = re.compile("a+")
_GATE_RUN_BYTES = re.compile(b"a+")
_CONTINUATION_TABLE = bytes(1 if 0x80 <= c <= 0xBF else 0 for c in range(256))
# The same gate over UTF-8 bytes: [a-z ] to "a", every other byte (those of a non-ASCII character
# too) to a newline.
RUN_BYTES_TABLE = bytes(0x61 if (0x61 <= c <= 0x7A or c == 0x20) else 0x0A for c in range(256))
WORD_RUN_MIN_BYTES = WORD_RUN_MIN.encode()


@lru_cache(maxsize=1)
def bip39_words() -> frozenset[str]:
    text = resources.files(__package__).joinpath("bip39-english.txt").read_text(encoding="utf-8")
    words = frozenset(w.strip() for w in text.splitlines() if w.strip())
    if len(words) != 2048:
        raise RuntimeError(f"bip39-english.txt holds {len(words)} words, expected 2048")
    return words


def _mnemonic_spans(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Spans (in text) of the runs of 12 or more BIP-39 words in text[start:end], where start is
    the start of a run of [a-z ] (a line's start, or after any other character) and end is just
    after the character that ends it, or the end of text: every match of _WORD_RUN lies in such
    a run, and its look-behind and look-ahead see the characters on both sides (a regex searched
    from pos sees what stands before pos; it sees nothing after endpos)."""
    words = bip39_words()
    spans: list[tuple[int, int]] = []
    for m in _WORD_RUN.finditer(text, start, len(text) if end is None else end):
        # a run is words of [a-z] joined by single spaces: split(" ") gives them
        tokens = m.group().split(" ")
        known = [token in words for token in tokens]
        if known.count(True) < 12:
            continue
        at = m.start()
        run_start = run = 0
        for token, is_word in zip(tokens, known, strict=True):
            if is_word:
                if not run:
                    run_start = at
                run += 1
            else:
                if run >= 12:  # the whole run of words, however long
                    spans.append((run_start, at - 1))
                run = 0
            at += len(token) + 1
        if run >= 12:
            spans.append((run_start, at - 1))
    return spans


def _runs_to_search(text: str) -> Iterator[tuple[int, int]]:
    """(start, end) of each run of 47 or more characters of [a-z ] in text, end one character
    past the run where text goes on (what _mnemonic_spans takes): a seed phrase lies in one. The
    text is read, not its lower case: there "JsonRpcClient request proverBroker" is such a run.
    No redaction pass makes a run: a placeholder starts with "[" and ends with "]", and a run
    inside one (a kind of [a-z_]) holds no space."""
    if text.isascii():
        # [a-z ] mapped to "a" and every other character to a newline (str.translate's ASCII fast
        # path: no encoding, one character for one): such a run is 47 a's in a row, at the same place.
        gate = text.translate(_WORD_RUN_TABLE)
        hit = gate.find(WORD_RUN_MIN)
        while hit != -1:
            run = _GATE_RUN.match(gate, hit)
            run_end = run.end() if run is not None else hit + 1
            yield hit, min(run_end + 1, len(text))
            hit = gate.find(WORD_RUN_MIN, run_end)
        return
    # Other text leaves that fast path (every character costs a lookup, ~30x slower): the same gate
    # over its UTF-8 bytes, where a run (ASCII) is as many bytes as characters, and a byte offset is
    # a character offset once the continuation bytes before it (0x80-0xBF) are taken off.
    data = text.encode("utf-8", "surrogatepass")
    gate_bytes = data.translate(RUN_BYTES_TABLE)
    hit = gate_bytes.find(WORD_RUN_MIN_BYTES)
    if hit == -1:
        return
    continuation = data.translate(_CONTINUATION_TABLE)
    counted_to = chars = 0  # chars: the characters in data[:counted_to]
    while hit != -1:
        chars += hit - counted_to - continuation.count(1, counted_to, hit)
        counted_to = hit
        run_bytes = _GATE_RUN_BYTES.match(gate_bytes, hit)
        run_end = run_bytes.end() if run_bytes is not None else hit + 1
        yield chars, min(chars + run_end - hit + 1, len(text))
        hit = gate_bytes.find(WORD_RUN_MIN_BYTES, run_end)


def redact_mnemonics(text: str, placeholder: Placeholder, record: Recorder) -> str:
    """Replace runs of 12/15/18/21/24 (or more) BIP-39 English words separated by single spaces."""
    # Gate at C speed: 12 words of 3+ letters are a run of at least 47 characters of [a-z ].
    out: list[str] = []
    last = 0
    for a, b in _runs_to_search(text):
        for start, end in _mnemonic_spans(text, a, b):
            out.append(text[last:start])
            out.append(placeholder("mnemonic", text[start:end]))
            record("mnemonic", start)
            last = end
    if not out:
        return text
    out.append(text[last:])
    return "".join(out)


def shape_kind(value: str) -> str | None:
    """The kind of a value that is exactly one unambiguous shape (an AWS key id, a GitHub token, a JWT)."""
    for shape in SHAPES:
        if shape.pattern.fullmatch(value):
            return shape.kind
    return None


def redact_simple_shapes(text: str, placeholder: Placeholder, record: Recorder,
                         possible: Container[str] | None = None) -> str:
    """AWS access key ids, GitHub tokens and JWTs. ``possible``: the kinds that may occur in text
    (the caller has looked, see gates.py); None: any."""
    if possible is not None and "github_token" not in possible:
        github_possible = False
    else:
        github_possible = _GITHUB_GATE.search(text) is not None  # one scan for both GitHub shapes
    for shape in SHAPES:  # each starts with a literal: the regex engine skips fast
        kind, pattern = shape.kind, shape.pattern
        if possible is not None and kind not in possible:
            continue
        if (kind == "github_token" and not github_possible) or (kind == "jwt" and _JWT_GATE.search(text) is None):
            continue
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



# --- the admin API key an Aztec node prints once at first start -----------------------------------
# aztec/src/cli/aztec_start_action.ts prints a banner, a blank line, then the raw key (32 random bytes
# as hex) on a line of its own: "  ADMIN API KEY (save this — it will NOT be shown again)".
ADMIN_KEY_BANNER = "ADMIN API KEY (save this"
_ADMIN_KEY_LINES_AFTER = 4
_ADMIN_KEY_BODY = re.compile(r"\s*(?:0x)?[0-9a-fA-F]{64}\s*")


def find_admin_api_keys(text: str, at_end: bool = True) -> tuple[list[str], int]:
    """The keys printed in the lines after each banner, for the caller to propagate (the literal
    pass then replaces them everywhere, this line included).

    Returns (keys, hold_from): when at_end is False and a banner is closer to the end than the
    lines that may hold its key, hold_from is the start of the banner's line (the caller holds
    the text from there back until the next block); len(text) otherwise.
    """
    if ADMIN_KEY_BANNER not in text:
        return [], len(text)
    keys: list[str] = []
    hold_from = len(text)
    at = text.find(ADMIN_KEY_BANNER)
    while at != -1:
        pos = text.find("\n", at)
        seen, found = 0, False
        while pos != -1 and seen < _ADMIN_KEY_LINES_AFTER:
            nxt = text.find("\n", pos + 1)
            if nxt == -1 and not at_end:
                break  # an unterminated last line may still be growing
            line = text[pos + 1:nxt if nxt != -1 else len(text)]
            body_at = _LINE_PREFIX.match(line).end()  # type: ignore[union-attr]
            if _ADMIN_KEY_BODY.fullmatch(line, body_at):
                keys.append(line[body_at:].strip())
                found = True
                break
            seen += 1
            pos = nxt
        if not found and not at_end and seen < _ADMIN_KEY_LINES_AFTER:
            hold_from = min(hold_from, text.rfind("\n", 0, at) + 1)
        at = text.find(ADMIN_KEY_BANNER, at + len(ADMIN_KEY_BANNER))
    return keys, hold_from
