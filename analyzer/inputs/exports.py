"""Logs exported from a log service, turned back into the docker log lines nodediag reads.

Support engineers get logs as a Grafana/Loki download, an Elastic or Kibana CSV, a
``timestamp<TAB>message`` paste, or JSON lines whose fields are not pino's. Each row becomes
``[container | ]<RFC 3339 time> <message>`` (formats.export_line): the message is usually the
Aztec record itself, so the rules find a failure as they would in ``docker logs -t``. Rows
exported newest first are put back in time order. The converted file is written into the
input's private folder; one row per line keeps line numbers equal to the export's rows.

Recognised (by content, not by file name):
- a table with a header naming a time column and a message column (CSV, TSV, ``;`` or ``|``);
- a table without a header whose first column is a time (``timestamp<TAB>message``);
- lines that start with a time other than docker's own (``2026-11-27 10:00:00,123 message``),
  with logcli's ``{label="value", ...}`` after it;
- JSON lines, or a JSON array, of objects with a time field and a message field (any of the
  names in formats.EXPORT_*_FIELDS; Loki's ``logcli --output=jsonl``, docker's json-file log);
- Loki's query API answer (``{"data": {"result": [{"stream": {..}, "values": [[ns, line]]}]}}``).
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from pathlib import Path
from typing import Any, Literal

from nodediag.analyzer.parsing import formats as fmt

ExportKind = Literal["table", "time-tab", "time-prefixed", "json-lines", "json-array", "loki"]
MAX_EXPORT_BYTES = 512 * 2**20  # rows are held to put them in time order
_SAMPLE_LINES = 20
_DELIMITERS = ("\t", ",", ";", "|")
Row = tuple[int, str, str, str | None, str]  # (ns, docker stamp, message, level, container)


def detect_export(head: str) -> ExportKind | None:
    """What kind of export ``head`` (the file's first bytes, decoded) starts, or None when it is
    no export (a plain docker or pino log included)."""
    text = head.lstrip("\ufeff")
    stripped = text.lstrip()
    if stripped.startswith("{") and '"result"' in stripped[:4096] and '"values"' in stripped:
        if '"streams"' in stripped[:4096] or '"stream"' in stripped:
            return "loki"
    lines = [line for line in text.split("\n")[:_SAMPLE_LINES] if line.strip()]
    if not lines:
        return None
    if stripped.startswith("["):
        try:
            json.loads(stripped)
        except ValueError:
            items = None
        else:
            items = True
        if items or stripped[1:].lstrip().startswith("{"):
            return "json-array"
    if all(line.lstrip().startswith("{") for line in lines[: min(3, len(lines))]):
        sample = [_json(line) for line in lines[:-1] or lines]
        objects = [o for o in sample if isinstance(o, dict)]
        if objects and all(_fields_of(o) is not None for o in objects) and not any(_is_aztec_json(o) for o in objects):
            return "json-lines"
        return None
    first = lines[0]
    if fmt.DOCKER_TS_RE.match(first) or fmt.split_compose_prefix(first) or fmt.is_pretty_start(first):
        return None
    for delimiter in _DELIMITERS:
        header = _split(first, delimiter)
        if len(header) >= 2 and fmt.pick_field(header, fmt.EXPORT_TIME_FIELDS) is not None and \
                fmt.pick_field(header, fmt.EXPORT_MESSAGE_FIELDS) is not None:
            return "table"
    cells = [line.split("\t", 1) for line in lines[:5]]
    if all(len(c) == 2 and fmt.export_time(c[0]) is not None for c in cells):
        return "time-tab"
    if all(_time_prefixed(line) is not None for line in lines[:5]):
        return "time-prefixed"
    return None


# "2026-11-27 10:00:00,123 message", "2026-11-27T10:00:00+0000 message", and logcli's
# "2026-11-27T10:00:00Z {container="x", level="info"} message"
_TIME_PREFIX = re.compile(
    r"(\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d{1,9})?(?:Z|z| ?UTC|[+-]\d\d:?\d\d)?)[\t ]+"
    r"(?:\{((?:[A-Za-z_][\w.]*=\"(?:[^\"\\]|\\.)*\"(?:, ?)?)*)\}[\t ]+)?(.*)")
_LABEL = re.compile(r'([A-Za-z_][\w.]*)="((?:[^"\\]|\\.)*)"')


def _time_prefixed(line: str) -> tuple[tuple[int, str], dict[str, str], str] | None:
    """(time, labels, message) of a line that starts with a time other than docker's own."""
    m = _TIME_PREFIX.fullmatch(line.rstrip("\r"))
    if m is None:
        return None
    when = fmt.export_time(m.group(1))
    if when is None:
        return None
    return when, dict(_LABEL.findall(m.group(2) or "")), m.group(3)


def _json(line: str) -> Any:
    try:
        return json.loads(line)
    except ValueError:
        return None


def _is_aztec_json(obj: dict[str, Any]) -> bool:
    """pino's JSON (``level`` a number, ``msg``) or the late-2024 format: the parser reads them."""
    return fmt.json_record_fields(obj) is not None and ("msg" in obj or "module" in obj)


def _split(line: str, delimiter: str) -> list[str]:
    return next(csv.reader([line], delimiter=delimiter), [])


def _fields_of(obj: dict[str, Any]) -> tuple[str, str, str | None, str | None] | None:
    """(time key, message key, level key, container key) of an exported JSON object, or None."""
    flat = _flatten(obj)
    keys = list(flat)
    time_at = fmt.pick_field(keys, fmt.EXPORT_TIME_FIELDS)
    message_at = fmt.pick_field(keys, fmt.EXPORT_MESSAGE_FIELDS)
    if time_at is None or message_at is None:
        return None
    level_at = fmt.pick_field(keys, fmt.EXPORT_LEVEL_FIELDS)
    container_at = fmt.pick_field(keys, fmt.EXPORT_CONTAINER_FIELDS)
    return (keys[time_at], keys[message_at], keys[level_at] if level_at is not None else None,
            keys[container_at] if container_at is not None else None)


def _flatten(obj: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested objects' fields as ``a.b`` (``labels.container``), plus their last part alone."""
    flat: dict[str, Any] = {}
    for key, value in obj.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and len(prefix) < 64:
            for inner, inner_value in _flatten(value, name + ".").items():
                flat.setdefault(inner, inner_value)
                flat.setdefault(inner.rsplit(".", 1)[-1], inner_value)
        else:
            flat[name] = value
    return flat


def _row_of(obj: Any) -> Row | None:
    if not isinstance(obj, dict):
        return None
    keys = _fields_of(obj)
    if keys is None:
        return None
    flat = _flatten(obj)
    when = fmt.export_time(flat[keys[0]])
    if when is None:
        return None
    message = flat[keys[1]]
    message = message if isinstance(message, str) else json.dumps(message, separators=(",", ":"))
    level = flat.get(keys[2]) if keys[2] else None
    container = flat.get(keys[3]) if keys[3] else None
    return when[0], when[1], message, str(level) if level is not None else None, _container_name(container)


def _container_name(value: Any) -> str:
    """A container label usable as a compose prefix ("" when none)."""
    if not isinstance(value, str):
        return ""
    name = value.strip().lstrip("/")
    return name if fmt.split_compose_prefix(f"{name} | x") == (name, "x") else ""


def _label_container(cell: str) -> str:
    """The container named in a labels cell: JSON (``{"container":"x"}``) or Loki's
    ``{container="x", ...}``."""
    found = _json(cell)
    labels = _flatten(found) if isinstance(found, dict) else dict(_LABEL.findall(cell))
    return _container_name(next((labels[k] for k in fmt.EXPORT_CONTAINER_FIELDS if labels.get(k)), ""))


def _rows(kind: ExportKind, text: str) -> tuple[list[Row], int]:
    """The rows of an export, and how many lines could not be read as rows."""
    rows: list[Row] = []
    bad = 0
    if kind == "loki":
        data = json.loads(text)
        result = (data.get("data") or {}).get("result") if isinstance(data, dict) else None
        for stream in result or []:
            labels = stream.get("stream") or {} if isinstance(stream, dict) else {}
            container = _container_name(next((labels.get(k) for k in fmt.EXPORT_CONTAINER_FIELDS if labels.get(k)), ""))
            level = next((labels.get(k) for k in fmt.EXPORT_LEVEL_FIELDS if labels.get(k)), None)
            for value in stream.get("values") or [] if isinstance(stream, dict) else []:
                when = fmt.export_time(value[0]) if isinstance(value, list) and len(value) >= 2 else None
                if when is None or not isinstance(value[1], str):
                    bad += 1
                    continue
                rows.append((when[0], when[1], value[1], level, container))
        return rows, bad
    if kind == "json-array":
        items = json.loads(text)
        for item in items if isinstance(items, list) else []:
            row = _row_of(item)
            if row is None:
                bad += 1
            else:
                rows.append(row)
        return rows, bad
    if kind == "json-lines":
        for line in text.split("\n"):
            if not line.strip():
                continue
            row = _row_of(_json(line))
            if row is None:
                bad += 1
            else:
                rows.append(row)
        return rows, bad
    if kind == "time-tab":
        for line in text.split("\n"):
            if not line.strip():
                continue
            cells = line.split("\t", 1)
            when = fmt.export_time(cells[0]) if len(cells) == 2 else None
            if when is None:
                bad += 1
                continue
            rows.append((when[0], when[1], cells[1], None, ""))
        return rows, bad
    if kind == "time-prefixed":
        for line in text.split("\n"):
            if not line.strip():
                continue
            found = _time_prefixed(line)
            if found is None:
                bad += 1
                continue
            (nanos, stamp), labels, message = found
            container = _container_name(next((labels[k] for k in fmt.EXPORT_CONTAINER_FIELDS if labels.get(k)), ""))
            level = next((labels[k] for k in fmt.EXPORT_LEVEL_FIELDS if labels.get(k)), None)
            rows.append((nanos, stamp, message, level, container))
        return rows, bad
    first = text.split("\n", 1)[0].lstrip("\ufeff")
    delimiter = next(d for d in _DELIMITERS if (h := _split(first, d)) and len(h) >= 2 and
                     fmt.pick_field(h, fmt.EXPORT_TIME_FIELDS) is not None and
                     fmt.pick_field(h, fmt.EXPORT_MESSAGE_FIELDS) is not None)
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")), delimiter=delimiter)
    header = next(reader)
    time_at = fmt.pick_field(header, fmt.EXPORT_TIME_FIELDS)
    message_at = fmt.pick_field(header, fmt.EXPORT_MESSAGE_FIELDS)
    level_at = fmt.pick_field(header, fmt.EXPORT_LEVEL_FIELDS)
    container_at = fmt.pick_field(header, fmt.EXPORT_CONTAINER_FIELDS)
    labels_at = fmt.pick_field(header, ("labels", "stream", "__labels"))
    for cells in reader:
        if not cells:
            continue
        try:
            when = fmt.export_time(cells[time_at])  # type: ignore[index]
            message = cells[message_at]  # type: ignore[index]
        except IndexError:
            bad += 1
            continue
        if when is None:
            bad += 1
            continue
        level = cells[level_at] if level_at is not None and level_at < len(cells) else None
        named = container_at is not None and container_at < len(cells)
        container = _container_name(cells[container_at]) if named else ""  # type: ignore[index]
        if not container and labels_at is not None and labels_at < len(cells):
            container = _label_container(cells[labels_at])
        rows.append((when[0], when[1], message, level, container))
    return rows, bad


KIND_NAMES = {"table": "a table exported from a log service", "time-tab": "timestamp<TAB>message lines",
              "time-prefixed": "lines exported with a time in front (logcli, Kibana)",
              "json-lines": "JSON lines exported from a log service", "json-array": "a JSON export of log lines",
              "loki": "a Loki query result"}


def convert_export(source: Path, kind: ExportKind, target: Path) -> tuple[int, list[str]]:
    """Write the rows of the export ``source`` to ``target`` as docker log lines, in time order.
    Return (rows written, warnings for the user)."""
    text = source.read_bytes().decode("utf-8", "replace")
    try:
        rows, bad = _rows(kind, text)
    except (ValueError, StopIteration, csv.Error) as exc:
        raise ValueError(f"looks like {KIND_NAMES[kind]} but cannot be read: {exc}") from None
    if not rows:
        raise ValueError(f"looks like {KIND_NAMES[kind]} but holds no row with a time and a message")
    reordered = any(rows[i][0] > rows[i + 1][0] for i in range(len(rows) - 1))
    if reordered:
        rows.sort(key=lambda row: row[0])  # (stable: rows of one time keep their order)
    header = kind == "table"
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as out:
        if header:
            out.write("\n")  # the header's line: rows keep their line numbers
        for _, stamp, message, level, container in rows:
            out.write("\n".join(fmt.export_line(stamp, message, level, container)) + "\n")
    warnings = [f"{source.name} was read as {KIND_NAMES[kind]} ({len(rows)} rows"
                + (", put back in time order" if reordered else "") + "); evidence cites "
                f"{target.name}, the rows as docker log lines"]
    if bad:
        warnings.append(f"{source.name}: {bad} row(s) without a readable time or message were skipped")
    return len(rows), warnings
