"""One cheap look at a block before the passes: which of them can find anything in it at all.

Two Aho-Corasick automata (SIMD-fast on a few short patterns) run over the lower-cased block,
UTF-8 encoded, and report which secret-name stems and which shape openings occur in it: a pass
whose every match needs one that is absent is skipped. A pass never creates what another looks
for: every change a pass makes puts a placeholder `[REDACTED:<kind>#<8 hex>]` in the place of
text that was there (the URL pass may also drop the characters between `://` and a placeholder in
a user-info part), and none of the patterns below holds `[` or `]`, so a pattern found after a
pass was in the block before it, or lies inside a placeholder, whose kind the caller checks
(shapes_in_kinds) against the kinds in use.
The look is taken on the lower-cased text, where every case-sensitive pattern still shows (in
lower case): it may say a pass is needed when it is not, never the other way round.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import ahocorasick_rs

from .assignments import STEM_GROUPS
from .headers import HEADER_OPENINGS
from .shapes import SHAPES

#: Lower-cased openings of the shapes (shapes.py registers each shape with them), by what each gates.
SHAPE_OPENINGS: dict[str, tuple[str, ...]] = {}
for _shape in SHAPES:
    SHAPE_OPENINGS[_shape.kind] = tuple(dict.fromkeys((*SHAPE_OPENINGS.get(_shape.kind, ()), *_shape.openings)))
PEM_OPENING = "-----begin "
_KIND = re.compile(r"[a-z_]+")

_STEMS = tuple(stem for stems, _ in STEM_GROUPS for stem in stems)

# Each pattern names what it gates: a stem, a shape kind, "header" or "pem".
_LABELS: dict[str, str] = {stem: stem for stem in _STEMS}
for _kind, _openings in SHAPE_OPENINGS.items():
    for _opening in _openings:
        if _LABELS.setdefault(_opening, _kind) != _kind:
            raise RuntimeError(f"gate opening {_opening!r} registered for two shapes")
_LABELS.update({opening: "header" for opening in HEADER_OPENINGS})
_LABELS[PEM_OPENING] = "pem"


def _may_overlap(x: str, y: str) -> bool:
    return x in y or y in x or any(y.startswith(x[k:]) for k in range(1, len(x))) \
        or any(x.startswith(y[k:]) for k in range(1, len(y)))


# Groups, each searched leftmost-first without overlaps: that reports every label present as long
# as no two patterns of different labels in a group may overlap ("key" and "eyj" may, so may
# "pass" and "secret"...), for an occurrence it skips then overlaps a match of the same label. Two
# seed groups keep each on the automaton's SIMD prefilter (with one to three distinct first bytes,
# common letters in logs, it would pick a slower one); every other opening (a shape registered
# later) joins the first group it overlaps nothing of another label in, or a new group.
def _groups() -> tuple[tuple[str, ...], ...]:
    seed = [["key", "secret", "mnemonic", PEM_OPENING], ["pass", "token", "credential"]]
    for pattern in _LABELS:
        if any(pattern in group for group in seed):
            continue
        for group in seed:
            if all(_LABELS[other] == _LABELS[pattern] or not _may_overlap(pattern, other) for other in group):
                group.append(pattern)
                break
        else:
            seed.append([pattern])
    return tuple(tuple(group) for group in seed)


_GROUPS = _groups()
assert sorted(p for group in _GROUPS for p in group) == sorted(_LABELS)
assert all(_LABELS[x] == _LABELS[y] or not _may_overlap(x, y) for group in _GROUPS for x in group for y in group)

_AUTOMATA = [
    (ahocorasick_rs.BytesAhoCorasick([p.encode() for p in group], matchkind=ahocorasick_rs.MATCHKIND_LEFTMOST_FIRST),
     [_LABELS[p] for p in group])
    for group in _GROUPS
]


def present(data: bytes) -> set[str]:
    """Labels (stems, shape kinds, "pem") whose patterns occur in data, the lower-cased text
    UTF-8 encoded; and "nul" when data holds a NUL, which can leave a part of the URL pass's own
    marks (a kind name) in the text: the block then takes every pass, as before these gates."""
    found: set[str] = set()
    for automaton, labels in _AUTOMATA:
        found.update(labels[index] for index, _, _ in automaton.find_matches_as_indexes(data))
    if b"\x00" in data:
        found.add("nul")
    return found


def shapes_in_kinds(kinds: Iterable[str]) -> set[str] | None:
    """The shape kinds whose opening a placeholder of one of these kinds holds, or None when a
    kind is not made of [a-z_] only (it may then hold anything: every pass is to run). A kind of
    [a-z_] holds no upper-case "AKIA", "ASIA" or "eyJ", no "-----BEGIN " and no space for a seed
    phrase: of the openings, only the GitHub ones matter (all are looked for, in lower case)."""
    found: set[str] = set()
    for kind in kinds:
        if not _KIND.fullmatch(kind):
            return None
        found.update(label for opening, label in _LABELS.items() if label in SHAPE_OPENINGS and opening in kind)
    return found


def stems_listed(found: set[str]) -> list[str]:
    """What assignments.stems_in() gives for the same text, from present()'s labels."""
    return [stem for stems, _ in STEM_GROUPS if not found.isdisjoint(stems) for stem in stems]

