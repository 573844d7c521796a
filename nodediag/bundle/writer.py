"""Streams collected files into one ``.tar.zst`` bundle (format: docs/bundle-format.md).

Sources never touch the archive. They hand redacted text to a :class:`FileSpool` (a temp file
with a running sha256), and the writer copies finished spools into the tar stream one at a time,
under a lock, through a multi-threaded Zstandard compressor. Memory stays flat whatever the size
of the files; disk holds at most the spools in flight.

A member of ``OWN_FRAME_BYTES`` or more (a container's logs) is written as a Zstandard frame of
its own, holding exactly its tar header, data and padding, with that length in the frame header:
a reader can find it without decompressing the rest, and decompress it on its own (the analyzer
scans such logs in parallel, straight from the bundle). For ``zstd -d`` and ``tar`` it is one
ordinary stream of frames.

The archive is written to a hidden temporary name in the output folder, ``.<name>.partial``,
created exclusively: it also reserves the name, so two collections started at once into one
folder pick different names (``<stem>-2.tar.zst`` ...). It is linked into place only once the
manifest (the last member) is written: a reader never sees half a bundle under the final name,
and an existing file is never overwritten. Every file (bundle, temporaries) is created owner-only
(0600, in a 0700 spool folder) whatever the umask. A full disk is a :class:`DiskFullError` that
says how much had been written; :meth:`BundleWriter.abort` removes every file the writer made.
"""

from __future__ import annotations

import atexit
import errno
import hashlib
import io
import json
import os
import shutil
import tarfile
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import zstandard

from nodediag.bundle.format import OWN_FRAME_BYTES
from nodediag.units import human

_COPY_CHUNK = 1 << 20
_BLOCK = tarfile.BLOCKSIZE


class BundleError(Exception):
    """The bundle cannot be written: the message says why and what to do."""


class DiskFullError(BundleError):
    """The output folder's disk (or quota) ran out while writing; nothing was kept."""


_DISK_FULL = (errno.ENOSPC, errno.EDQUOT)
# every temporary file or folder a writer of this process made and has not removed or placed yet:
# removed at exit too, so that an interrupt at an awkward moment leaves nothing behind
_TEMPORARIES: set[Path] = set()


def remove_temporaries() -> None:
    """Remove every temporary file and spool folder still left by this process's writers."""
    for path in list(_TEMPORARIES):
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        _TEMPORARIES.discard(path)


atexit.register(remove_temporaries)
MAX_UNIQUE = 1000


def _open_private(path: Path) -> int:
    """Create ``path`` exclusively, owner-only whatever the umask; the open descriptor."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o600)
    os.fchmod(fd, 0o600)
    return fd


def safe_member_path(path: str) -> str:
    """Normalise a bundle-relative path; refuse anything that could escape the top folder."""
    pure = PurePosixPath(path)
    if pure.is_absolute() or any(part in ("..", "") for part in pure.parts) or not pure.parts:
        raise ValueError(f"unsafe bundle path: {path!r}")
    return pure.as_posix()


@dataclass
class FileRecord:
    path: str
    size: int
    sha256: str
    source: str
    redactions: dict[str, int] = field(default_factory=dict)


class FileSpool:
    """A file being produced: bytes go to a temp file while its sha256 and size are computed."""

    def __init__(self, directory: Path, path: str, source: str) -> None:
        self.path = safe_member_path(path)
        self.source = source
        fd, name = tempfile.mkstemp(dir=directory, prefix="spool-")  # 0600
        self._file = os.fdopen(fd, "wb")
        self.temp_path = Path(name)
        self._hash = hashlib.sha256()
        self.size = 0
        self.closed = False

    def write(self, data: bytes) -> None:
        self._file.write(data)
        self._hash.update(data)
        self.size += len(data)

    def close(self) -> None:
        if not self.closed:
            self._file.close()
            self.closed = True

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()

    def discard(self) -> None:
        self.close()
        self.temp_path.unlink(missing_ok=True)


class BundleWriter:
    """Writes ``<output>`` as a v1 bundle. Use :meth:`create`, add files, then :meth:`finish`."""

    def __init__(self, output: Path, top: str, spool_dir: Path, level: int = 3, *, fd: int | None = None,
                 free_at_start: int | None = None) -> None:
        self.output = output
        self.top = top
        self.spool_dir = spool_dir
        self.records: list[FileRecord] = []
        self._paths: set[str] = set()  # the records' paths: a duplicate is found in O(1), not O(members)
        self.warnings: list[str] = []
        self.free_at_start = free_at_start
        self._lock = threading.Lock()
        self._temp_output = partial_name(output)
        self._raw = os.fdopen(fd if fd is not None else _open_private(self._temp_output), "wb")
        params = zstandard.ZstdCompressionParameters.from_level(
            level, threads=-1, write_checksum=True, write_content_size=False
        )
        self._zstd = zstandard.ZstdCompressor(compression_params=params).stream_writer(
            self._raw, closefd=False
        )
        # a large member's own frame records its length (see OWN_FRAME_BYTES)
        self._own_frame = zstandard.ZstdCompressor(compression_params=zstandard.ZstdCompressionParameters.from_level(
            level, threads=-1, write_checksum=True, write_content_size=True))
        self._tar_bytes = 0  # the tar stream is written here by hand: headers from TarInfo.tobuf
        self._frame_open = False  # bytes went to self._zstd since its last frame ended
        self._created = time.time()
        self._add_dir(self.top)
        self._dirs: set[str] = {self.top}
        self.finished = False

    @classmethod
    def create(cls, output: Path, level: int = 3, *, unique: bool = False) -> BundleWriter:
        """Open a new bundle at ``output``; refuse to overwrite; check the folder is writable.

        The name is reserved at once (``.<name>.partial``). When another collection holds it, or
        when ``unique`` (a default name) and the file exists, the next free ``<stem>-N.tar.zst``
        is taken instead; :attr:`warnings` says so."""
        output = output.expanduser()
        folder = output.parent if str(output.parent) else Path(".")
        if output.exists() and not unique:
            raise BundleError(f"{output} already exists; choose another name with --output")
        if not folder.is_dir():
            raise BundleError(f"output folder {folder} does not exist; create it or pass another --output")
        if not os.access(folder, os.W_OK | os.X_OK):
            raise BundleError(f"cannot write to {folder}: permission denied; pass --output in a writable folder")
        name = output.name
        if not name.endswith(".tar.zst"):
            raise BundleError(f"output name {name!r} must end in .tar.zst")
        warnings: list[str] = []
        fd, chosen = _reserve(output)
        if chosen != output:
            why = "exists" if output.exists() else "is being written by another nodediag collect"
            warnings.append(f"{output} {why}; this bundle is written as {chosen}")
        try:
            free: int | None = shutil.disk_usage(folder).free
        except OSError:
            free = None
        try:
            spool_dir = Path(tempfile.mkdtemp(prefix=".nodediag-spool-", dir=folder))  # 0700
            _TEMPORARIES.add(spool_dir)
        except OSError as exc:
            os.close(fd)
            partial_name(chosen).unlink(missing_ok=True)
            raise BundleError(f"cannot write to {folder}: {exc.strerror}; pass --output in a writable folder") from exc
        try:
            writer = cls(chosen, chosen.name[: -len(".tar.zst")], spool_dir, level, fd=fd, free_at_start=free)
        except OSError as exc:
            shutil.rmtree(spool_dir, ignore_errors=True)
            partial_name(chosen).unlink(missing_ok=True)
            if exc.errno in _DISK_FULL:
                raise DiskFullError(f"the disk holding {folder} is full; free some space or pass --output "
                                    "on another disk") from exc
            raise BundleError(f"cannot create {chosen}: {exc.strerror}") from exc
        writer.warnings.extend(warnings)
        return writer

    # -- disk full ---------------------------------------------------------------------------
    @staticmethod
    def is_disk_full(exc: BaseException) -> bool:
        return isinstance(exc, DiskFullError) or (isinstance(exc, OSError) and exc.errno in _DISK_FULL)

    def bytes_on_disk(self) -> int:
        """What this writer holds on disk now: the archive so far and every spool file."""
        total = 0
        try:
            total += self._temp_output.stat().st_size
        except OSError:
            pass
        try:
            with os.scandir(self.spool_dir) as it:
                for entry in it:
                    try:
                        total += entry.stat().st_size
                    except OSError:
                        continue
        except OSError:
            pass
        return total

    def disk_full_error(self, exc: BaseException | None = None) -> DiskFullError:
        if isinstance(exc, DiskFullError):
            return exc
        folder = self.output.parent if str(self.output.parent) else Path(".")
        used = self.bytes_on_disk()
        free = f", which had {human(self.free_at_start)} free when collect started" \
            if self.free_at_start is not None else ""
        return DiskFullError(
            f"the disk holding {folder} filled up: the bundle and its temporary files needed more than "
            f"{human(used)}{free}. Nothing was kept. Free some space, lower --log-cap, or pass --output "
            "on a disk with more room"
        )

    def _guard(self, exc: OSError) -> BaseException:
        return self.disk_full_error(exc) if exc.errno in _DISK_FULL else exc

    # -- members -----------------------------------------------------------------------------
    def _add_dir(self, name: str) -> None:
        info = tarfile.TarInfo(name)
        info.type = tarfile.DIRTYPE
        info.mode = 0o755
        info.mtime = int(self._created)
        self._add_member(info, None)

    def _ensure_parents(self, path: str) -> None:
        parts = PurePosixPath(path).parts[:-1]
        for i in range(1, len(parts) + 1):
            d = self.top + "/" + "/".join(parts[:i])
            if d not in self._dirs:
                self._add_dir(d)
                self._dirs.add(d)

    def _add_member(self, info: tarfile.TarInfo, data: Any) -> None:
        """Write one member: its header, ``info.size`` bytes read from ``data``, and the padding
        to a whole tar block; in a frame of its own when it is large. Called under the lock."""
        header = info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
        padded = -(-info.size // _BLOCK) * _BLOCK
        if info.size >= OWN_FRAME_BYTES:
            if self._frame_open:  # the frame of the members before it ends here
                self._zstd.flush(zstandard.FLUSH_FRAME)
                self._frame_open = False
            out = self._own_frame.stream_writer(self._raw, size=len(header) + padded, closefd=False)
        else:
            out = self._zstd
            self._frame_open = True
        out.write(header)
        left = info.size
        while left > 0:
            chunk = data.read(min(left, _COPY_CHUNK))
            if not chunk:
                raise BundleError(f"{info.name} ended before its {info.size} bytes were copied")
            out.write(chunk)
            left -= len(chunk)
        out.write(bytes(padded - info.size))
        if out is not self._zstd:
            out.close()  # ends the member's frame
        self._tar_bytes += len(header) + padded

    def spool(self, path: str, source: str) -> FileSpool:
        return FileSpool(self.spool_dir, path, source)

    def commit(self, spool: FileSpool, redactions: dict[str, int] | None = None) -> FileRecord:
        """Copy a finished spool into the archive and forget the temp file."""
        spool.close()
        try:
            with self._lock:
                if self.finished:
                    raise BundleError("bundle already finished")
                if spool.path in self._paths:
                    raise ValueError(f"duplicate bundle path {spool.path}")
                self._ensure_parents(spool.path)
                info = tarfile.TarInfo(f"{self.top}/{spool.path}")
                info.size = spool.size
                info.mode = 0o644
                info.mtime = int(time.time())
                with open(spool.temp_path, "rb") as fh:
                    try:
                        self._add_member(info, fh)
                    except OSError as exc:
                        raise self._guard(exc) from exc
                record = FileRecord(spool.path, spool.size, spool.sha256, spool.source, dict(redactions or {}))
                self.records.append(record)
                self._paths.add(record.path)
                return record
        finally:
            spool.discard()

    def commit_segments(
        self, path: str, source: str, segments: list[tuple[Path, int]], redactions: dict[str, int] | None = None
    ) -> FileRecord:
        """Add one member made of the tails of several temp files (``(file, start offset)``), hashing
        as it copies; the temp files are removed. Used by :class:`nodediag.collector.log_spool.LogSpool`."""
        path = safe_member_path(path)
        size = sum(seg.stat().st_size - start for seg, start in segments)
        digest = hashlib.sha256()
        try:
            with self._lock:
                if self.finished:
                    raise BundleError("bundle already finished")
                self._ensure_parents(path)
                info = tarfile.TarInfo(f"{self.top}/{path}")
                info.size = size
                info.mode = 0o644
                info.mtime = int(time.time())
                try:
                    self._add_member(info, _HashingReader(segments, digest))
                except OSError as exc:
                    raise self._guard(exc) from exc
                record = FileRecord(path, size, digest.hexdigest(), source, dict(redactions or {}))
                self.records.append(record)
                self._paths.add(record.path)
                return record
        finally:
            for seg, _ in segments:
                seg.unlink(missing_ok=True)

    def add_bytes(self, path: str, data: bytes, source: str, redactions: dict[str, int] | None = None) -> FileRecord:
        spool = self.spool(path, source)
        try:
            spool.write(data)
        except OSError as exc:
            spool.discard()
            raise self._guard(exc) from exc
        return self.commit(spool, redactions)

    def finish(self, manifest: dict[str, Any], *, redact: Callable[[str], str] | None = None,
               gate: Callable[[str], str | None] | None = None) -> Path:
        """Write the manifest as the last member, close the stream and move it into place.
        ``redact``: applied to the manifest's JSON text (every byte of a bundle is redacted, the
        manifest too: an error message may hold a credential); ``gate``: a reason to refuse the
        manifest (BundleError), or None."""
        manifest = dict(manifest)
        manifest["files"] = [
            {"path": r.path, "size": r.size, "sha256": r.sha256, "source": r.source, "redactions": r.redactions}
            for r in self.records
        ]
        text = json.dumps(manifest, indent=2, sort_keys=False, default=str) + "\n"
        if redact is not None:
            clean = redact(text)
            try:
                json.loads(clean)
            except ValueError as exc:
                raise BundleError("the manifest is no longer JSON once redacted; no bundle was written") from exc
            text = clean
        if gate is not None:
            reason = gate(text)
            if reason is not None:
                raise BundleError(reason)
        data = text.encode()
        with self._lock:
            info = tarfile.TarInfo(f"{self.top}/manifest.json")
            info.size = len(data)
            info.mode = 0o644
            info.mtime = int(time.time())
            try:
                self._add_member(info, io.BytesIO(data))
                # the end of the archive: two zero blocks, then zeros up to a whole tar record
                end = self._tar_bytes + 2 * _BLOCK
                self._zstd.write(bytes(-(-end // tarfile.RECORDSIZE) * tarfile.RECORDSIZE - self._tar_bytes))
                self._zstd.close()  # (ends the last frame)
                self._raw.flush()
                os.fsync(self._raw.fileno())
                self._raw.close()
            except OSError as exc:
                raise self._guard(exc) from exc
            self.finished = True
        self.output = self._place()
        _TEMPORARIES.discard(self._temp_output)
        shutil.rmtree(self.spool_dir, ignore_errors=True)
        _TEMPORARIES.discard(self.spool_dir)
        return self.output

    def _place(self) -> Path:
        """Link the finished archive to its name (the next free ``<stem>-N`` if a file appeared
        there meanwhile); never replaces a file."""
        candidates = [self.output, *(_numbered(self.output, n) for n in range(2, MAX_UNIQUE))]
        for candidate in candidates:
            try:
                os.link(self._temp_output, candidate)
            except FileExistsError:
                continue
            except OSError:  # no hard links here (some filesystems): rename, checking first
                if candidate.exists():
                    continue
                os.rename(self._temp_output, candidate)
            else:
                self._temp_output.unlink()
            if candidate != self.output:
                self.warnings.append(f"{self.output} appeared while collecting; this bundle is kept as {candidate}")
            return candidate
        raise BundleError(f"no free name next to {self.output}; the bundle is kept as {self._temp_output}")

    def abort(self) -> None:
        """Remove everything written so far (used only when no bundle can be produced)."""
        locked = self._lock.acquire(timeout=5)  # a source thread stuck in a write must not hold us
        try:
            self.finished = True
            try:
                self._raw.close()
            except (OSError, ValueError):
                pass
        finally:
            if locked:
                self._lock.release()
        self._temp_output.unlink(missing_ok=True)
        shutil.rmtree(self.spool_dir, ignore_errors=True)
        _TEMPORARIES.discard(self._temp_output)
        _TEMPORARIES.discard(self.spool_dir)



def partial_name(output: Path) -> Path:
    """The hidden temporary name a bundle is written under (it also reserves the final name)."""
    return output.with_name(f".{output.name}.partial")


def _numbered(output: Path, n: int) -> Path:
    return output.with_name(f"{output.name[: -len('.tar.zst')]}-{n}.tar.zst")


def _reserve(output: Path) -> tuple[int, Path]:
    """Reserve the first free name among ``output``, ``<stem>-2`` ...: (open temp file, name)."""
    for candidate in [output, *(_numbered(output, n) for n in range(2, MAX_UNIQUE))]:
        if candidate.exists():
            continue
        try:
            fd = _open_private(partial_name(candidate))
        except FileExistsError:
            continue
        except OSError as exc:
            if exc.errno in _DISK_FULL:
                raise DiskFullError(f"the disk holding {output.parent} is full; free some space or pass "
                                    "--output on another disk") from exc
            raise BundleError(f"cannot create {partial_name(candidate)}: {exc.strerror}") from exc
        _TEMPORARIES.add(partial_name(candidate))
        return fd, candidate
    raise BundleError(f"no free name next to {output}; clean up the folder or pass another --output")


class _HashingReader(io.RawIOBase):
    """Reads the concatenated tails of several files, feeding a hash as it goes."""

    def __init__(self, segments: list[tuple[Path, int]], digest: Any) -> None:
        self._segments = list(segments)
        self._digest = digest
        self._fh: Any = None

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        while True:
            if self._fh is None:
                if not self._segments:
                    return b""
                seg, start = self._segments.pop(0)
                self._fh = open(seg, "rb")  # noqa: SIM115 - closed below
                self._fh.seek(start)
            data = self._fh.read(size if size > 0 else _COPY_CHUNK)
            if data:
                self._digest.update(data)
                return data
            self._fh.close()
            self._fh = None

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        super().close()


#: The concatenated tails of several files (a log spool's parts) as one stream.
SegmentsReader = _HashingReader
