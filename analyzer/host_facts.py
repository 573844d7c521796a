"""Host facts from a bundle (host/*.json, kernel OOM records, docker stats snapshots) or from the
manual guide's ``free -h`` / ``df -h`` text."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any

from nodediag.analyzer.inputs.guide_tables import parse_df, parse_free
from nodediag.analyzer.model import Evidence, Filesystem, HostFacts

_KILLED = re.compile(r"Killed process (\d+) \(([^)]*)\)")
_OOM_KILL = re.compile(r"oom-kill:|invoked oom-killer", re.I)
_ISO_TIME = re.compile(r"^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2})(?:[.,](\d+))?(Z|[+-]\d{2}:?\d{2})?")
_DMESG_T = re.compile(r"^\[(\w{3} \w{3} +\d{1,2} \d{2}:\d{2}:\d{2} \d{4})\]")


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _int(value: Any) -> int | None:
    number = _number(value)
    return int(number) if number is not None else None


def _first(data: dict[str, Any], *keys: str) -> Any:
    for key in keys:
        if data.get(key) is not None:
            return data[key]
    return None


def apply_summary(host: HostFacts, summary: dict[str, Any]) -> None:
    """host/summary.json (field names as the collector writes them, with tolerant fallbacks)."""
    host.hostname = str(_first(summary, "hostname", "host") or host.hostname)
    host.cpus = _int(_first(summary, "cpus_logical", "cpus", "cpu_count")) or host.cpus
    host.cpu_model = str(_first(summary, "cpu_model") or host.cpu_model)
    load = _first(summary, "load_avg", "load_average", "loadavg", "load")
    if isinstance(load, list):
        host.load = [float(v) for v in load if _number(v) is not None]
    host.uptime_s = _number(_first(summary, "uptime_s", "uptime_seconds", "uptime")) or host.uptime_s
    host.memory_total = _int(_first(summary, "memory_total", "memory_bytes")) or host.memory_total
    host.memory_available = _int(summary.get("memory_available")) or host.memory_available
    host.swap_total = _int(summary.get("swap_total")) if summary.get("swap_total") is not None else host.swap_total
    host.swap_used = _int(summary.get("swap_used")) if summary.get("swap_used") is not None else host.swap_used


def apply_manifest_host(host: HostFacts, manifest_host: dict[str, Any]) -> None:
    host.hostname = host.hostname or str(manifest_host.get("hostname") or "")
    host.cpus = host.cpus or _int(manifest_host.get("cpus"))
    host.memory_total = host.memory_total or _int(manifest_host.get("memory_bytes"))


def apply_memory(host: HostFacts, memory: dict[str, Any]) -> None:
    """host/memory.json: ``{"virtual": virtual_memory(), "swap": swap_memory()}``."""
    virtual = _first(memory, "virtual", "virtual_memory", "memory")
    swap = _first(memory, "swap", "swap_memory")
    if not isinstance(virtual, dict):
        virtual = memory
    if isinstance(virtual, dict):
        host.memory_total = _int(virtual.get("total")) or host.memory_total
        available = _int(virtual.get("available"))
        host.memory_available = available if available is not None else host.memory_available
    if isinstance(swap, dict):
        host.swap_total = _int(swap.get("total")) if swap.get("total") is not None else host.swap_total
        host.swap_used = _int(swap.get("used")) if swap.get("used") is not None else host.swap_used


def parse_disk_json(disk: Any) -> list[Filesystem]:
    """host/disk.json: ``{"filesystems": [...]}`` (or a bare list); rows with an error are skipped."""
    rows = disk.get("filesystems") if isinstance(disk, dict) else disk
    filesystems: list[Filesystem] = []
    for row in rows if isinstance(rows, list) else []:
        if not isinstance(row, dict):
            continue
        total, used, free = _int(row.get("total")), _int(row.get("used")), _int(row.get("free"))
        if total is None or used is None or free is None:
            continue
        percent = _number(row.get("percent"))
        filesystems.append(Filesystem(
            mountpoint=str(row.get("mountpoint") or ""), device=str(row.get("device") or ""),
            fstype=str(row.get("fstype") or ""), total=total, used=used, free=free,
            percent=percent if percent is not None else (round(100.0 * used / total, 1) if total else 0.0),
            role=str(row.get("role") or "")))
    return filesystems


def apply_free_text(host: HostFacts, text: str) -> None:
    free = parse_free(text)
    host.memory_total = free.total if free.total is not None else host.memory_total
    host.memory_available = free.available if free.available is not None else host.memory_available
    host.swap_total = free.swap_total if free.swap_total is not None else host.swap_total
    host.swap_used = free.swap_used if free.swap_used is not None else host.swap_used


def apply_df_text(host: HostFacts, text: str) -> None:
    host.filesystems.extend(parse_df(text))


def _line_time(line: str) -> datetime | None:
    match = _ISO_TIME.match(line)
    if match:
        day, clock, _fraction, zone = match.groups()
        stamp = f"{day}T{clock}"
        try:
            moment = datetime.fromisoformat(stamp)
        except ValueError:
            return None
        if zone and zone != "Z":
            sign = 1 if zone[0] == "+" else -1
            digits = zone[1:].replace(":", "")
            offset = sign * (int(digits[:2]) * 60 + int(digits[2:]))
            return moment.replace(tzinfo=timezone.utc) - timedelta(minutes=offset)
        return moment.replace(tzinfo=timezone.utc)
    match = _DMESG_T.match(line)
    if match:
        try:
            return datetime.strptime(" ".join(match.group(1).split()), "%a %b %d %H:%M:%S %Y").replace(
                tzinfo=timezone.utc)
        except ValueError:
            return None
    return None


def kernel_oom_records(text: str, file: str) -> list[Evidence]:
    """One Evidence per OOM kill: each ``Killed process`` line, with the ``oom-kill:`` /
    ``invoked oom-killer`` lines just before it (within 5 lines) as context. Lines are 1-based
    in ``file``. Without any ``Killed process`` line, each ``oom-kill:`` line is a record."""
    lines = text.splitlines()
    records: list[Evidence] = []
    killed_any = any(_KILLED.search(line) for line in lines)
    for index, line in enumerate(lines):
        killed = _KILLED.search(line)
        if killed:
            start = index
            while start > 0 and index - (start - 1) <= 5 and _OOM_KILL.search(lines[start - 1]) \
                    and not _KILLED.search(lines[start - 1]):
                start -= 1
            records.append(Evidence(file=file, line_start=start + 1, line_end=index + 1,
                                    lines=lines[start:index + 1], time=_line_time(line),
                                    note=f"kernel OOM killer killed pid {killed.group(1)} ({killed.group(2)})"))
        elif not killed_any and line.lower().find("oom-kill:") >= 0:
            task = re.search(r"task=([^,\s]+)", line)
            records.append(Evidence(file=file, line_start=index + 1, line_end=index + 1, lines=[line],
                                    time=_line_time(line),
                                    note=f"kernel OOM kill of {task.group(1) if task else 'a process'}"))
    return records


def _dict(value: object) -> dict[str, Any]:
    """``value`` when it is a JSON object, else an empty one (facts files are untrusted input)."""
    return value if isinstance(value, dict) else {}


def summarize_stats(stats: dict[str, Any]) -> dict[str, Any]:
    """A docker stats snapshot -> {memory_usage, memory_limit, memory_percent, cpu_percent, pids}
    computed as ``docker stats`` does (usage minus inactive file cache)."""
    summary: dict[str, Any] = {}
    memory = _dict(stats.get("memory_stats"))
    usage, limit = _int(memory.get("usage")), _int(memory.get("limit"))
    if usage is not None:
        detail = _dict(memory.get("stats"))
        cache = _int(detail.get("inactive_file"))
        if cache is None:
            cache = _int(detail.get("total_inactive_file")) or 0
        usage = max(usage - cache, 0)
        summary["memory_usage"] = usage
    if limit is not None:
        summary["memory_limit"] = limit
    if usage is not None and limit:
        summary["memory_percent"] = round(100.0 * usage / limit, 2)
    cpu, precpu = _dict(stats.get("cpu_stats")), _dict(stats.get("precpu_stats"))
    total = _number(_dict(cpu.get("cpu_usage")).get("total_usage"))
    pretotal = _number(_dict(precpu.get("cpu_usage")).get("total_usage"))
    system, presystem = _number(cpu.get("system_cpu_usage")), _number(precpu.get("system_cpu_usage"))
    percpu = _dict(cpu.get("cpu_usage")).get("percpu_usage")
    online = _number(cpu.get("online_cpus")) or float(len(percpu) if isinstance(percpu, list) else 0)
    if total is not None and pretotal is not None and system is not None and presystem is not None \
            and system > presystem and online:
        summary["cpu_percent"] = round((total - pretotal) / (system - presystem) * online * 100.0, 2)
    pids = _int((stats.get("pids_stats") or {}).get("current")) if isinstance(stats.get("pids_stats"), dict) else None
    if pids is not None:
        summary["pids"] = pids
    return summary
