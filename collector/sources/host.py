"""The host, through psutil: memory, disks, CPU, load, uptime, top processes, listening ports.

    host/summary.json     hostname, stable host id, host clock and its sync state, OS, kernel, boot
                          time, uptime, CPUs, load, memory totals
    host/memory.json      virtual memory and swap, bytes
    host/disk.json        every mounted filesystem's usage; Docker data-root and bind-mounted data called out
    host/cpu.json         utilisation over a 1 s sample, per CPU and total; CPU times
    host/processes.json   the 25 largest processes by resident memory (command lines redacted)
    host/listening.json   listening TCP and bound UDP sockets with their process
"""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import socket
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import psutil

from nodediag.collector.engine import Source, SourceContext
from nodediag.collector.plan import Plan

TOP_PROCESSES = 25


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


MACHINE_ID_FILES = ("/etc/machine-id", "/var/lib/dbus/machine-id")
BOOT_ID_FILE = "/proc/sys/kernel/random/boot_id"
CLOCK_TOOL_TIMEOUT_S = 3.0


def host_id(machine_id_files: tuple[str, ...] = MACHINE_ID_FILES, boot_id_file: str = BOOT_ID_FILE) -> str:
    """A stable id for this host that does not reveal its machine id: ``machine:<24 hex>``, a
    hash of ``/etc/machine-id``; ``boot:<24 hex>`` from the boot id when there is none (stable
    until the next reboot); "" when neither can be read."""
    for kind, files in (("machine", machine_id_files), ("boot", (boot_id_file,))):
        for name in files:
            try:
                raw = Path(name).read_text(errors="replace").strip()
            except OSError:
                continue
            if raw:
                return f"{kind}:" + hashlib.sha256(b"nodediag-host-id:" + raw.encode()).hexdigest()[:24]
    return ""


def _run(command: list[str]) -> str | None:
    if shutil.which(command[0]) is None:
        return None
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=CLOCK_TOOL_TIMEOUT_S,
                              stdin=subprocess.DEVNULL, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def parse_timedatectl(text: str) -> dict[str, Any]:
    """``timedatectl show`` (KEY=value lines) -> the sync state it reports."""
    values = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
    found: dict[str, Any] = {}
    if "NTPSynchronized" in values:
        found["synchronized"] = values["NTPSynchronized"] == "yes"
    if "NTP" in values:
        found["ntp_service"] = values["NTP"] == "yes"
    if values.get("Timezone"):
        found["timezone"] = values["Timezone"]
    return found


def parse_chronyc_tracking(text: str) -> dict[str, Any]:
    """``chronyc tracking``: the offset from NTP time (seconds, + fast) and the error bound."""
    found: dict[str, Any] = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key, words = key.strip(), value.split()
        try:
            if key == "System time" and len(words) >= 4:
                found["offset_s"] = float(words[0]) * (1 if words[2] == "fast" else -1)
            elif key == "Root dispersion" and words:
                found["root_dispersion_s"] = float(words[0])
            elif key == "Root delay" and words:
                found["root_delay_s"] = float(words[0])
            elif key == "Leap status":
                found["leap_status"] = value.strip()
                found["synchronized"] = value.strip() == "Normal"
        except ValueError:
            continue
    return found


def clock_state() -> dict[str, Any]:
    """What is known of this host's clock: its time now (UTC) and, where the tools answer, the
    NTP sync state (timedatectl) and the offset and error chrony measures."""
    clock: dict[str, Any] = {"time": datetime.now(timezone.utc).isoformat().replace("+00:00", "Z"),
                             "monotonic_s": round(time.monotonic(), 3)}
    sync: dict[str, Any] = {}
    timedatectl = _run(["timedatectl", "show"])
    if timedatectl:
        sync["timedatectl"] = parse_timedatectl(timedatectl)
    chrony = _run(["chronyc", "-n", "tracking"])
    if chrony:
        sync["chrony"] = parse_chronyc_tracking(chrony)
    states = [s["synchronized"] for s in sync.values() if "synchronized" in s]
    clock["synchronized"] = any(states) if states else None  # None: unknown
    clock["sync"] = sync
    return clock


def _summary(ctx: SourceContext) -> None:
    vm, sw = psutil.virtual_memory(), psutil.swap_memory()
    boot = psutil.boot_time()
    uname = platform.uname()
    ctx.write_json("host/summary.json", {
        "hostname": socket.gethostname(), "host_id": host_id(), "clock": clock_state(),
        "os": uname.system, "kernel": uname.release,
        "machine": uname.machine, "platform": platform.platform(),
        "boot_time": boot, "uptime_s": round(time.time() - boot, 1),
        "cpus_logical": psutil.cpu_count(logical=True), "cpus_physical": psutil.cpu_count(logical=False),
        "cpu_model": cpu_model(), "load_avg": list(os.getloadavg()),
        "memory_total": vm.total, "memory_available": vm.available,
        "swap_total": sw.total, "swap_used": sw.used,
    })


def _memory(ctx: SourceContext) -> None:
    ctx.write_json("host/memory.json", {"virtual": psutil.virtual_memory()._asdict(),
                                        "swap": psutil.swap_memory()._asdict()})


def _mount_role(mountpoint: str, plan: Plan) -> str:
    def under(path: str) -> bool:
        return path == mountpoint or path.startswith(mountpoint.rstrip("/") + "/")

    roles = []
    if plan.docker_root and under(plan.docker_root):
        roles.append("docker-data-root")
    if any(under(d) for d in plan.data_dirs):
        roles.append("deployment-data")
    return ",".join(roles)


def _disk(ctx: SourceContext) -> None:
    plan: Plan = ctx.plan
    rows: list[dict[str, object]] = []
    parts = psutil.disk_partitions(all=False)
    mountpoints = sorted({p.mountpoint for p in parts}, key=len, reverse=True)
    for p in parts:
        ctx.check()
        try:
            u = psutil.disk_usage(p.mountpoint)
        except OSError as exc:
            rows.append({"mountpoint": p.mountpoint, "device": p.device, "fstype": p.fstype, "error": str(exc)})
            continue
        rows.append({"mountpoint": p.mountpoint, "device": p.device, "fstype": p.fstype, "total": u.total,
                     "used": u.used, "free": u.free, "percent": u.percent, "role": ""})

    # the role goes on the deepest mount holding each path
    def deepest(path: str) -> str | None:
        return next((m for m in mountpoints if path == m or path.startswith(m.rstrip("/") + "/")), None)

    holders = {deepest(d) for d in plan.data_dirs} | ({deepest(plan.docker_root)} if plan.docker_root else set())
    for row in rows:
        if row["mountpoint"] in holders:
            row["role"] = _mount_role(str(row["mountpoint"]), plan)
    ctx.write_json("host/disk.json", {"filesystems": rows, "docker_root": plan.docker_root,
                                      "data_dirs": plan.data_dirs})


def _cpu(ctx: SourceContext) -> None:
    per_cpu = psutil.cpu_percent(interval=1.0, percpu=True)
    ctx.write_json("host/cpu.json", {
        "percent_total": round(sum(per_cpu) / max(len(per_cpu), 1), 1), "percent_per_cpu": per_cpu,
        "load_avg": list(os.getloadavg()), "times": psutil.cpu_times()._asdict(),
        "count_logical": psutil.cpu_count(logical=True),
    })


def _processes(ctx: SourceContext) -> None:
    procs = []
    for p in psutil.process_iter(["pid", "name", "username", "memory_info", "cpu_percent", "cmdline", "create_time"]):
        info = p.info
        mem = info.get("memory_info")
        procs.append((mem.rss if mem else 0, info))
    procs.sort(key=lambda item: item[0], reverse=True)
    rows = []
    for rss, info in procs[:TOP_PROCESSES]:
        cmdline = info.get("cmdline") or []
        rows.append({"pid": info["pid"], "name": info.get("name"), "user": info.get("username"), "rss": rss,
                     "cpu_percent": info.get("cpu_percent"), "create_time": info.get("create_time"),
                     "cmdline": " ".join(cmdline)})
    ctx.write_json("host/processes.json", {"processes": rows, "total_processes": len(procs)})


def _listening(ctx: SourceContext) -> None:
    rows = []
    for c in psutil.net_connections(kind="inet"):
        if c.type == socket.SOCK_STREAM and c.status != psutil.CONN_LISTEN:
            continue
        if c.type == socket.SOCK_DGRAM and c.raddr:
            continue
        name = None
        if c.pid:
            try:
                name = psutil.Process(c.pid).name()
            except psutil.Error:
                pass
        rows.append({"proto": "tcp" if c.type == socket.SOCK_STREAM else "udp",
                     "address": c.laddr.ip if c.laddr else "", "port": c.laddr.port if c.laddr else None,
                     "pid": c.pid, "process": name})
    rows.sort(key=lambda r: (r["proto"], r["port"] or 0))
    ctx.write_json("host/listening.json", {"sockets": rows})


FAMILIES = ("host_summary", "host_memory", "host_disk", "host_cpu", "host_processes", "host_listening")


def sources(plan: Plan) -> list[Source]:
    return [
        Source("host_summary", _summary, timeout=10, writes=("host/summary.json",)),
        Source("host_memory", _memory, timeout=10, writes=("host/memory.json",)),
        Source("host_disk", _disk, timeout=30, writes=("host/disk.json",)),
        Source("host_cpu", _cpu, timeout=15, writes=("host/cpu.json",)),
        Source("host_processes", _processes, timeout=30, writes=("host/processes.json",)),
        Source("host_listening", _listening, timeout=20, writes=("host/listening.json",)),
    ]
