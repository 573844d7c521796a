"""The host, through psutil: memory, disks, CPU, load, uptime, top processes, listening ports.

    host/summary.json     hostname, OS, kernel, boot time, uptime, CPUs, load, memory totals
    host/memory.json      virtual memory and swap, bytes
    host/disk.json        every mounted filesystem's usage; Docker data-root and bind-mounted data called out
    host/cpu.json         utilisation over a 1 s sample, per CPU and total; CPU times
    host/processes.json   the 25 largest processes by resident memory (command lines redacted)
    host/listening.json   listening TCP and bound UDP sockets with their process
"""

from __future__ import annotations

import os
import platform
import socket
import time
from pathlib import Path

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


def _summary(ctx: SourceContext) -> None:
    vm, sw = psutil.virtual_memory(), psutil.swap_memory()
    boot = psutil.boot_time()
    uname = platform.uname()
    ctx.write_json("host/summary.json", {
        "hostname": socket.gethostname(), "os": uname.system, "kernel": uname.release,
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


def sources(plan: Plan) -> list[Source]:
    return [
        Source("host_summary", _summary, timeout=10),
        Source("host_memory", _memory, timeout=10),
        Source("host_disk", _disk, timeout=30),
        Source("host_cpu", _cpu, timeout=15),
        Source("host_processes", _processes, timeout=30),
        Source("host_listening", _listening, timeout=20),
    ]
