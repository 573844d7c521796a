"""Several raw inputs of one analysis share what their redaction learnt.

Each raw input (a log file, the guide's archive or folder) is redacted by a Redactor of its own
as it is opened. A credential learnt in one (an ``Authorization: Bearer`` value, the key in an RPC
URL) may stand in another with nothing around it that tells it is one (a bare token in an error
message, an upper-case copy, a JSON-escaped one). Once every input is open (and every copy a child
redacts ahead is complete), each raw input's private copy is fixed with the secrets the OTHER raw
inputs learnt, every form of each (late.py, block by block), before anything reads it for the
report. A nodediag bundle is already redacted and is not rewritten (the user's folder, or frames read
from the bundle); ``scrub_result`` removes those secrets from what the report shows of it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from nodediag.analyzer.model import LoadedInput
from nodediag.redaction import RedactionCounts
from nodediag.redaction.late import LateFix, fix_file


def share_learnt(inputs: Sequence[LoadedInput]) -> None:
    """Fix each raw input's private copy with what the other raw inputs learnt; a note in the
    fixed input's warnings says how many values were removed (kinds, never values)."""
    raw = [inp for inp in inputs if inp.learnt is not None]
    if len(raw) < 2:
        return
    for inp in raw:
        others = [lit for other in raw if other is not inp for lit in other.learnt or ()]
        fix = LateFix.of(others, known=inp.learnt or ())
        if fix is None:
            continue
        counts = RedactionCounts()
        for rel in inp.files:
            path = Path(inp.root).joinpath(*rel.split("/"))
            if path.is_file() and not path.is_symlink():
                fix_file(path, fix, counts, lambda text, line: None)
        if counts.by_kind:
            found = ", ".join(f"{kind} x{n}" for kind, n in sorted(counts.by_kind.items()))
            inp.warnings.append(f"secrets learnt from the other inputs of this analysis were also removed from "
                                f"this one ({found})")


def raw_fix(inputs: Sequence[LoadedInput]) -> LateFix | None:
    """Every secret the raw inputs learnt, as one fix for what a bundle's text shows (None when
    there is no raw input, or no bundle to fix, or nothing learnt)."""
    if all(inp.learnt is not None for inp in inputs):
        return None  # every raw input was fixed by share_learnt
    return LateFix.of([lit for inp in inputs for lit in inp.learnt or ()])


def scrub_result(node: Any, fix: LateFix, counts: RedactionCounts, seen: set[int] | None = None) -> Any:
    """Every string of an analysis result (dataclasses, lists, tuples, dicts) with ``fix``'s secrets
    replaced, in place where the container can change (each container once)."""
    seen = set() if seen is None else seen
    if isinstance(node, str):
        return fix.fix(node, counts) if fix.present(node) else node
    if isinstance(node, (int, float, bool, datetime, Path)) or node is None:
        return node
    if isinstance(node, tuple):
        items = tuple(scrub_result(item, fix, counts, seen) for item in node)
        if all(a is b for a, b in zip(items, node, strict=True)):
            return node
        return type(node)(*items) if hasattr(node, "_fields") else items
    if id(node) in seen:  # (a container met twice is scrubbed once: no endless loop on a cycle)
        return node
    seen.add(id(node))
    if dataclasses.is_dataclass(node) and not isinstance(node, type):
        for f in dataclasses.fields(node):
            if f.metadata.get("report", True) is False:
                continue
            value = getattr(node, f.name)
            new = scrub_result(value, fix, counts, seen)
            if new is not value:
                try:
                    setattr(node, f.name, new)
                except dataclasses.FrozenInstanceError:
                    object.__setattr__(node, f.name, new)
        return node
    if isinstance(node, list):
        for i, item in enumerate(node):
            new = scrub_result(item, fix, counts, seen)
            if new is not item:
                node[i] = new
        return node
    if isinstance(node, dict):
        for key in list(node):
            value = node[key]
            new = scrub_result(value, fix, counts, seen)
            new_key = scrub_result(key, fix, counts, seen) if isinstance(key, str) else key
            if new_key is not key:
                del node[key]
                node[new_key] = new
            elif new is not value:
                node[key] = new
        return node
    return node
