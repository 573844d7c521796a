"""The JSON fact files of a bundle, checked against a schema once, where they are read.

``read_fact`` parses one file (or one line of ``docker/events.jsonl``) within ``Limits`` and checks
the fields the analyzer reads: their types, and ranges where a value feeds a date or a size. A file
that does not fit raises SchemaError naming the file and the field; the analyzer then reports that
file's facts as missing instead of failing (a damaged stats snapshot must not hide the logs).
Files the schema does not know are only parsed within the limits.
"""

from __future__ import annotations

import re
from typing import Any

from nodediag.bundle.limits import DEFAULT_LIMITS, Limits
from nodediag.bundle.schema import (
    ANY,
    BOOL,
    INT,
    NULL,
    NUM,
    STR,
    AnyOf,
    IntRange,
    ListOf,
    MapOf,
    Obj,
    Spec,
    load_checked,
    optional,
)

_TEXT = optional(STR)
_NUMBER = optional(NUM)
_SCALAR = AnyOf((NUM, STR, BOOL, NULL))
_STRINGS = optional(AnyOf((STR, ListOf(STR))))
_LABELS = optional(MapOf(_SCALAR))
_EPOCH_S = IntRange(0, 253_402_300_799)  # up to 9999-12-31: a date Python can represent
_EPOCH_NS = IntRange(0, 253_402_300_799 * 1_000_000_000)

_INSPECT = Obj({
    "Id": _TEXT, "Name": _TEXT, "Image": _TEXT, "Path": _STRINGS, "Args": _STRINGS,
    "RestartCount": optional(IntRange(0, 1 << 31)),
    "Config": optional(Obj({"Image": _TEXT, "Labels": _LABELS, "Cmd": _STRINGS, "Entrypoint": _STRINGS,
                            "Env": optional(ListOf(STR, 10_000))})),
    "State": optional(Obj({"Status": _TEXT, "ExitCode": optional(INT), "OOMKilled": optional(BOOL),
                           "StartedAt": _TEXT, "FinishedAt": _TEXT})),
    "HostConfig": optional(Obj({"Memory": optional(INT), "RestartPolicy": optional(Obj({"Name": _TEXT}))})),
})
_CPU_USAGE = Obj({"total_usage": _NUMBER, "percpu_usage": optional(ListOf(NUM, 65_536))})
_CPU = optional(Obj({"cpu_usage": optional(_CPU_USAGE), "system_cpu_usage": _NUMBER, "online_cpus": _NUMBER}))
_STATS = Obj({
    "memory_stats": optional(Obj({"usage": _NUMBER, "limit": _NUMBER, "stats": optional(MapOf(_SCALAR))})),
    "cpu_stats": _CPU, "precpu_stats": _CPU, "pids_stats": optional(Obj({"current": _NUMBER})),
})
_FILESYSTEM = Obj({"mountpoint": _TEXT, "device": _TEXT, "fstype": _TEXT, "total": _NUMBER, "used": _NUMBER,
                   "free": _NUMBER, "percent": _NUMBER, "role": _TEXT, "error": _TEXT})
_SUMMARY = Obj({
    **{key: _TEXT for key in ("hostname", "host", "cpu_model", "os", "kernel")},
    **{key: optional(IntRange(0, 1 << 20)) for key in ("cpus_logical", "cpus", "cpu_count")},
    **{key: optional(ListOf(NUM, 16)) for key in ("load_avg", "load_average", "loadavg", "load")},
    **{key: _NUMBER for key in ("uptime_s", "uptime_seconds", "uptime", "boot_time", "memory_total",
                                "memory_bytes", "memory_available", "swap_total", "swap_used")},
})
_MEMORY = MapOf(AnyOf((_SCALAR, MapOf(_SCALAR))))
_CONTAINER_ROW = Obj({"Names": _STRINGS, "Name": _TEXT, "name": _TEXT, "Image": _TEXT, "image": _TEXT,
                      "Labels": _LABELS, "labels": _LABELS, "Command": _TEXT, "Status": _TEXT, "status": _TEXT,
                      "State": _TEXT, "state": _TEXT})
_PROBE = Obj({"container": _TEXT, "url": _TEXT, "via": _TEXT, "error": _TEXT, "status": optional(INT),
              "latency_ms": _NUMBER})
EVENT = Obj({"Type": _TEXT, "Action": _TEXT, "status": _TEXT, "timeNano": optional(_EPOCH_NS),
             "time": optional(_EPOCH_S), "Actor": optional(Obj({"ID": _TEXT, "Attributes": _LABELS}))})

SCHEMAS: list[tuple[re.Pattern[str], Spec]] = [
    (re.compile(r"containers/[^/]+/inspect\.json"), AnyOf((_INSPECT, ListOf(_INSPECT)))),
    (re.compile(r"containers/[^/]+/stats\.json"), _STATS),
    (re.compile(r"host/summary\.json"), _SUMMARY),
    (re.compile(r"host/memory\.json"), _MEMORY),
    (re.compile(r"host/disk\.json"), AnyOf((Obj({"filesystems": ListOf(_FILESYSTEM, 4096), "docker_root": _TEXT,
                                                 "data_dirs": optional(ListOf(STR, 4096))}),
                                            ListOf(_FILESYSTEM, 4096)))),
    (re.compile(r"docker/containers\.json"), ListOf(_CONTAINER_ROW, 20_000)),
    (re.compile(r"probes/[^/]+\.json"), _PROBE),
]


def schema_for(rel: str) -> Spec:
    for pattern, spec in SCHEMAS:
        if pattern.fullmatch(rel):
            return spec
    return ANY


def read_fact(rel: str, data: bytes | str, limits: Limits = DEFAULT_LIMITS) -> Any:
    """The parsed JSON fact file ``rel`` (bundle-relative); SchemaError naming the file and field."""
    return load_checked(data, rel, schema_for(rel), limits)


def read_event(rel: str, line_number: int, line: str, limits: Limits = DEFAULT_LIMITS) -> Any:
    """One line of ``docker/events.jsonl``, parsed and checked; SchemaError naming the line and field."""
    return load_checked(line, f"{rel} line {line_number}", EVENT, limits)
