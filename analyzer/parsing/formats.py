"""Recognizers for single log lines: what each Aztec log format looks like.

Every function here looks at one physical line (or the part of it left after the compose
prefix and the docker timestamp) and says what it is. Grouping lines into records (stacks,
V8 blocks, compose interleaving) is done in ``nodediag.analyzer.parsing.logs``.

Formats (see shared/domain/aztec-prover.md, "Log format"):
- pino pretty: ``[HH:MM:SS.mmm] LEVEL: module[ actor][ instanceId] message[ {json}]``
- pino JSON (``LOG_JSON=1``): ``{"level":30,"time":<ms>,"module":..,"msg":..}``
- mid-2024: ``2024-08-12T15:35:21.349Z aztec:<module> [INFO] msg k=v``
- late-2024 JSON: ``{"level":"info","message":..,"module":"aztec:..","timestamp":..}``
- raw Node/V8 output and native ``bb`` output.
"""

from __future__ import annotations

import json
import json.scanner
import re
from typing import Any, cast

from nodediag.log_lines import DOCKER_TS_RE, is_pretty_start, strip_ansi

# --- levels -----------------------------------------------------------------------------

LEVEL_BY_NAME = {
    "TRACE": "TRACE",
    "DEBUG": "DEBUG",
    "VERBOSE": "VERBOSE",
    "INFO": "INFO",
    "WARN": "WARN",
    "WARNING": "WARN",
    "ERROR": "ERROR",
    "ERR": "ERROR",
    "FATAL": "FATAL",
    "CRITICAL": "FATAL",
}
PINO_LEVELS = {10: "TRACE", 20: "DEBUG", 25: "VERBOSE", 30: "INFO", 40: "WARN", 50: "ERROR", 60: "FATAL"}


def level_from_number(value: int) -> str | None:
    """pino's numeric level -> canonical name; in-between numbers round down to a known level."""
    name = PINO_LEVELS.get(value)
    if name is not None:
        return name
    if value < 10:
        return None
    for threshold in (60, 50, 40, 30, 25, 20, 10):
        if value >= threshold:
            return PINO_LEVELS[threshold]
    return None


def level_from_name(value: Any) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return level_from_number(value)
    if isinstance(value, str):
        return LEVEL_BY_NAME.get(value.upper())
    return None


# --- ANSI, docker timestamps, compose prefixes --------------------------------------------

# strip_ansi, DOCKER_TS_RE and is_pretty_start live in nodediag/log_lines.py (imported above):
# `nodediag redact` dates the guide's logs with them.

# `docker compose logs`: "service-1  | " (name padded with spaces). The name may be followed by
# nothing but padding; compose v1 names use underscores (project_service_1).
_COMPOSE_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_COMPOSE_EXIT_RE = re.compile(r"([A-Za-z0-9][A-Za-z0-9_.-]*) exited with code (\d+)$")


def split_compose_prefix(line: str) -> tuple[str, str] | None:
    """``"prover-node-1  | text"`` -> ``("prover-node-1", "text")``; None without a prefix."""
    bar = line.find("|", 1, 96)
    if bar < 2 or line[bar - 1] != " ":
        return None
    name = line[:bar].rstrip(" ")
    if not name or not _COMPOSE_NAME_RE.fullmatch(name):
        return None
    rest = line[bar + 1 :]
    if rest.startswith(" "):
        rest = rest[1:]
    return name, rest


def compose_exit(line: str) -> tuple[str, int] | None:
    """Compose's own ``prover-node-1 exited with code 137`` line."""
    m = _COMPOSE_EXIT_RE.match(line)
    if m is None:
        return None
    return m.group(1), int(m.group(2))


# --- pino pretty ----------------------------------------------------------------------------

# The common line in one match: optional docker timestamp ('Z' form), pino time of day, level,
# and the module when the first word looks like one. Groups: second, fraction, hms, ms, level, module.
PRETTY_LINE_RE = re.compile(
    r"(?:(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?Z )?"
    r"\[(\d\d:\d\d:\d\d)\.(\d{3})\] ([A-Z]{4,7}): ?"
    r"(?:([a-z0-9][a-z0-9_.-]*(?::[a-z0-9][a-z0-9_.-]*)*)(?: |$))?"
)

# Used to find a second record glued onto a line: "...message[12:00:01.000] INFO: module next".
GLUED_PRETTY_RE = re.compile(r"\[\d\d:\d\d:\d\d\.\d{3}\] [A-Z]{4,7}: ")

# module: lowercase segments joined by ':'; segments may carry digits, '-', '_', '.'.
_MODULE_RE = re.compile(r"[a-z0-9][a-z0-9_.-]*(?::[a-z0-9][a-z0-9_.-]*)*")
# actor / instanceId bindings as Aztec sets them: "prover-1", "node-0", "HA-2", "MAIN".
_BINDING_RE = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[-_][A-Za-z0-9]+)*[-_]\d+|MAIN")
_MODULE_CACHE: dict[str, bool] = {}


def is_module_name(token: str) -> bool:
    known = _MODULE_CACHE.get(token)
    if known is None:
        known = _MODULE_RE.fullmatch(token) is not None
        if len(_MODULE_CACHE) > 20000:  # job-controller-<hex> modules are unique per job
            _MODULE_CACHE.clear()
        _MODULE_CACHE[token] = known
    return known


def split_pretty_head(body: str) -> tuple[str, str, str] | None:
    """``[18:30:00.123] INFO: rest`` -> ``("18:30:00.123", "INFO", "rest")``."""
    if not is_pretty_start(body):
        return None
    colon = body.find(":", 16, 26)
    if colon < 0:
        return None
    label = body[15:colon]
    if not label.isupper() or not label.isalpha():
        return None
    rest = body[colon + 1 :]
    if rest.startswith(" "):
        rest = rest[1:]
    return body[1:13], label, rest


def split_module(rest: str) -> tuple[str | None, str, dict[str, str] | None]:
    """``"module actor instanceId message"`` -> (module, message, {"actor": .., "instanceId": ..})."""
    space = rest.find(" ")
    token = rest if space < 0 else rest[:space]
    if not token or not is_module_name(token):
        return None, rest, None
    if space < 0:
        return token, "", None
    message, bindings = split_bindings(rest[space + 1 :])
    return token, message, bindings


# The C scanner behind json.loads, without its per-call Python wrapper: (obj, end) or StopIteration.
_scan_json = json.scanner.make_scanner(cast(Any, json.JSONDecoder()))  # typeshed types the argument oddly


def _json_object_at(text: str, start: int) -> dict[str, Any] | None:
    """The JSON object spanning text[start:] exactly, or None."""
    try:
        value, end = _scan_json(text, start)
    except (StopIteration, ValueError, RecursionError):
        return None
    if end != len(text) or not isinstance(value, dict):
        return None
    return value


def json_object_at(text: str) -> dict[str, Any] | None:
    """The JSON object that is ``text`` exactly, or None (as ``split_json_objects`` reads a whole line)."""
    return _json_object_at(text, 0)


def split_bindings(message: str) -> tuple[str, dict[str, str] | None]:
    """Leading actor / instanceId tokens of a pino pretty message (after its module)."""
    bindings: dict[str, str] | None = None
    for key in ("actor", "instanceId"):
        nxt = message.find(" ")
        if nxt < 1:
            break
        candidate = message[:nxt]
        if not (candidate[-1].isdigit() or candidate == "MAIN") or not _BINDING_RE.fullmatch(candidate):
            break
        if bindings is None:
            bindings = {}
        bindings[key] = candidate
        message = message[nxt + 1 :]
    return message, bindings


def split_trailing_json(text: str) -> tuple[str, dict[str, Any] | None]:
    """``'msg {"k":1}'`` -> ``('msg', {"k": 1})``; the text unchanged when no JSON object ends it."""
    if not text.endswith("}"):
        return text, None
    if text.startswith('{"'):
        value = _json_object_at(text, 0)
        if value is not None:
            return "", value
    start = text.find(' {"')
    tries = 0
    while start >= 0 and tries < 4:
        tries += 1
        value = _json_object_at(text, start + 1)
        if value is not None:
            return text[:start], value
        start = text.find(' {"', start + 3)
    return text, None


# --- JSON formats -----------------------------------------------------------------------------

_JSON_DECODER = json.JSONDecoder()
_GLUED_JSON_RE = re.compile(r'\{"(?:level|time|msg|message|module)":')


def split_json_objects(body: str) -> list[tuple[dict[str, Any] | None, str]]:
    """Decode one JSON object per record; ``}{"level":..`` glued objects give several.

    Each item is (object or None when that piece does not decode, the piece of text)."""
    whole = _json_object_at(body, 0)
    if whole is not None:
        return [(whole, body)]
    pieces: list[tuple[dict[str, Any] | None, str]] = []
    pos = 0
    end = len(body)
    while pos < end:
        try:
            value, stop = _JSON_DECODER.raw_decode(body, pos)
        except (ValueError, RecursionError):  # (a record nested deeper than Python recurses)
            nxt = _GLUED_JSON_RE.search(body, pos + 1)
            cut = nxt.start() if nxt else end
            pieces.append((None, body[pos:cut]))
            pos = cut
            continue
        piece = body[pos:stop]
        pieces.append((value if isinstance(value, dict) else None, piece))
        pos = stop
        while pos < end and body[pos] in " \t":
            pos += 1
        if pos < end and body[pos] != "{":
            nxt = _GLUED_JSON_RE.search(body, pos)
            cut = nxt.start() if nxt else end
            pieces.append((None, body[pos:cut]))
            pos = cut
    return pieces


_PINO_JSON_SKIP = frozenset(("level", "time", "msg", "module"))
_JSON_2024_SKIP = frozenset(("level", "message", "module", "timestamp"))


def _without(obj: dict[str, Any], keys: frozenset[str]) -> dict[str, Any]:
    """A copy of ``obj`` without ``keys``, in its order (a copy and a few pops: cheaper than a
    comprehension over every key)."""
    data = obj.copy()
    for key in keys:
        data.pop(key, None)
    return data


def strip_aztec_prefix(module: Any) -> str | None:
    if not isinstance(module, str) or not module:
        return None
    return module[6:] if module.startswith("aztec:") else module


def json_record_fields(obj: dict[str, Any]) -> dict[str, Any] | None:
    """A decoded JSON log object -> the Record fields it carries, or None when it is no log.

    Returns keys: kind, level, module, message, stack, data, epoch_ms (pino) / timestamp (2024)."""
    level = obj.get("level")
    if isinstance(level, int) and not isinstance(level, bool):
        msg = obj.get("msg", "")
        if not isinstance(msg, str):
            msg = json.dumps(msg, separators=(",", ":"))
        message, _, tail = msg.partition("\n")
        time_value = obj.get("time")
        return {
            "kind": "pino-json",
            "level": level_from_number(level),
            "module": strip_aztec_prefix(obj.get("module")),
            "message": message,
            "stack": tail.split("\n") if tail else [],
            "data": _without(obj, _PINO_JSON_SKIP),
            "epoch_ms": time_value if isinstance(time_value, (int, float)) else None,
            "timestamp": None,
        }
    if isinstance(level, str) and ("message" in obj or "timestamp" in obj):
        msg = obj.get("message", "")
        if not isinstance(msg, str):
            msg = json.dumps(msg, separators=(",", ":"))
        message, _, tail = msg.partition("\n")
        stamp = obj.get("timestamp")
        return {
            "kind": "json-2024",
            "level": level_from_name(level),
            "module": strip_aztec_prefix(obj.get("module")),
            "message": message,
            "stack": tail.split("\n") if tail else [],
            "data": _without(obj, _JSON_2024_SKIP),
            "epoch_ms": None,
            "timestamp": stamp if isinstance(stamp, str) else None,
        }
    return None


# --- mid-2024 text format ---------------------------------------------------------------------

_AZTEC_2024_RE = re.compile(r"(aztec:[^\s\[]*|[a-z][\w.:-]*) \[([A-Za-z]+)\] ?(.*)", re.S)
_KV_RE = re.compile(r"[A-Za-z_][\w.]*=\S*")


def parse_aztec_2024(rest: str) -> tuple[str | None, str, str, dict[str, str]] | None:
    """``aztec:archiver [INFO] msg k=v`` (after its timestamp) -> (module, level, message, data)."""
    m = _AZTEC_2024_RE.match(rest)
    if m is None:
        return None
    level = LEVEL_BY_NAME.get(m.group(2).upper())
    if level is None:
        return None
    message = m.group(3)
    data: dict[str, str] = {}
    words = message.split(" ")
    keep = len(words)
    while keep > 1 and _KV_RE.fullmatch(words[keep - 1]):
        keep -= 1
    for word in words[keep:]:
        key, _, value = word.partition("=")
        data[key] = value
    if data:
        message = " ".join(words[:keep])
    return strip_aztec_prefix(m.group(1)), level, message, data


# --- raw Node / V8 / bb output ----------------------------------------------------------------

# V8 out-of-memory and fatal-error blocks. Each opens a "node-fatal" group that absorbs the
# block's following lines (GC trace, JS stacktrace marker, native stack trace).
V8_BLOCK_STARTS = ("<--- Last few GCs --->", "<--- JS stacktrace --->", "# Fatal error in")
V8_FATAL_PREFIX = "FATAL ERROR:"
# An uncaught exception: Node prints the throwing source line, a caret, the error, its stack
# and "Node.js vX". The block is grouped from its first line to "Node.js vX".
_UNCAUGHT_START_RE = re.compile(
    r"(?:node:internal/\S+|file:///\S+|/\S+\.[cm]?js):\d+$|Uncaught |\S*triggerUncaughtException\("
)
NODE_VERSION_PREFIX = "Node.js v"
# Native output that is known, though not a log record (bb prover, C++ runtime, the shell).
KNOWN_NATIVE_PREFIXES = (
    "terminate called",
    "Aborted",
    "Segmentation fault",
    "Killed",
    "bb:",
    "bb ",
    "Assertion failed",
    "what():",
    "(node:",  # Node warnings: "(node:1) Warning: ..."
)


def raw_kind(body: str) -> str:
    """What a line that starts no log record is: 'v8' (opens a node-fatal block), 'v8-fatal'
    (the FATAL ERROR line), 'uncaught' (opens an uncaught-exception block), 'known' or 'unknown'."""
    first = body[:1]
    if first == "<" or first == "#":
        if body.startswith(V8_BLOCK_STARTS):
            return "v8"
    elif first == "F" and body.startswith(V8_FATAL_PREFIX):
        return "v8-fatal"
    if _UNCAUGHT_START_RE.match(body):
        return "uncaught"
    if body.startswith(KNOWN_NATIVE_PREFIXES):
        return "known"
    return "unknown"


# --- rows exported from a log service (Grafana/Loki, Elastic, a CSV/TSV table) ----------------
# Read by ``nodediag.analyzer.inputs.exports``, which turns each row back into a docker log line.

EXPORT_TIME_FIELDS = ("timestamp", "time", "ts", "@timestamp", "_time", "date", "datetime", "timestamp_ns",
                      "tsns", "time_unix_nano", "t", "eventtime", "logtime", "created")
EXPORT_MESSAGE_FIELDS = ("line", "log", "message", "msg", "_raw", "body", "content", "text", "_msg", "event",
                         "log.original", "event.original")
EXPORT_LEVEL_FIELDS = ("level", "severity", "lvl", "detected_level", "loglevel", "log.level", "severity_text",
                       "levelname")
EXPORT_CONTAINER_FIELDS = ("container", "container_name", "service", "service_name", "compose_service",
                           "container.name", "app", "pod", "source")

_EXPORT_TIME_RE = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(?:[.,](\d{1,9}))?\s*(Z|z|UTC|[+-]\d\d:?\d\d)?$")
_EPOCH_RE = re.compile(r"\d{9,19}(?:\.\d+)?$")


def export_time(value: Any) -> tuple[int, str] | None:
    """A timestamp cell as exported by a log service -> (nanoseconds since the epoch, the docker
    form ``YYYY-MM-DDTHH:MM:SS.fffffffffZ``); None when it is no timestamp. Accepts RFC 3339 with
    ``T`` or a space, a ``Z``, ``UTC`` or an offset (none: UTC), and epoch seconds, ms, µs or ns."""
    from datetime import datetime, timedelta, timezone

    if isinstance(value, bool):
        return None
    text = str(value).strip().strip('"')
    nanos: int | None = None
    m = _EXPORT_TIME_RE.match(text)
    if m:
        year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
        frac = (m.group(7) or "").ljust(9, "0")[:9]
        try:
            base = datetime(year, month, day, hour, minute, second, tzinfo=timezone.utc)
        except ValueError:
            return None
        zone = m.group(8) or "Z"
        if zone[0] in "+-":
            digits = zone[1:].replace(":", "")
            shift = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
            base = base - shift if zone[0] == "+" else base + shift
        nanos = int(base.timestamp()) * 10**9 + int(frac)
    elif _EPOCH_RE.match(text):
        whole, _, fraction = text.partition(".")
        digits = len(whole)  # seconds, ms, µs or ns, by length
        if digits <= 10:
            scale = 10**9
        elif digits <= 13:
            scale = 10**6
        elif digits <= 16:
            scale = 10**3
        else:
            scale = 1
        nanos = int(whole) * scale + (int(float("0." + fraction) * scale) if fraction else 0)
    if nanos is None or not 0 < nanos < 4102444800 * 10**9:  # up to 2100
        return None
    seconds, rest = divmod(nanos, 10**9)
    stamp = datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    return nanos, f"{stamp}.{rest:09d}Z"


def pick_field(names: list[str], wanted: tuple[str, ...]) -> int | None:
    """The index of the first of ``names`` (case-insensitive) that is one of ``wanted`` (in the
    order of ``wanted``), or None."""
    lowered = [n.strip().strip('"').lower() for n in names]
    for want in wanted:
        if want in lowered:
            return lowered.index(want)
    return None


def export_line(stamp: str, message: str, level: str | None = None, container: str = "") -> list[str]:
    """A docker log line (or several, one per line of a multi-line message) for an exported row:
    ``[container | ]<stamp> <message>``. A message that is not itself an Aztec record but has a
    level column becomes a pino-like record of that level, so that level-bound rules apply."""
    message = message.rstrip("\r\n")
    first, *rest = message.split("\n") if message else [""]
    body = strip_ansi(first)
    prefixed = split_compose_prefix(body)
    if prefixed is not None:  # the row holds a `docker compose logs` line: its service is the container
        container = container or prefixed[0]
        first = body = prefixed[1]
    if DOCKER_TS_RE.match(body):  # ... or a `docker logs -t` line: its own time is the finer one
        prefix = f"{container} | " if container else ""
        return [f"{prefix}{first}"] + [f"{prefix}{stamp} {line.rstrip(chr(13))}" for line in rest]
    canonical = LEVEL_BY_NAME.get(str(level or "").strip().upper())
    if canonical and not body.startswith(("[", "{")):
        first = f"[{stamp[11:23]}] {canonical}: {body}"
    prefix = f"{container} | " if container else ""
    return [f"{prefix}{stamp} {first}"] + [f"{prefix}{stamp} {line.rstrip(chr(13))}" for line in rest]
