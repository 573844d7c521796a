"""Parse the plain-text tables the manual guide saves: ``docker ps -a``, ``free -h``, ``df -h``.

Pure functions over text; nothing here raises on odd input (a line it cannot read is skipped).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from nodediag.analyzer.model import Filesystem

_UNITS = {"": 1, "B": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4, "P": 1024**5, "E": 1024**6}
_SI_UNITS = {"KB": 1000, "MB": 1000**2, "GB": 1000**3, "TB": 1000**4, "PB": 1000**5}
_SIZE = re.compile(r"^\s*(\d+(?:[.,]\d+)?)\s*([KMGTPE]?)(i?)(B?)\s*$", re.I)


def parse_human_size(text: str) -> int | None:
    """``31Gi``, ``1.8T``, ``512M``, ``0B``, ``4.0K``, ``12345`` -> bytes (binary multiples, as
    free/df print them); ``10GB`` -> decimal. None when it is not a size."""
    match = _SIZE.match(text or "")
    if not match:
        return None
    number = float(match.group(1).replace(",", "."))
    unit, binary, byte = match.group(2).upper(), match.group(3), match.group(4).upper()
    if unit and byte and not binary:
        return int(number * _SI_UNITS[unit + "B"])
    return int(number * _UNITS[unit])


@dataclass(slots=True)
class PsRow:
    """One line of ``docker ps -a``."""

    container_id: str
    image: str
    command: str
    created: str
    status: str
    ports: str
    name: str
    state: str  # running | exited | restarting | paused | created | dead | removing | ""
    exit_code: int | None
    health: str  # healthy | unhealthy | starting | ""


_HEADER_COLUMNS = ("CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES")
_STATUS_EXIT = re.compile(r"^(Exited|Restarting)\s*\((-?\d+)\)", re.I)
_HEALTH = re.compile(r"\((healthy|unhealthy|health: starting)\)", re.I)


def parse_status(status: str) -> tuple[str, int | None, str]:
    """``Exited (137) 5 minutes ago`` -> ("exited", 137, ""); ``Up 2 hours (unhealthy)`` ->
    ("running", None, "unhealthy"); ``Restarting (1) 3 seconds ago`` -> ("restarting", 1, "")."""
    text = status.strip()
    health_match = _HEALTH.search(text)
    health = health_match.group(1).lower().replace("health: ", "") if health_match else ""
    exit_match = _STATUS_EXIT.match(text)
    if exit_match:
        return exit_match.group(1).lower(), int(exit_match.group(2)), health
    lowered = text.lower()
    if lowered.startswith("up"):
        return ("paused" if "(paused)" in lowered else "running"), None, health
    for word, state in (("created", "created"), ("dead", "dead"), ("removal", "removing"),
                        ("exited", "exited"), ("restarting", "restarting")):
        if lowered.startswith(word):
            return state, None, health
    return "", None, health


def parse_docker_ps(text: str) -> list[PsRow]:
    """Parse ``docker ps -a`` output by the header's column positions."""
    lines = text.splitlines()
    for index, line in enumerate(lines):
        if line.startswith("CONTAINER ID") and "NAMES" in line:
            return _rows(line, lines[index + 1:])
    return []


def _rows(header: str, lines: list[str]) -> list[PsRow]:
    starts = []
    for column in _HEADER_COLUMNS:
        position = header.find(column)
        if position >= 0:
            starts.append((position, column))
    starts.sort()
    rows: list[PsRow] = []
    for line in lines:
        if not line.strip():
            continue
        values = {}
        for i, (start, column) in enumerate(starts):
            end = starts[i + 1][0] if i + 1 < len(starts) else None
            values[column] = line[start:end].strip() if end is not None else line[start:].strip()
        name = values.get("NAMES", "").split(",")[0].strip()
        if not name:
            continue
        state, exit_code, health = parse_status(values.get("STATUS", ""))
        rows.append(PsRow(container_id=values.get("CONTAINER ID", ""), image=values.get("IMAGE", ""),
                          command=values.get("COMMAND", "").strip('"'), created=values.get("CREATED", ""),
                          status=values.get("STATUS", ""), ports=values.get("PORTS", ""), name=name,
                          state=state, exit_code=exit_code, health=health))
    return rows


@dataclass(slots=True)
class FreeMemory:
    """``free -h``: bytes, None when absent."""

    total: int | None = None
    used: int | None = None
    available: int | None = None
    swap_total: int | None = None
    swap_used: int | None = None


def parse_free(text: str) -> FreeMemory:
    """Parse ``free``/``free -h`` output (columns named by the header line)."""
    result = FreeMemory()
    header: list[str] = []
    for line in text.splitlines():
        parts = line.split()
        if not parts:
            continue
        if parts[0] in ("total", "used") or (not line[:1].strip() and "total" in parts):
            header = parts
            continue
        label = parts[0].rstrip(":").lower()
        values = {name: parse_human_size(value) for name, value in zip(header, parts[1:], strict=False)}
        if label == "mem":
            result.total = values.get("total")
            result.used = values.get("used")
            result.available = values.get("available", values.get("free"))
        elif label == "swap":
            result.swap_total = values.get("total")
            result.swap_used = values.get("used")
    return result


def parse_df(text: str) -> list[Filesystem]:
    """Parse ``df -h`` (or ``df -hT``) output. Long device names wrapped onto their own line are
    joined with the next line."""
    lines = text.splitlines()
    header = next((line for line in lines if line.startswith("Filesystem")), None)
    if header is None:
        return []
    has_type = "Type" in header.split()
    fields = 7 if has_type else 6
    filesystems: list[Filesystem] = []
    pending = ""
    for line in lines[lines.index(header) + 1:]:
        parts = (pending + " " + line).split() if pending else line.split()
        if not parts:
            continue
        if len(parts) < fields:
            pending = " ".join(parts)
            continue
        pending = ""
        device = " ".join(parts[: len(parts) - fields + 1])
        rest = parts[len(parts) - fields + 1:]
        fstype = rest.pop(0) if has_type else ""
        size, used, avail, percent, mountpoint = rest[0], rest[1], rest[2], rest[3], rest[4]
        total_b, used_b, free_b = parse_human_size(size), parse_human_size(used), parse_human_size(avail)
        if total_b is None or used_b is None or free_b is None:
            continue
        try:
            pct = float(percent.rstrip("%"))
        except ValueError:
            pct = round(100.0 * used_b / total_b, 1) if total_b else 0.0
        filesystems.append(Filesystem(mountpoint=mountpoint, device=device, fstype=fstype, total=total_b,
                                      used=used_b, free=free_b, percent=pct))
    return filesystems


# docker's units.HumanDuration: "Less than a second", "1 second", "About a minute", "5 minutes",
# "About an hour", "3 hours", "2 days", "3 weeks", "4 months", "2 years"
_DURATION = re.compile(
    r"(less than a second|about an? (?:minute|hour)|(\d+) (second|minute|hour|day|week|month|year)s?)", re.I)
_SECONDS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400, "week": 7 * 86400, "month": 30 * 86400,
            "year": 365 * 86400}


def _duration(text: str) -> timedelta | None:
    match = _DURATION.search(text)
    if match is None:
        return None
    phrase = match.group(1).lower()
    if phrase.startswith("less than"):
        return timedelta(0)
    if phrase.startswith("about"):
        return timedelta(seconds=3600 if phrase.endswith("hour") else 60)
    return timedelta(seconds=int(match.group(2)) * _SECONDS[match.group(3).lower()])


def status_times(status: str, made: datetime | None) -> tuple[datetime | None, datetime | None]:
    """(started, finished) that a ``docker ps`` STATUS gives relative to ``made`` (when it was
    printed): ``Up 17 seconds`` started then; ``Exited (137) 9 seconds ago`` finished then. Docker
    rounds: the times are as precise as the words (about a minute, 3 hours)."""
    if made is None:
        return None, None
    text = status.strip()
    lowered = text.lower()
    if lowered.startswith("up "):
        span = _duration(text[3:])
        return (made - span if span is not None else None), None
    if lowered.startswith(("exited", "restarting")) and lowered.endswith("ago"):
        span = _duration(text[text.find(")") + 1:] if ")" in text else text)
        return None, (made - span if span is not None else None)
    return None, None
