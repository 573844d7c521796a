"""Tags, placeholders and the set of known secret literals propagated through every file."""

from __future__ import annotations

import hashlib
import hmac
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass

import ahocorasick_rs

from .counts import RedactionCounts
from .host_key import key_id_of

#: A placeholder as written into the bundle; never redacted again.
PLACEHOLDER_RE = re.compile(r"\[REDACTED:[a-z_]+#[0-9a-f]{8}\]")
PLACEHOLDER_MARK = "[redacted:"  # lower-case, to test a lowered block cheaply

#: Literals shorter than this (after normalising) are not propagated.
MIN_LITERAL_LENGTH = 6
#: Literals whose UTF-8 form is at least this long are screened with one pass over the block: every
#: occurrence covers a whole 8-byte word starting at a multiple of _STRIDE bytes, so looking the
#: block's aligned words up in the set of every 8-byte window of every literal (C speed, the same
#: cost for 5 or 5000 literals) names the few literals worth a str.find.
_WORD = 8
_STRIDE_WORDS = 3
_WORD_MIN_LITERAL = _WORD * _STRIDE_WORDS + _WORD - 1

#: Texts of at least this many characters (log blocks) find their literals with one Aho-Corasick
#: automaton run over every SAMPLE-th byte of the lower-cased UTF-8 text: an occurrence of a literal
#: of n >= SAMPLED_MIN_LITERAL bytes starting at byte p shows, from p rounded up to a multiple of
#: SAMPLE on, the literal's bytes r, r+SAMPLE, r+2*SAMPLE, ... (r = -p mod SAMPLE) in a row, so
#: each literal enters the automaton as SAMPLE patterns: for each r, SAMPLED_MAX (at most n // SAMPLE)
#: of those sampled bytes in a row. A quarter of the haystack, every occurrence reported
#: (overlapping search), each checked in full: a list of positions, with no str.find or word
#: screen per literal. Shorter texts (one JSON value, one line) keep the word screen, which costs
#: nothing to set up, and so do literals with a sampled pattern of fewer than SAMPLED_MIN_DISTINCT
#: distinct bytes (e.g. "0x000…001"): such a pattern could match thousands of times a block (runs
#: of zeros in ABI-encoded words), each a check in Python.
SAMPLE = 4
SAMPLED_MAX = 8
SAMPLED_MIN_LITERAL = SAMPLE * 6
SAMPLED_MIN_DISTINCT = 4
AUTOMATON_MIN_CHARS = 8192

Recorder = Callable[[str, int], None]  # (kind, position in the text being redacted)

_SPLIT_MIN = 16
_SPLIT_WINDOW = 8
_TOKEN_TAIL = re.compile(r"[0-9a-z+/=_-]+$")
_TOKEN_HEAD = re.compile(r"[ \t]*([0-9a-z+/=_-]*)")
# What may stand before the text of a log line: compose's `service | ` and Docker's timestamp.
_LINE_PREFIX = re.compile(r"(?:[\w.-]+\s*\|\s?)?(?:\d{4}-\d\d-\d\dt[0-9:.]+(?:z|[+-]\d\d:?\d\d)\s)?")
#: More literals found in one text than this take the span-by-span path.
_MAX_COUNTED_LITERALS = 8


def fold(text: str) -> str:
    """Lower case that keeps every offset: a character whose lower case is longer (U+0130 "İ"
    lowers to two) stays as it is, so positions found in the folded text hold in the text."""
    low = text.lower()
    if len(low) == len(text):
        return low
    return "".join(c if len(c.lower()) != 1 else c.lower() for c in text)


def normalise(value: str) -> str:
    """Lower-case, stripped, without a leading 0x: variants of one secret get one tag."""
    v = fold(value.strip())
    return v[2:] if v.startswith("0x") else v


class Tagger:
    """Placeholders keyed with a per-instance HMAC key that is never exposed."""

    __slots__ = ("__key", "_cache")
    _CACHE_LIMIT = 100_000

    def __init__(self, key: bytes) -> None:
        self.__key = key
        self._cache: dict[tuple[str, str], str] = {}

    def __repr__(self) -> str:
        return "Tagger(<key hidden>)"

    @property
    def key_id(self) -> str:
        """The key's id (an HMAC of a constant, see host_key.py): which key, never the key."""
        return key_id_of(self.__key)

    def tag(self, value: str) -> str:
        data = normalise(value).encode("utf-8", "surrogatepass")
        return hmac.new(self.__key, data, hashlib.sha256).hexdigest()[:8]

    def placeholder(self, kind: str, value: str) -> str:
        cached = self._cache.get((kind, value))
        if cached is None:
            cached = f"[REDACTED:{kind}#{self.tag(value)}]"
            if len(self._cache) < self._CACHE_LIMIT:
                self._cache[(kind, value)] = cached
        return cached


@dataclass(frozen=True)
class Literal:
    needle: str  # normalised form searched for in a lower-cased text
    kind: str
    placeholder: str
    outside_placeholders: bool = False  # no occurrence can overlap a placeholder (see below)


_PLACEHOLDER_PUNCTUATION = frozenset("[]:#")
_KIND_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz_")
_HEX_CHARS = frozenset("0123456789abcdef")


def _outside_placeholders(needle: str) -> bool:
    """True when needle can never overlap a placeholder `[redacted:<kind>#<8 hex>]` (lowered): it
    holds none of its punctuation, so an occurrence would lie within "redacted", the kind
    ([a-z_]+) or the tag (8 hex), and it is none of those shapes."""
    chars = set(needle)
    return (chars.isdisjoint(_PLACEHOLDER_PUNCTUATION) and not chars <= _KIND_CHARS
            and (len(needle) > 8 or not chars <= _HEX_CHARS))


def _overlaps_itself(needle: str) -> bool:
    """True when two occurrences of needle can overlap (a proper suffix is also a prefix)."""
    return any(needle.startswith(needle[k:]) for k in range(1, len(needle)))


def _can_interact(a: Literal, b: Literal) -> bool:
    """True when occurrences of a and b may overlap, or one may turn up inside the other's placeholder."""
    x, y = a.needle, b.needle
    if x in y or y in x or x in b.placeholder.lower() or y in a.placeholder.lower():
        return True
    return any(y.startswith(x[k:]) for k in range(1, len(x))) or any(x.startswith(y[k:]) for k in range(1, len(y)))


def placeholder_spans(text: str) -> list[tuple[int, int]]:
    if "[REDACTED:" not in text:
        return []
    return [m.span() for m in PLACEHOLDER_RE.finditer(text)]


def _inside(spans: list[tuple[int, int]], start: int, end: int) -> bool:
    return any(s < end and start < e for s, e in spans)


class LiteralSet:
    """Known secret values, found in any case and with or without `0x`, replaced by their placeholder."""

    def __init__(self, tagger: Tagger) -> None:
        self._tagger = tagger
        self._by_needle: dict[str, Literal] = {}
        self._short: list[Literal] = []
        self._by_word: dict[int, list[Literal]] = {}
        self._word_set: frozenset[int] | None = None
        self.skipped_short = 0
        # The automaton path (texts of AUTOMATON_MIN_CHARS or more): literals of SAMPLED_MIN_LITERAL
        # bytes or more in the automaton, built when first needed after a change; shorter ones by str.find.
        self._sampled: list[tuple[Literal, bytes, list[tuple[bytes, int]]]] = []  # (literal, bytes, patterns)
        self._unsampled: list[Literal] = []
        self._automaton: ahocorasick_rs.BytesAhoCorasick | None = None
        self._owners: list[tuple[tuple[bytes, int], ...]] = []  # per pattern: (literal's bytes, offset)
        self._by_bytes: dict[bytes, Literal] = {}
        self._self_overlapping: set[str] = set()  # needles two of whose occurrences may overlap
        # A needle that is "0x" + another needle gives both the same span where "0x" precedes the
        # other: which one wins then depends on the word screen's order, so such sets keep that path.
        self._prefixed_twins = False
        self.kinds: set[str] = set()  # of the literals (it only grows)
        # every _SPLIT_WINDOW-character window of each literal of _SPLIT_MIN or more characters: a
        # line ending in one may hold the first part of a secret printed over two lines
        self._windows: set[str] = set()

    def __len__(self) -> int:
        return len(self._by_needle)

    def kind_of(self, value: str) -> str | None:
        lit = self._by_needle.get(normalise(value))
        return lit.kind if lit else None

    def add(self, value: str, kind: str) -> bool:
        """Propagate a value; False (and counted in skipped_short) when too short to search for safely."""
        needle = normalise(value)
        if needle in self._by_needle:
            return True
        if len(needle) < MIN_LITERAL_LENGTH:
            self.skipped_short += 1
            return False
        self._insert(Literal(needle, kind, self._tagger.placeholder(kind, value), _outside_placeholders(needle)))
        return True

    @property
    def generation(self) -> int:
        """How many literals were ever added: text redacted while ``generation`` was g holds no
        literal of the first g (see :meth:`since`)."""
        return len(self._by_needle)

    def since(self, generation: int) -> LiteralSet | None:
        """The literals added after ``generation`` (same placeholders), or None when there are none."""
        late = list(self._by_needle.values())[generation:]
        if not late:
            return None
        subset = LiteralSet(self._tagger)
        for lit in late:
            subset._insert(lit)
        return subset

    def literals(self, since: int = 0) -> list[Literal]:
        """The literals added after ``since`` (every form of each value is a literal of its own)."""
        return list(self._by_needle.values())[since:]

    @classmethod
    def of(cls, literals: list[Literal]) -> LiteralSet:
        """A set of literals learnt elsewhere (another input's redactor): each keeps its placeholder;
        the first of two with one needle wins. Nothing can be added to it by value."""
        subset = cls(Tagger(hashlib.sha256(b"literals learnt elsewhere").digest()))
        for lit in literals:
            if lit.needle not in subset._by_needle:
                subset._insert(lit)
        return subset

    def _insert(self, lit: Literal) -> None:
        needle, kind = lit.needle, lit.kind
        if _overlaps_itself(needle):
            self._self_overlapping.add(needle)
        self._by_needle[needle] = lit
        self.kinds.add(kind)
        data = needle.encode("utf-8", "surrogatepass")
        patterns = _sampled_patterns(data)
        if patterns:
            self._sampled.append((lit, data, patterns))
        else:
            self._unsampled.append(lit)
        self._automaton = None
        if len(needle) >= _SPLIT_MIN:
            # not the last window: a line ending in it ends with the whole secret (the literal pass's)
            self._windows.update(needle[j:j + _SPLIT_WINDOW] for j in range(len(needle) - _SPLIT_WINDOW))
        if (needle.startswith("0x") and needle[2:] in self._by_needle) or "0x" + needle in self._by_needle:
            self._prefixed_twins = True
        if len(data) < _WORD_MIN_LITERAL:
            self._short.append(lit)
            return
        self._word_set = None
        for j in range(len(data) - _WORD + 1):
            holders = self._by_word.setdefault(int.from_bytes(data[j:j + _WORD], sys.byteorder), [])
            if lit not in holders:
                holders.append(lit)

    def may_go_on(self, line: str) -> bool:
        """True when ``line`` (without its newline) ends with the first part of a known secret
        that may go on at the start of the next line (see replace_split): a stream that is about
        to cut after it keeps it for the next block, so that the two parts are seen together."""
        return bool(self._windows) and fold(line[-_SPLIT_WINDOW:]) in self._windows

    def replace_split(self, text: str, record: Recorder, low: str | None = None) -> str:
        """Known secrets printed over two lines (the end of one, the start of the next after its
        `service | ` and timestamp prefix): both parts are replaced by the secret's placeholder."""
        if not self._windows or "\n" not in text:
            return text
        low = fold(text) if low is None or len(low) != len(text) else low
        lines = low.split("\n")
        windows = self._windows
        if windows.isdisjoint({line[-_SPLIT_WINDOW:] for line in lines}):  # the usual case, at C speed
            return text
        ends = [i for i in range(len(lines) - 1) if lines[i][-_SPLIT_WINDOW:] in windows]
        if not ends:
            return text
        starts = [0]
        for line in lines[:-1]:
            starts.append(starts[-1] + len(line) + 1)
        spans: list[tuple[int, int, Literal]] = []
        for i in ends:
            tail = _TOKEN_TAIL.search(lines[i])
            following = lines[i + 1]
            body_at = _LINE_PREFIX.match(following).end()  # type: ignore[union-attr]
            head = _TOKEN_HEAD.match(following, body_at)
            if tail is None or head is None or not head.group(1):
                continue
            joined = tail.group() + head.group(1)
            cut = len(tail.group())
            for lit in self._candidates(joined):
                for pos in _positions(joined, lit.needle):
                    if pos < cut < pos + len(lit.needle):
                        a = starts[i] + tail.start() + pos
                        spans.append((a, starts[i] + len(lines[i]), lit))
                        b = starts[i + 1] + head.start(1)
                        spans.append((b, b + pos + len(lit.needle) - cut, lit))
        return _apply(text, spans, record) if spans else text

    def _candidates(self, low: str) -> list[Literal]:
        """Literals that may occur in `low`: exact (a literal that occurs is always returned)."""
        found = [lit for lit in self._short if lit.needle in low]
        if not self._by_word:
            return found
        data = low.encode("utf-8", "surrogatepass")
        usable = len(data) - len(data) % _WORD
        words = memoryview(data)[:usable].cast("Q")[::_STRIDE_WORDS]
        if self._word_set is None:
            self._word_set = frozenset(self._by_word)
        hits = self._word_set.intersection(words)  # iterates the words, looks each up: no set built
        seen: set[str] = set()
        for word in hits:
            for lit in self._by_word[word]:
                if lit.needle not in seen:
                    seen.add(lit.needle)
                    if lit.needle in low:
                        found.append(lit)
        return found

    def replace(self, text: str, record: Recorder, low: str | None = None,
                counts: RedactionCounts | None = None, data: bytes | None = None,
                sampled: bytes | None = None) -> str:
        """``low``: text.lower(), when the caller has it already; ``data``: low encoded as UTF-8
        (surrogatepass), and ``sampled``: data[::SAMPLE], likewise. ``counts``: where record()
        ends up; occurrences of a kind that keeps no more line numbers may be added to it directly."""
        if not self._by_needle or not text:
            return text
        low = text.lower() if low is None else low
        if len(low) != len(text):  # some characters change length when lower-cased: fold instead
            low, data, sampled = fold(text), None, None
        if self._use_automaton(low):
            found = self._occurrences(low, data, sampled)
        else:
            found = [(lit, _positions(low, lit.needle)) for lit in self._candidates(low)]
        return self._replace_found(text, low, found, record, counts)

    def _use_automaton(self, low: str) -> bool:
        return len(low) >= AUTOMATON_MIN_CHARS and not self._prefixed_twins

    def _build_automaton(self) -> ahocorasick_rs.BytesAhoCorasick:
        owners: dict[bytes, list[tuple[bytes, int]]] = {}
        self._by_bytes = {}
        for lit, data, patterns in self._sampled:
            self._by_bytes[data] = lit
            for pattern, offset in patterns:
                owners.setdefault(pattern, []).append((data, offset))
        keys = list(owners)
        self._owners = [tuple(owners[p]) for p in keys]
        self._automaton = ahocorasick_rs.BytesAhoCorasick(
            keys, matchkind=ahocorasick_rs.MATCHKIND_STANDARD, implementation=ahocorasick_rs.Implementation.DFA)
        return self._automaton

    def _occurrences(self, low: str, data: bytes | None = None,
                     sampled: bytes | None = None) -> list[tuple[Literal, list[int]]]:
        """Every literal in `low` with the positions str.find finds it at, one after the other
        (each search starting where the last occurrence ended). ``data``, ``sampled``: as for replace()."""
        found: list[tuple[Literal, list[int]]] = []
        if self._sampled:
            if data is None:
                data = low.encode("utf-8", "surrogatepass")
            if sampled is None:
                sampled = data[::SAMPLE]
            automaton = self._automaton or self._build_automaton()
            hits: dict[bytes, list[int]] = {}  # by the literal's bytes
            owners = self._owners
            for index, at, _ in automaton.find_matches_as_indexes(sampled, overlapping=True):
                at *= SAMPLE
                for needle, offset in owners[index]:
                    start = at - offset
                    if start >= 0 and data.startswith(needle, start):
                        positions = hits.get(needle)
                        if positions is None:
                            hits[needle] = [start]
                        else:
                            positions.append(start)
            if hits:
                if len(data) != len(low):  # byte offsets to character offsets
                    _to_char_offsets(data, hits)
                by_bytes = self._by_bytes
                for needle, positions in hits.items():
                    lit = by_bytes[needle]
                    positions.sort()
                    if lit.needle in self._self_overlapping:
                        size = len(lit.needle)
                        kept, end = [], -1
                        for start in positions:  # the occurrences one str.find after another finds
                            if start >= end:
                                kept.append(start)
                                end = start + size
                        positions = kept
                    found.append((lit, positions))
        for lit in self._unsampled:
            positions = _positions(low, lit.needle)
            if positions:
                found.append((lit, positions))
        return found

    def _replace_found(self, text: str, low: str, found: list[tuple[Literal, list[int]]], record: Recorder,
                       counts: RedactionCounts | None) -> str:
        """What replace() gives, from the occurrences _occurrences() found."""
        if not found:
            return text
        if counts is not None:
            fast = _replace_counted_at(text, low, found, counts)
            if fast is not None:
                return fast
        spans: list[tuple[int, int, Literal]] = []
        for lit, positions in found:
            size = len(lit.needle)
            for pos in positions:
                start = pos - 2 if pos >= 2 and low.startswith("0x", pos - 2) else pos
                spans.append((start, pos + size, lit))
        return _apply(text, spans, record)

    def _replace_slow(self, text: str, record: Recorder) -> str:
        spans: list[tuple[int, int, Literal]] = []
        for lit in self._by_needle.values():
            for m in re.finditer(r"(?:0x)?" + re.escape(lit.needle), text, re.IGNORECASE):
                spans.append((m.start(), m.end(), lit))
        return _apply(text, spans, record)

    def leaks(self, text: str, masked: bool = False, low: str | None = None, data: bytes | None = None) -> list[str]:
        """Kinds of known literals still present in text (placeholders themselves are ignored);
        ``masked``: the caller has replaced every placeholder already; ``low``: fold(text) and
        ``data``: low as UTF-8, when the caller has them."""
        if not masked and "[REDACTED:" in text:
            text = PLACEHOLDER_RE.sub("\x00", text)
            low = data = None
        low = fold(text) if low is None else low
        if self._by_needle and self._use_automaton(low):
            return sorted({lit.kind for lit, _ in self._occurrences(low, data)})
        return sorted({lit.kind for lit in self._candidates(low)})


def _sampled_patterns(data: bytes) -> list[tuple[bytes, int]]:
    """The automaton's patterns for a literal's bytes, each with the offset in the literal of its
    first byte (a match at sampled index j puts the literal at byte SAMPLE * j - offset); [] for a
    literal the automaton does not take (too short, or too few distinct bytes in a pattern)."""
    if len(data) < SAMPLED_MIN_LITERAL:
        return []
    width = min(SAMPLED_MAX, len(data) // SAMPLE)
    patterns = []
    for r in range(SAMPLE):
        row = data[r::SAMPLE]
        # The run of sampled bytes with the most distinct values: the fewest false hits.
        k = max(range(len(row) - width + 1), key=lambda k: len(set(row[k:k + width])))
        if len(set(row[k:k + width])) < SAMPLED_MIN_DISTINCT:
            return []
        patterns.append((row[k:k + width], r + SAMPLE * k))
    return patterns


def _to_char_offsets(data: bytes, hits: dict[bytes, list[int]]) -> None:
    """Turn the UTF-8 byte offsets in hits (each the start of a character) into character offsets."""
    offsets = sorted({start for positions in hits.values() for start in positions})
    chars: dict[int, int] = {}
    byte_at = char_at = 0
    for start in offsets:
        char_at += len(data[byte_at:start].decode("utf-8", "surrogatepass"))
        byte_at = start
        chars[start] = char_at
    for positions in hits.values():
        positions[:] = [chars[start] for start in positions]


def occurrences(low: str, needle: str) -> list[int]:
    """Every place ``needle`` starts in ``low``, overlapping ones too ("keykey" holds "key" twice)."""
    found, pos = [], low.find(needle)
    while pos != -1:
        found.append(pos)
        pos = low.find(needle, pos + 1)
    return found


def _positions(low: str, needle: str) -> list[int]:
    """Where ``needle`` occurs in ``low``, one str.find after another (each from the end of the last)."""
    positions = []
    pos = low.find(needle)
    while pos != -1:
        positions.append(pos)
        pos = low.find(needle, pos + len(needle))
    return positions


def _replace_counted_at(text: str, low: str, found: list[tuple[Literal, list[int]]],
                        counts: RedactionCounts) -> str | None:
    """Replace literals whose every occurrence is known, when no position is wanted: the text is cut
    at them and joined back with the placeholders between (no search at all); None when the span
    path must run.

    Exact when no kind wants a line number, no placeholder is to protect (or none of the literals
    can overlap one), no occurrence follows "0x" and no two of the literals can overlap (one
    literal's occurrences, one str.find after another, never do): then the span path takes every
    span, in order, and counts one per span.
    """
    if len(found) > _MAX_COUNTED_LITERALS:
        return None
    for lit, _ in found:
        if counts.wants_lines(lit.kind):
            return None
    if not all(lit.outside_placeholders for lit, _ in found) and "[REDACTED:" in text:
        return None  # placeholders already in text are protected span by span
    for i, (a, _) in enumerate(found):
        for b, _ in found[i + 1:]:
            if _can_interact(a, b):
                return None
    for _, positions in found:
        for pos in positions:
            if pos >= 2 and low[pos - 2:pos] == "0x":
                return None
    if len(found) == 1:
        lit, positions = found[0]
        size = len(lit.needle)
        pieces, last = [], 0
        for pos in positions:
            pieces.append(text[last:pos])
            last = pos + size
        pieces.append(text[last:])
        new = lit.placeholder.join(pieces)
    else:
        spans = sorted(((pos, lit) for lit, positions in found for pos in positions), key=lambda span: span[0])
        parts: list[str] = []
        last = 0
        for pos, lit in spans:
            parts.append(text[last:pos])
            parts.append(lit.placeholder)
            last = pos + len(lit.needle)
        parts.append(text[last:])
        new = "".join(parts)
    for lit, positions in found:
        counts.add(lit.kind, len(positions))
    return new


def _apply(text: str, spans: list[tuple[int, int, Literal]], record: Recorder) -> str:
    if not spans:
        return text
    protected = placeholder_spans(text)
    spans.sort(key=lambda s: (s[0], -s[1]))
    out: list[str] = []
    last = 0
    for start, end, lit in spans:
        if start < last <= end - len(lit.needle):  # only its "0x" overlaps the previous one (e.g. "…0X…")
            start = end - len(lit.needle)
        if protected and _inside(protected, start, end):
            continue
        if start < last:
            if end > last:  # overlaps the previous secret and goes on: the placeholder covers both
                last = end
            continue
        out.append(text[last:start])
        out.append(lit.placeholder)
        record(lit.kind, start)
        last = end
    if not out:
        return text
    out.append(text[last:])
    return "".join(out)
