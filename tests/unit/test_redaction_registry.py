"""A shape is registered together with its gate, in one place: half a registration fails loudly."""

from __future__ import annotations

import pytest

from nodediag.redaction import RedactionCounts, Redactor, gates
from nodediag.redaction.shapes import SHAPES, Shape, ShapeRegistrationError, register_shape


def test_a_shape_without_gate_openings_is_refused() -> None:
    scratch: list[Shape] = []
    with pytest.raises(ShapeRegistrationError, match="gate openings"):
        register_shape("new_kind", r"nk_[a-z0-9]{20}", openings=(), examples=("nk_abcdefghij0123456789",),
                       registry=scratch)
    assert scratch == []


def test_a_shape_whose_example_the_gate_would_skip_is_refused() -> None:
    with pytest.raises(ShapeRegistrationError, match="gate would skip"):
        register_shape("new_kind", r"nk_[a-z0-9]{20}", openings=("zz_",), examples=("nk_abcdefghij0123456789",),
                       registry=[])
    with pytest.raises(ShapeRegistrationError, match="does not match"):
        register_shape("new_kind", r"nk_[a-z0-9]{20}", openings=("nk_",), examples=("nk_short",), registry=[])
    with pytest.raises(ShapeRegistrationError, match="lower-case"):
        register_shape("new_kind", r"NK_[a-z0-9]{20}", openings=("NK_",), examples=("NK_abcdefghij0123456789",),
                       registry=[])


def test_every_registered_shape_is_gated_and_found_in_a_log() -> None:
    assert {s.kind for s in SHAPES} <= set(gates.SHAPE_OPENINGS)
    for shape in SHAPES:
        assert set(shape.openings) <= set(gates.SHAPE_OPENINGS[shape.kind])
        for example in shape.examples:
            # a block big enough to take the gated path, with the shape once in the middle
            filler = "2026-11-27T18:30:00Z [18:30:00.000] INFO: archiver Downloaded L2 block 1234\n" * 200
            out = Redactor(b"k" * 32).stream(RedactionCounts()).feed(filler + f"value {example} here\n" + filler)
            assert example not in out, shape.kind
            assert f"[REDACTED:{shape.kind}#" in out
