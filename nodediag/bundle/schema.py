"""Untrusted JSON read once, checked against a schema, and refused in one line naming file and field.

``load_json`` parses with bounds (size, nesting depth, no NaN/Infinity, no integer beyond 64 bits)
and ``check`` walks a small declarative schema: ``Obj`` (known keys with their specs, unknown keys
ignored, as the bundle format promises), ``ListOf``, ``MapOf``, ``OneOf`` (a fixed set of values)
and ``AnyOf``; the leaves ``STR``, ``INT``, ``NUM``, ``BOOL``, ``NULL`` and ``ANY``. A value that
does not fit raises SchemaError whose message names the file and the field path
(``manifest.json: files[3].size is a string, expected an integer``).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from nodediag.bundle.limits import DEFAULT_LIMITS, Limits

_INT_LIMIT = 1 << 64  # sizes and byte counts fit in 64 bits; a larger integer is hostile
_MAX_CONTAINERS = 1_000_000  # objects and lists in one document: bounds the memory a parse can take


class SchemaError(ValueError):
    """A JSON file does not fit its schema (or is not JSON): one line naming the file and field."""


@dataclass(frozen=True)
class Leaf:
    name: str  # for messages: "a string", "an integer", ...


STR = Leaf("a string")
INT = Leaf("an integer")
NUM = Leaf("a number")
BOOL = Leaf("true or false")
NULL = Leaf("null")
ANY = Leaf("anything")


@dataclass(frozen=True)
class Obj:
    fields: dict[str, Spec]
    required: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True)
class ListOf:
    item: Spec
    max_items: int | None = None  # a longer list is refused (it would flood a report)


@dataclass(frozen=True)
class MapOf:
    value: Spec


@dataclass(frozen=True)
class OneOf:
    values: tuple[str, ...]


@dataclass(frozen=True)
class IntRange:
    """An integer (never a boolean) from ``low`` to ``high``."""

    low: int
    high: int


@dataclass(frozen=True)
class AnyOf:
    options: tuple[Spec, ...]


Spec = Leaf | Obj | ListOf | MapOf | OneOf | IntRange | AnyOf


def optional(spec: Spec) -> AnyOf:
    """``spec`` or null."""
    return AnyOf((spec, NULL))


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _describe(spec: Spec) -> str:
    if isinstance(spec, Leaf):
        return spec.name
    if isinstance(spec, Obj):
        return "an object"
    if isinstance(spec, ListOf):
        return "a list"
    if isinstance(spec, MapOf):
        return "an object"
    if isinstance(spec, OneOf):
        return "one of " + ", ".join(repr(v) for v in spec.values)
    if isinstance(spec, IntRange):
        return f"an integer from {spec.low} to {spec.high}"
    return " or ".join(_describe(option) for option in spec.options)


def _same_shape(value: object, spec: Spec) -> bool:
    """True when ``value`` is the container ``spec`` describes (an object for Obj/MapOf, a list for
    ListOf), so that its problems lie inside it."""
    if isinstance(spec, (Obj, MapOf)):
        return isinstance(value, dict)
    if isinstance(spec, ListOf):
        return isinstance(value, list)
    return False


def _fits_leaf(value: object, leaf: Leaf) -> bool:
    if leaf is ANY:
        return True
    if leaf is NULL:
        return value is None
    if leaf is BOOL:
        return isinstance(value, bool)
    if leaf is STR:
        return isinstance(value, str)
    if isinstance(value, bool):
        return False
    if leaf is INT:
        return isinstance(value, int)
    return isinstance(value, (int, float)) and (not isinstance(value, float) or math.isfinite(value))


def _field(where: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{where}[{key}]"
    return f"{where}.{key}" if where else key


def check(value: object, spec: Spec, where: str = "") -> list[str]:
    """The problems of ``value`` against ``spec`` (empty when it fits), each naming its field."""
    problems: list[str] = []
    stack: list[tuple[object, Spec, str]] = [(value, spec, where)]
    while stack and len(problems) < 20:
        current, current_spec, at = stack.pop()
        if isinstance(current_spec, AnyOf):
            results = [check(current, option, at) for option in current_spec.options]
            if all(results):
                # the one option of the value's own shape (an object, a list) says best what is wrong inside
                shaped = [r for option, r in zip(current_spec.options, results, strict=True)
                          if _same_shape(current, option)]
                problems.extend(shaped[0] if len(shaped) == 1 else
                                [f"{at or 'the top level'} is {_kind(current)}, expected {_describe(current_spec)}"])
            continue
        if isinstance(current_spec, Leaf):
            if not _fits_leaf(current, current_spec):
                problems.append(f"{at or 'the top level'} is {_kind(current)}, expected {current_spec.name}")
            continue
        if isinstance(current_spec, OneOf):
            if current not in current_spec.values:
                shown = repr(current)[:40] if isinstance(current, str) else _kind(current)
                problems.append(f"{at or 'the top level'} is {shown}, expected {_describe(current_spec)}")
            continue
        if isinstance(current_spec, IntRange):
            if isinstance(current, bool) or not isinstance(current, int) \
                    or not current_spec.low <= current <= current_spec.high:
                shown = str(current) if isinstance(current, int) and not isinstance(current, bool) else _kind(current)
                problems.append(f"{at or 'the top level'} is {shown[:30]}, expected {_describe(current_spec)}")
            continue
        if isinstance(current_spec, ListOf):
            if not isinstance(current, list):
                problems.append(f"{at or 'the top level'} is {_kind(current)}, expected a list")
                continue
            if current_spec.max_items is not None and len(current) > current_spec.max_items:
                problems.append(f"{at or 'the top level'} holds {len(current):,} items, more than the "
                                f"{current_spec.max_items:,} it can plausibly have")
                continue
            stack.extend((item, current_spec.item, _field(at, n)) for n, item in reversed(list(enumerate(current))))
            continue
        if not isinstance(current, dict):
            problems.append(f"{at or 'the top level'} is {_kind(current)}, expected an object")
            continue
        if isinstance(current_spec, MapOf):
            stack.extend((item, current_spec.value, _field(at, str(key))) for key, item in current.items())
            continue
        for key in sorted(current_spec.required - current.keys()):
            problems.append(f"{_field(at, key)} is missing")
        for key, sub in reversed(list(current_spec.fields.items())):
            if key in current:
                stack.append((current[key], sub, _field(at, key)))
    return problems


def _refuse_constant(name: str) -> float:
    raise ValueError(f"holds {name}, which is not a JSON number")


def _bounded_int(text: str) -> int:
    if len(text) > 21:
        raise ValueError(f"holds an integer of {len(text)} digits")
    number = int(text)
    if abs(number) >= _INT_LIMIT:
        raise ValueError("holds an integer beyond 64 bits")
    return number


def _bounded_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"holds the number {text[:30]}, which is out of range")
    return number


def json_depth_exceeds(text: str | bytes, max_depth: int) -> bool:
    """True when brackets nest deeper than ``max_depth`` (strings skipped), found without parsing."""
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    if data.count(b"[") + data.count(b"{") <= max_depth:
        return False
    depth = 0
    in_string = escaped = False
    for byte in data:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:
                escaped = True
            elif byte == 0x22:
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):
            depth += 1
            if depth > max_depth:
                return True
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return False


def load_json(data: bytes | str, name: str, limits: Limits = DEFAULT_LIMITS) -> Any:
    """Parse untrusted JSON ``data`` (the file ``name``) within ``limits``; SchemaError otherwise."""
    if len(data) > limits.max_json_bytes:
        raise SchemaError(f"{name} is {len(data):,} bytes, more than the --max-json-bytes cap of "
                          f"{limits.max_json_bytes:,}: if the bundle is genuine, raise the cap")
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    if raw.count(b"{") + raw.count(b"[") > _MAX_CONTAINERS:
        raise SchemaError(f"{name} holds more than {_MAX_CONTAINERS:,} objects and lists (hostile or corrupt): "
                          "refused")
    if json_depth_exceeds(data, limits.max_json_depth):
        raise SchemaError(f"{name} nests deeper than {limits.max_json_depth} levels (hostile or corrupt): refused")
    try:
        return json.loads(data, parse_constant=_refuse_constant, parse_int=_bounded_int, parse_float=_bounded_float)
    except RecursionError:
        raise SchemaError(f"{name} nests too deeply (hostile or corrupt): refused") from None
    except json.JSONDecodeError as exc:
        raise SchemaError(f"{name} is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise SchemaError(f"{name} is not usable JSON: it {exc}") from None


def load_checked(data: bytes | str, name: str, spec: Spec, limits: Limits = DEFAULT_LIMITS) -> Any:
    """``load_json`` then ``check``: the value, or SchemaError naming the file and the first bad field."""
    value = load_json(data, name, limits)
    problems = check(value, spec)
    if problems:
        more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
        raise SchemaError(f"{name}: {problems[0]}{more}")
    return value
