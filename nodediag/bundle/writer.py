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

The archive is written to a hidden temporary name in the output folder and renamed into place
only once the manifest (the last member) is written: a reader never sees half a bundle under the
final name, and an existing file is never overwritten.
"""

from __future__ import annotations

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

_COPY_CHUNK = 1 << 20
_BLOCK = tarfile.BLOCKSIZE


class BundleError(Exception):
    """The bundle cannot be written: the message says why and what to do."""


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
        fd, name = tempfile.mkstemp(dir=directory, prefix="spool-")
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

    def __init__(self, output: Path, top: str, spool_dir: Path, level: int = 3) -> None:
        self.output = output
        self.top = top
        self.spool_dir = spool_dir
        self.records: list[FileRecord] = []
        self._lock = threading.Lock()
        self._temp_output = output.with_name(f".{output.name}.partial-{os.getpid()}")
        self._raw = open(self._temp_output, "xb")  # noqa: SIM115 - closed in finish/abort
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
    def create(cls, output: Path, level: int = 3) -> BundleWriter:
        """Open a new bundle at ``output``; refuse to overwrite; check the folder is writable."""
        output = output.expanduser()
        if output.exists():
            raise BundleError(f"{output} already exists; choose another name with --output")
        folder = output.parent if str(output.parent) else Path(".")
        if not folder.is_dir():
            raise BundleError(f"output folder {folder} does not exist; create it or pass another --output")
        if not os.access(folder, os.W_OK | os.X_OK):
            raise BundleError(f"cannot write to {folder}: permission denied; pass --output in a writable folder")
        name = output.name
        if not name.endswith(".tar.zst"):
            raise BundleError(f"output name {name!r} must end in .tar.zst")
        try:
            spool_dir = Path(tempfile.mkdtemp(prefix=".nodediag-spool-", dir=folder))
        except OSError as exc:
            raise BundleError(f"cannot write to {folder}: {exc.strerror}; pass --output in a writable folder") from exc
        try:
            return cls(output, name[: -len(".tar.zst")], spool_dir, level)
        except OSError as exc:
            shutil.rmtree(spool_dir, ignore_errors=True)
            raise BundleError(f"cannot create {output}: {exc.strerror}") from exc

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
                if any(r.path == spool.path for r in self.records):
                    raise ValueError(f"duplicate bundle path {spool.path}")
                self._ensure_parents(spool.path)
                info = tarfile.TarInfo(f"{self.top}/{spool.path}")
                info.size = spool.size
                info.mode = 0o644
                info.mtime = int(time.time())
                with open(spool.temp_path, "rb") as fh:
                    self._add_member(info, fh)
                record = FileRecord(spool.path, spool.size, spool.sha256, spool.source, dict(redactions or {}))
                self.records.append(record)
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
                self._add_member(info, _HashingReader(segments, digest))
                record = FileRecord(path, size, digest.hexdigest(), source, dict(redactions or {}))
                self.records.append(record)
                return record
        finally:
            for seg, _ in segments:
                seg.unlink(missing_ok=True)

    def add_bytes(self, path: str, data: bytes, source: str, redactions: dict[str, int] | None = None) -> FileRecord:
        spool = self.spool(path, source)
        spool.write(data)
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
            self._add_member(info, io.BytesIO(data))
            # the end of the archive: two zero blocks, then zeros up to a whole tar record
            end = self._tar_bytes + 2 * _BLOCK
            self._zstd.write(bytes(-(-end // tarfile.RECORDSIZE) * tarfile.RECORDSIZE - self._tar_bytes))
            self._zstd.close()  # (ends the last frame)
            self._raw.flush()
            os.fsync(self._raw.fileno())
            self._raw.close()
            self.finished = True
        try:
            # link+unlink instead of rename: never replaces a file that appeared meanwhile
            os.link(self._temp_output, self.output)
        except FileExistsError as exc:
            raise BundleError(
                f"{self.output} appeared while collecting; the bundle is kept as {self._temp_output}"
            ) from exc
        except OSError:
            if self.output.exists():
                raise
            os.rename(self._temp_output, self.output)
        else:
            self._temp_output.unlink()
        shutil.rmtree(self.spool_dir, ignore_errors=True)
        return self.output

    def abort(self) -> None:
        """Remove everything written so far (used only when no bundle can be produced)."""
        with self._lock:
            self.finished = True
            try:
                self._raw.close()
            except OSError:
                pass
        self._temp_output.unlink(missing_ok=True)
        shutil.rmtree(self.spool_dir, ignore_errors=True)



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
