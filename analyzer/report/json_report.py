"""The JSON report: every field of an AnalysisResult, in the schema of docs/report-json-schema.md.

``result_to_dict`` and ``result_from_dict`` are inverses, so a saved JSON report can be rendered
again as HTML or Markdown later.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from datetime import datetime
from pathlib import Path, PurePath
from typing import Any

from nodediag.analyzer.model import AnalysisResult
from nodediag.analyzer.report.formatting import iso_z, parse_iso, utc

SCHEMA = "nodediag-report"
SCHEMA_VERSION = 1


class ReportSchemaError(ValueError):
    """A JSON document that is not a nodediag report this version can read."""


def _iso_exact(moment: datetime) -> str:
    """ISO 8601 UTC ``Z``; milliseconds when present, microseconds only when they matter."""
    moment = utc(moment)
    if moment.microsecond % 1000:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%f") + "Z"
    return iso_z(moment) or ""


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return _iso_exact(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _encode(getattr(value, f.name)) for f in dataclasses.fields(value)
                if f.metadata.get("report", True)}
    if isinstance(value, dict):
        return {str(k): _encode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_encode(v) for v in value]
    if isinstance(value, PurePath):
        return str(value)
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def result_to_dict(result: AnalysisResult) -> dict[str, Any]:
    body = _encode(result)
    window = result.incident_window
    body["incident_window"] = (
        None if window is None else {"start": _iso_exact(window[0]), "end": _iso_exact(window[1])}
    )
    body["level_series"] = {
        container: [{"minute": _iso_exact(minute), "counts": dict(counts)} for minute, counts in rows]
        for container, rows in result.level_series.items()
    }
    ordered: dict[str, Any] = {"schema": SCHEMA, "schema_version": SCHEMA_VERSION}
    for key in ("tool_version", "analyzed_at", "verdict", "input", "findings", "incident_window",
                "timeline", "facts", "parse_stats", "level_series"):
        ordered[key] = body.pop(key)
    ordered.update(body)  # any field a later model adds still appears
    return ordered


def render_json(result: AnalysisResult) -> str:
    """The JSON report text (UTF-8, non-ASCII kept, two-space indent, trailing newline)."""
    return json.dumps(result_to_dict(result), indent=2, ensure_ascii=False) + "\n"


def _decode(value: Any, hint: Any) -> Any:
    if value is None:
        return None
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = [h for h in typing.get_args(hint) if h is not type(None)]
        return _decode(value, options[0]) if len(options) == 1 else value
    if hint is datetime:
        moment = parse_iso(value)
        if moment is None:
            raise ReportSchemaError(f"not an ISO 8601 time: {value!r}")
        return moment
    if dataclasses.is_dataclass(hint):
        return _decode_dataclass(value, hint)
    if origin is list:
        (item,) = typing.get_args(hint)
        return [_decode(v, item) for v in value]
    if origin is tuple:
        args = typing.get_args(hint)
        return tuple(_decode(v, a) for v, a in zip(value, args, strict=False))
    if origin is dict:
        _, item = typing.get_args(hint)
        return {k: _decode(v, item) for k, v in value.items()}
    return value


def _decode_dataclass(data: Any, cls: Any) -> Any:
    if not isinstance(data, dict):
        raise ReportSchemaError(f"expected an object for {cls.__name__}, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name in data:
            kwargs[f.name] = _decode(data[f.name], hints[f.name])
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ReportSchemaError(f"{cls.__name__}: {exc}") from None


def result_from_dict(data: dict[str, Any]) -> AnalysisResult:
    """Read back a JSON report; raises ReportSchemaError for another schema or a newer version."""
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise ReportSchemaError(f"not a nodediag report (schema {data.get('schema')!r})"
                                if isinstance(data, dict) else "not a nodediag report")
    version = data.get("schema_version")
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise ReportSchemaError(
            f"report schema version {version!r} is newer than this nodediag reads ({SCHEMA_VERSION})"
        )
    body = dict(data)
    window = body.pop("incident_window", None)
    series = body.pop("level_series", None) or {}
    result: AnalysisResult = _decode_dataclass(
        {k: v for k, v in body.items() if k not in ("schema", "schema_version")}
        | {"incident_window": None, "level_series": {}},
        AnalysisResult,
    )
    if window is not None:
        result.incident_window = (_decode(window["start"], datetime), _decode(window["end"], datetime))
    result.level_series = {
        container: [(_decode(row["minute"], datetime), dict(row["counts"])) for row in rows]
        for container, rows in series.items()
    }
    if isinstance(result.input.root, str):
        result.input.root = Path(result.input.root)
    return result


def result_from_json(text: str) -> AnalysisResult:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReportSchemaError(f"not JSON: {exc}") from None
    return result_from_dict(data)
