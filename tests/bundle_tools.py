"""Test helpers for multi-host analysis: write a small bundle folder, and rewrite a bundle as if
its host's clock had been off (every time moved, files re-checksummed)."""

from __future__ import annotations

import hashlib
import json
import re
import tarfile
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import zstandard

_DOCKER_STAMP = re.compile(rb"(?m)^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(\.\d+)?(Z)")
_PINO_CLOCK = re.compile(rb"^(\S+ )\[(\d{2}):(\d{2}):(\d{2})\.(\d{3})\]")
_ISO = re.compile(r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})")


def write_bundle_folder(folder: Path, files: dict[str, bytes], *, hostname: str, host_id: str = "",
                        created_at: str = "2026-11-27T11:00:00Z", project: str = "aztec-prover",
                        containers: list[dict[str, str]] | None = None,
                        synchronized: bool | None = None) -> Path:
    """An extracted v1 bundle: ``files`` plus host/summary.json and a manifest listing them all."""
    folder.mkdir(parents=True, exist_ok=True)
    summary: dict[str, Any] = {"hostname": hostname, "cpus_logical": 32, "memory_total": 128 * 2**30,
                               "clock": {"time": created_at, "synchronized": synchronized, "sync": {}}}
    if host_id:
        summary["host_id"] = host_id
    files = {**files, "host/summary.json": json.dumps(summary).encode()}
    for rel, data in files.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(data)
    host: dict[str, Any] = {"hostname": hostname, "cpus": 32}
    if host_id:
        host["host_id"] = host_id
    manifest = {
        "format": "nodediag-bundle", "format_version": 1, "tool": {"name": "nodediag", "version": "0.1.0"},
        "created_at": created_at, "finished_at": created_at, "status": "complete",
        "window": {"since": "2026-11-27T09:00:00Z", "until": created_at}, "host": host,
        "deployment": {"containers": [{**c, "project": project} for c in containers or []]},
        "sources": [], "files": [],
    }
    (folder / "manifest.json").write_text(json.dumps(manifest))
    rechecksum(folder)
    return folder


def rechecksum(folder: Path) -> None:
    """List every file but the manifest in the manifest, with its size and sha256."""
    manifest = json.loads((folder / "manifest.json").read_text())
    old = {e["path"]: e for e in manifest.get("files") or []}
    entries = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.name != "manifest.json"):
        rel = path.relative_to(folder).as_posix()
        data = path.read_bytes()
        entries.append({**old.get(rel, {"source": "test", "redactions": {}}), "path": rel, "size": len(data),
                        "sha256": hashlib.sha256(data).hexdigest()})
    manifest["files"] = entries
    (folder / "manifest.json").write_text(json.dumps(manifest))


def extract_bundle(bundle: Path, into: Path) -> Path:
    """A .tar.zst bundle extracted; its top folder."""
    into.mkdir(parents=True, exist_ok=True)
    with bundle.open("rb") as fh, zstandard.ZstdDecompressor().stream_reader(fh, read_across_frames=True) as raw, \
            tarfile.open(fileobj=raw, mode="r|") as tar:
        tar.extractall(into, filter="data")
    (top,) = [p for p in into.iterdir() if p.is_dir()]
    return top


def _iso_shift(text: str, shift: timedelta) -> str:
    def one(match: re.Match[str]) -> str:
        if match.group(1).startswith("0001-"):  # Docker's "never"
            return match.group(0)
        fraction = match.group(2) or ""
        moment = datetime.fromisoformat(match.group(1) + (fraction[:7] if fraction else "")).replace(
            tzinfo=timezone.utc) + shift
        return moment.strftime("%Y-%m-%dT%H:%M:%S") + (("." + moment.strftime("%f")).ljust(len(fraction), "0")
                                                       if fraction else "") + match.group(3)
    return _ISO.sub(one, text)


def _shift_log_line(line: bytes, shift: timedelta) -> bytes:
    match = _DOCKER_STAMP.match(line)
    if not match:
        return line
    fraction = (match.group(2) or b"").decode()
    moment = datetime.fromisoformat(match.group(1).decode() + fraction[:7]).replace(tzinfo=timezone.utc) + shift
    extra = fraction[7:]  # nanoseconds beyond microseconds: kept as they were
    stamp = moment.strftime("%Y-%m-%dT%H:%M:%S") + (("." + moment.strftime("%f") + extra) if fraction else "") + "Z"
    line = stamp.encode() + line[match.end():]
    clock = _PINO_CLOCK.match(line)
    if clock:
        line = clock.group(1) + b"[" + moment.strftime("%H:%M:%S.%f")[:-3].encode() + b"]" + line[clock.end():]
    return line


def shift_bundle(folder: Path, shift: timedelta, *, hostname: str | None = None, host_id: str | None = None) -> None:
    """Rewrite the extracted bundle ``folder`` as if its host's clock had been ``shift`` off:
    Docker's log timestamps (and pino's clock after them), events, container states, the host
    summary's clock, the kernel OOM lines and the manifest's times; optionally another host name
    and id (the same logs as seen from another host). Files are re-checksummed."""
    for logs in folder.glob("containers/*/logs.txt"):
        logs.write_bytes(b"\n".join(_shift_log_line(line, shift) for line in logs.read_bytes().split(b"\n")))
    events = folder / "docker/events.jsonl"
    if events.exists():
        out = []
        for line in events.read_text().splitlines():
            data = json.loads(line)
            if "timeNano" in data:
                data["timeNano"] += int(shift.total_seconds() * 1e9)
            if "time" in data:
                data["time"] = int(data["time"] + shift.total_seconds())
            out.append(json.dumps(data))
        events.write_text("\n".join(out) + "\n")
    for path in [*folder.glob("containers/*/inspect.json"), folder / "host/summary.json", folder / "manifest.json",
                 folder / "host/kernel-oom.txt"]:
        if not path.exists():
            continue
        text = _iso_shift(path.read_text(), shift)
        if path.suffix == ".json" and (hostname or host_id):
            data = json.loads(text)
            host = data.get("host") if path.name == "manifest.json" else data
            if isinstance(host, dict):
                if hostname:
                    host["hostname"] = hostname
                if host_id:
                    host["host_id"] = host_id
            text = json.dumps(data)
        path.write_text(text)
    rechecksum(folder)
