"""Hostile and damaged inputs, built in the test that uses them (no committed blobs).

Each builder writes one input into a folder and returns its path. ``run_limited`` runs a
``nodediag`` command in a subprocess under an address-space limit and a timeout, as the hostile
suite and benchmarks/hostile_costs.py both do.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import resource
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import zstandard

REPO = Path(__file__).resolve().parents[2]
TOP = "nodediag-host-20261127T183000Z"
LOG = ("2026-11-27T18:00:00.000000000Z [18:00:00.000] INFO: prover-node Starting epoch 5 proving job\n"
       "2026-11-27T18:00:01.000000000Z [18:00:01.000] INFO: prover-node Submitted proof for epoch 5\n")


def manifest_for(files: dict[str, bytes], **extra: Any) -> dict[str, Any]:
    manifest: dict[str, Any] = {
        "format": "nodediag-bundle", "format_version": 1, "tool": {"name": "nodediag", "version": "0.0.9"},
        "created_at": "2026-11-27T18:30:00Z", "finished_at": "2026-11-27T18:30:41Z", "status": "complete",
        "window": {"since": "2026-11-26T18:30:00Z", "until": "2026-11-27T18:30:00Z"},
        "deployment": {"chosen": "1 container", "containers": [
            {"name": "node", "role": "prover-node", "image": "aztecprotocol/aztec:2.1.2", "state": "running"}]},
        "sources": [{"name": "container_logs:node", "status": "ok", "duration_s": 1.0, "error": None,
                     "files": sorted(files)}],
        "files": [{"path": rel, "size": len(data), "sha256": hashlib.sha256(data).hexdigest(),
                   "source": "container_logs:node", "redactions": {}} for rel, data in sorted(files.items())],
        "redaction": {"totals": {}, "leak_check": "passed", "unredacted": False},
    }
    manifest.update(extra)
    return manifest


def regular(name: str, data: bytes) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    return info


def tar_bytes(members: Iterable[tuple[tarfile.TarInfo, bytes | None]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for info, data in members:
            archive.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def write_zst(path: Path, raw: bytes) -> Path:
    path.write_bytes(zstandard.ZstdCompressor(write_checksum=True).compress(raw))
    return path


def bundle_members(files: dict[str, bytes], manifest: dict[str, Any] | bytes | None = None,
                   top: str = TOP) -> list[tuple[tarfile.TarInfo, bytes | None]]:
    out: list[tuple[tarfile.TarInfo, bytes | None]] = []
    for rel, data in files.items():
        out.append((regular(f"{top}/{rel}", data), data))
    if manifest is None:
        manifest = manifest_for(files)
    data = manifest if isinstance(manifest, bytes) else json.dumps(manifest).encode()
    out.append((regular(f"{top}/manifest.json", data), data))
    return out


def write_bundle(path: Path, files: dict[str, bytes] | None = None,
                 manifest: dict[str, Any] | bytes | None = None) -> Path:
    """A small, well-formed bundle (one frame) with ``files`` and a manifest listing them."""
    files = {"containers/node/logs.txt": LOG.encode()} if files is None else files
    return write_zst(path, tar_bytes(bundle_members(files, manifest)))


# --- damaged bundles ------------------------------------------------------------------------------

def duplicate_member(path: Path) -> Path:
    files = {"containers/node/logs.txt": LOG.encode()}
    members = bundle_members(files)
    return write_zst(path, tar_bytes([members[0], *members]))


def truncated_by_one_byte(path: Path) -> Path:
    write_bundle(path)
    data = path.read_bytes()
    path.write_bytes(data[:-1])
    return path


def garbage_after_last_frame(path: Path, garbage: bytes = b"appended garbage\n") -> Path:
    write_bundle(path)
    with path.open("ab") as fh:
        fh.write(garbage)
    return path


def second_top_folder(path: Path) -> Path:
    files = {"containers/node/logs.txt": LOG.encode()}
    foreign = b"not from this bundle\n"
    members = bundle_members(files)
    members.insert(1, (regular("other-folder/containers/node/logs.txt", foreign), foreign))
    return write_zst(path, tar_bytes(members))


# --- unbounded cost ------------------------------------------------------------------------------

def huge_long_name_header(path: Path, size: int) -> Path:
    """A bundle whose first member has a GNU long-name header of ``size`` bytes (compresses to KBs)."""
    header = tarfile.TarInfo("././@LongLink")
    header.type = tarfile.GNUTYPE_LONGNAME
    header.size = size
    cctx = zstandard.ZstdCompressor(level=1, write_checksum=True)
    with path.open("wb") as out, cctx.stream_writer(out) as writer:
        writer.write(header.tobuf(format=tarfile.GNU_FORMAT))
        zeros = b"a" * (1 << 20)
        left = size
        while left > 0:
            writer.write(zeros[:min(left, len(zeros))])
            left -= len(zeros)
        writer.write(b"\0" * (-size % 512))
        writer.write(tar_bytes(bundle_members({"containers/node/logs.txt": LOG.encode()})))
    return path


def zstd_bomb(path: Path, size: int) -> Path:
    """A bundle whose log member expands to ``size`` bytes of one repeated line."""
    info = regular(f"{TOP}/containers/node/logs.txt", b"")
    info.size = size
    line = b"2026-11-27T18:00:00.000000000Z [18:00:00.000] INFO: prover-node same line again\n"
    cctx = zstandard.ZstdCompressor(level=3, write_checksum=True)
    block = line * (1 << 20 // len(line) + 1)
    with path.open("wb") as out, cctx.stream_writer(out) as writer:
        writer.write(info.tobuf(format=tarfile.PAX_FORMAT))
        left = size
        while left > 0:
            piece = block[:min(left, len(block))]
            writer.write(piece)
            left -= len(piece)
        writer.write(b"\0" * (-size % 512))
        manifest = json.dumps(manifest_for({})).encode()
        writer.write(tar_bytes([(regular(f"{TOP}/manifest.json", manifest), manifest)]))
    return path


def many_members(path: Path, count: int) -> Path:
    """A bundle of ``count`` empty members (compresses to a few KB per 10k members)."""
    cctx = zstandard.ZstdCompressor(level=3, write_checksum=True)
    with path.open("wb") as out, cctx.stream_writer(out) as writer, \
            tarfile.open(fileobj=writer, mode="w|", format=tarfile.USTAR_FORMAT) as archive:
        for n in range(count):
            archive.addfile(regular(f"{TOP}/f/{n}", b""), io.BytesIO(b""))
        manifest = json.dumps(manifest_for({})).encode()
        archive.addfile(regular(f"{TOP}/manifest.json", manifest), io.BytesIO(manifest))
    return path


def long_line_bundle(path: Path, line_bytes: int, secret_at_cut: str = "") -> Path:
    """A bundle whose node log holds one line of ``line_bytes`` bytes (plus ``secret_at_cut``
    right after the first MiB), streamed into the compressor."""
    head = (b"2026-11-27T18:00:00.000000000Z FATAL ERROR: Reached heap limit Allocation failed - "
            b"JavaScript heap out of memory ")
    filler = b"x" * (1 << 20)
    body_size = line_bytes - len(head) - 1
    digest = hashlib.sha256()
    cctx = zstandard.ZstdCompressor(level=3, write_checksum=True)

    def pieces() -> Iterable[bytes]:
        yield head
        left = body_size
        first = True
        while left > 0:
            piece = filler[:min(left, len(filler))]
            if first and secret_at_cut:
                piece = piece[:len(piece) - len(secret_at_cut)] + secret_at_cut.encode()
                first = False
            yield piece
            left -= len(piece)
        yield b"\n"
        yield LOG.encode()

    size = sum(len(p) for p in pieces())
    for p in pieces():
        digest.update(p)
    info = regular(f"{TOP}/containers/node/logs.txt", b"")
    info.size = size
    files_entry = {"path": "containers/node/logs.txt", "size": size, "sha256": digest.hexdigest(),
                   "source": "container_logs:node", "redactions": {}}
    manifest = manifest_for({})
    manifest["files"] = [files_entry]
    data = json.dumps(manifest).encode()
    with path.open("wb") as out, cctx.stream_writer(out) as writer:
        writer.write(info.tobuf(format=tarfile.PAX_FORMAT))
        for p in pieces():
            writer.write(p)
        writer.write(b"\0" * (-size % 512))
        writer.write(tar_bytes([(regular(f"{TOP}/manifest.json", data), data)]))
    return path


def big_fact_file(path: Path, size: int) -> Path:
    """A bundle with a host/summary.json of ``size`` bytes (a long JSON list)."""
    body = b'{"hostname": "h", "load_avg": [' + b"1," * (size // 2) + b"1]}"
    return write_bundle(path, {"containers/node/logs.txt": LOG.encode(), "host/summary.json": body})


# --- runs under limits ---------------------------------------------------------------------------

@dataclass
class Run:
    code: int
    stdout: str
    stderr: str
    seconds: float
    max_rss_mb: float  # sampled every 20 ms: VmHWM, or the process tree's resident memory
    timed_out: bool

    @property
    def traceback(self) -> bool:
        return "Traceback (most recent call last)" in self.stderr


def _tree_rss(pid: int) -> int:
    """Bytes: the process's own high-water mark (VmHWM) or, when larger, the resident memory of it
    and its children (analyze's workers) now."""
    import psutil

    try:
        root = psutil.Process(pid)
        with open(f"/proc/{pid}/status") as fh:
            hwm = next((int(line.split()[1]) * 1024 for line in fh if line.startswith("VmHWM:")), 0)
        total = sum(p.memory_info().rss for p in [root, *root.children(recursive=True)])
    except (psutil.Error, OSError, ValueError):
        return 0
    return max(hwm, total)


def _limits(memory_mb: int) -> None:
    limit = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def run_limited(*args: str, memory_mb: int = 1500, timeout: float = 60, cwd: Path | None = None,
                env: dict[str, str] | None = None, pythonpath: str | None = None,
                on_start: Callable[[int], None] | None = None) -> Run:
    """``python -m nodediag ARGS`` under an address-space limit and a timeout (``pythonpath``: where
    nodediag is imported from, this checkout by default; the benchmark passes an older build)."""
    start = time.monotonic()
    full_env = {**os.environ, "PYTHONPATH": pythonpath or str(REPO), **(env or {})}
    proc = subprocess.Popen([sys.executable, "-m", "nodediag", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=full_env, cwd=cwd,
                            preexec_fn=lambda: _limits(memory_mb))
    if on_start:
        on_start(proc.pid)
    captured: dict[str, bytes] = {}
    readers = [threading.Thread(target=lambda n=n, s=s: captured.__setitem__(n, s.read()), daemon=True)
               for n, s in (("out", proc.stdout), ("err", proc.stderr))]
    for reader in readers:
        reader.start()
    timed_out = False
    peak = 0
    while True:  # peak memory sampled while it runs (wait4's ru_maxrss starts from this process's size)
        peak = max(peak, _tree_rss(proc.pid))
        pid, status, _ = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() - start > timeout:
            proc.kill()
            timed_out = True
            pid, status, _ = os.wait4(proc.pid, 0)
            break
        time.sleep(0.02)
    proc.returncode = os.waitstatus_to_exitcode(status)
    for reader in readers:
        reader.join(10)
    return Run(proc.returncode, captured.get("out", b"").decode("utf-8", "replace"),
               captured.get("err", b"").decode("utf-8", "replace"), time.monotonic() - start,
               peak / 2**20, timed_out)


def one_line_error(run: Run) -> bool:
    """Exited non-zero with exactly one line on stderr starting ``nodediag: error:``, no traceback."""
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    return (run.code not in (0, None) and not run.timed_out and not run.traceback
            and len(lines) >= 1 and lines[-1].startswith("nodediag: error: "))
