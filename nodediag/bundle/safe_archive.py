"""Read untrusted archives safely: bounded decompression, refused hostile members.

Nothing here trusts a size written in a header: every cap counts the bytes actually produced
by the decompressor, so a compression bomb stops at the cap without filling memory or disk.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import stat
import tarfile
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO, cast

import zstandard

ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1024 * 1024


class ArchiveError(Exception):
    """A problem with the input, worded for the user (one line). inputs.py turns it into InputError."""


class CapExceeded(ArchiveError):
    pass


def cap_message(which: str, limit: int) -> str:
    if which == "bytes":
        return (f"expands to more than {limit:,} bytes, the --max-bytes cap: "
                f"if the input is genuine, raise the cap, e.g. --max-bytes {limit * 2}")
    return (f"holds more than {limit:,} files, the --max-files cap: "
            f"if the input is genuine, raise the cap, e.g. --max-files {limit * 2}")


class CappedReader:
    """A read()-only view of a binary stream that raises CapExceeded past ``limit`` bytes and can
    look at its first bytes without consuming them."""

    def __init__(self, raw: BinaryIO, limit: int) -> None:
        self._raw = raw
        self._limit = limit
        self._pushback = b""
        self.count = 0

    def _pull(self, size: int) -> bytes:
        data = self._raw.read(size)
        self.count += len(data)
        if self.count > self._limit:
            raise CapExceeded(cap_message("bytes", self._limit))
        return data

    def peek(self, size: int) -> bytes:
        while len(self._pushback) < size:
            data = self._pull(size - len(self._pushback))
            if not data:
                break
            self._pushback += data
        return self._pushback[:size]

    def readinto(self, buffer: memoryview) -> int:
        """Like ``read(len(buffer))``, into ``buffer``: the same bytes, counted the same way."""
        if self._pushback:
            count = min(len(buffer), len(self._pushback))
            buffer[:count] = self._pushback[:count]
            self._pushback = self._pushback[count:]
            return count
        readinto = getattr(self._raw, "readinto", None)
        if readinto is None:
            data = self._pull(len(buffer))
            buffer[:len(data)] = data
            return len(data)
        count = readinto(buffer)
        self.count += count
        if self.count > self._limit:
            raise CapExceeded(cap_message("bytes", self._limit))
        return count

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            parts = [self._pushback]
            self._pushback = b""
            while data := self._pull(_CHUNK):
                parts.append(data)
            return b"".join(parts)
        if self._pushback:
            data, self._pushback = self._pushback[:size], self._pushback[size:]
            return data
        return self._pull(size)


def check_zstd_frames(path: Path) -> None:
    """Walk the Zstandard frame and block headers (without decompressing) and raise ArchiveError
    when the file ends inside a frame: the decompressor alone reports a truncated file as a
    clean end of data."""
    with path.open("rb") as fh:
        for _ in zstd_frames(fh, path.stat().st_size):
            pass


def zstd_frames(fh: BinaryIO, size: int) -> Iterator[tuple[int, int, int | None]]:
    """The Zstandard frames of the file ``fh`` (``size`` bytes), skippable ones left out, as
    (offset, length, content size recorded in the frame header or None), found from the frame and
    block headers alone. ArchiveError when the file ends inside a frame or is not Zstandard."""
    pos = 0
    while pos < size:
        fh.seek(pos)
        magic = fh.read(4)
        if len(magic) < 4:
            raise ArchiveError("ends in the middle of a Zstandard frame header (truncated)")
        number = int.from_bytes(magic, "little")
        if 0x184D2A50 <= number <= 0x184D2A5F:  # skippable frame
            length = fh.read(4)
            if len(length) < 4:
                raise ArchiveError("ends inside a Zstandard skippable frame (truncated)")
            pos += 8 + int.from_bytes(length, "little")
            if pos > size:
                raise ArchiveError("ends inside a Zstandard skippable frame (truncated)")
            continue
        if magic != ZSTD_MAGIC:
            raise ArchiveError(f"has data that is not Zstandard at byte {pos}")
        end, content = _skip_zstd_frame(fh, pos + 4, size)
        yield pos, end - pos, content
        pos = end


def _skip_zstd_frame(fh: BinaryIO, pos: int, size: int) -> tuple[int, int | None]:
    """The end of the frame whose header starts at ``pos`` (after the magic), and its content
    size when the header records it."""
    descriptor = fh.read(1)
    if not descriptor:
        raise ArchiveError("ends in the middle of a Zstandard frame header (truncated)")
    fhd = descriptor[0]
    fcs_flag, single_segment, checksum, did_flag = fhd >> 6, (fhd >> 5) & 1, (fhd >> 2) & 1, fhd & 3
    if (fhd >> 3) & 1:
        raise ArchiveError("has a corrupt Zstandard frame header")
    fcs_size = (1 if single_segment else 0, 2, 4, 8)[fcs_flag]
    fcs_at = 1 + (0 if single_segment else 1) + (0, 1, 2, 4)[did_flag]
    header = fcs_at + fcs_size
    content = None
    if fcs_size:
        fh.seek(pos + fcs_at)
        raw = fh.read(fcs_size)
        if len(raw) < fcs_size:
            raise ArchiveError("ends in the middle of a Zstandard frame header (truncated)")
        content = int.from_bytes(raw, "little") + (256 if fcs_size == 2 else 0)
    pos += header
    while True:
        fh.seek(pos)
        block = fh.read(3)
        if len(block) < 3:
            raise ArchiveError("ends in the middle of a Zstandard frame (truncated download or copy?)")
        value = int.from_bytes(block, "little")
        last, block_type, block_size = value & 1, (value >> 1) & 3, value >> 3
        if block_type == 3:
            raise ArchiveError("has a corrupt Zstandard block")
        pos += 3 + (1 if block_type == 1 else block_size)
        if pos > size:
            raise ArchiveError("ends in the middle of a Zstandard frame (truncated download or copy?)")
        if last:
            break
    pos += 4 if checksum else 0
    if pos > size:
        raise ArchiveError("ends before the Zstandard checksum (truncated download or copy?)")
    return pos, content


def open_decompressed(path: Path, fh: BinaryIO, head: bytes) -> BinaryIO:
    """Return a stream of the decompressed bytes for a .zst/.gz file, the file itself otherwise."""
    if head.startswith(ZSTD_MAGIC):
        check_zstd_frames(path)
        return cast(BinaryIO, zstandard.ZstdDecompressor().stream_reader(fh, read_across_frames=True))
    if head.startswith(GZIP_MAGIC):
        return gzip.GzipFile(fileobj=fh, mode="rb")  # type: ignore[return-value]
    return fh


DECOMPRESS_ERRORS = (zstandard.ZstdError, gzip.BadGzipFile, EOFError, zlib.error)


def describe_decompress_error(exc: BaseException) -> str:
    if isinstance(exc, zstandard.ZstdError):
        return f"is corrupt: its Zstandard data does not decompress ({exc})"
    if isinstance(exc, EOFError):
        return "ends before its compressed data does (truncated download or copy?)"
    return f"is corrupt: its compressed data does not decompress ({exc})"


def looks_like_tar(block: bytes) -> bool:
    """True when ``block`` starts with a tar header (ustar magic or a valid header checksum)."""
    if len(block) < 512:
        return False
    if block[257:262] == b"ustar":
        return True
    try:
        stored = int(block[148:156].replace(b"\x00", b" ").strip() or b"-1", 8)
    except ValueError:
        return False
    unsigned = sum(block[:148]) + 8 * 32 + sum(block[156:512])
    return stored == unsigned


def member_problem(member: tarfile.TarInfo) -> str | None:
    name = member.name
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        return "has an absolute path"
    if ".." in name.replace("\\", "/").split("/"):
        return "has a '..' path component (path traversal)"
    if member.issym() or member.islnk():
        return f"is a {'symbolic' if member.issym() else 'hard'} link (to {member.linkname!r})"
    if member.ischr() or member.isblk():
        return "is a device file"
    if member.isfifo():
        return "is a FIFO"
    if not (member.isreg() or member.isdir()):
        return f"has an unsupported type ({member.type!r})"
    if "\x00" in name:
        return "has a NUL byte in its name"
    return None


_HEADER_LIMIT = 1024 * 1024  # pax / GNU long-name headers are read into memory: keep them small


class BoundedTarInfo(tarfile.TarInfo):
    """Refuses extended headers larger than ``header_limit`` before tarfile reads them into memory."""

    header_limit = _HEADER_LIMIT

    def _proc_member(self, tarfile_: tarfile.TarFile) -> tarfile.TarInfo:
        extended = (tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE,
                    tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK)
        if self.type in extended and self.size > self.header_limit:
            raise ArchiveError(f"holds an extended tar header of {self.size:,} bytes, more than the "
                               f"--max-header-bytes cap of {self.header_limit:,} (hostile or corrupt archive): "
                               "refused")
        return super()._proc_member(tarfile_)  # type: ignore[misc]

    @classmethod
    def frombuf(cls, buf: bytes, encoding: str, errors: str) -> tarfile.TarInfo:  # type: ignore[override]
        # tarfile ends the iteration silently on a short or invalid header after the first one:
        # for an untrusted archive that is a truncated or corrupt file, and must be said.
        try:
            return super().frombuf(buf, encoding, errors)
        except (tarfile.EmptyHeaderError, tarfile.TruncatedHeaderError) as exc:  # type: ignore[attr-defined]
            raise ArchiveError("ends in the middle of the archive (truncated download or copy?)") from exc
        except tarfile.InvalidHeaderError as exc:  # type: ignore[attr-defined]
            raise ArchiveError(f"is corrupt: an invalid tar header ({exc})") from exc


def stream_limit(max_bytes: int, max_files: int) -> int:
    """Cap for the raw (decompressed) tar stream: the content cap plus room for headers."""
    return max_bytes + 1024 * max_files + _CHUNK


def read_chunks(source: BinaryIO) -> Iterator[bytes]:
    """``source`` read in chunks of 1 MiB."""
    while chunk := source.read(_CHUNK):
        yield chunk


def make_private_dirs(dest: Path, folder: Path) -> None:
    """Create ``folder`` under ``dest`` (0700 each); ArchiveError when a part exists as a file."""
    current = dest
    for part in folder.relative_to(dest).parts:
        current = current / part
        try:
            os.mkdir(current, 0o700)
        except FileExistsError:
            if not stat.S_ISDIR(os.lstat(current).st_mode):
                raise ArchiveError(f"holds {part!r} both as a file and as a folder: refused, "
                                   "the archive was not analysed") from None


def write_member(chunks: Iterable[bytes | memoryview], target: Path, name: str, content: int,
                 max_bytes: int, digest: hashlib._Hash | None = None) -> int:
    """Write ``chunks`` to the new file ``target``, counting ``content`` against ``max_bytes`` before
    each chunk is written; feed ``digest`` with what is written. Return the new content count."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(target, flags, 0o600)
    except FileExistsError:
        raise ArchiveError(f"holds the member {name!r} twice: refused, the archive was not analysed") from None
    with os.fdopen(fd, "wb") as out:
        for chunk in chunks:
            content += len(chunk)
            if content > max_bytes:
                raise CapExceeded(cap_message("bytes", max_bytes))
            if digest is not None:
                digest.update(chunk)
            out.write(chunk)
    return content


def copy_capped(source: BinaryIO, target: Path, max_bytes: int) -> int:
    """Copy a (decompressed) stream to a new private file, stopping at ``max_bytes``."""
    return write_member(read_chunks(source), target, target.name, 0, max_bytes)


def remove_tree(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)


def bounded_tarinfo(header_limit: int) -> type[BoundedTarInfo]:
    """A BoundedTarInfo class refusing extended headers over ``header_limit`` bytes."""
    if header_limit == _HEADER_LIMIT:
        return BoundedTarInfo
    return type("BoundedTarInfo", (BoundedTarInfo,), {"header_limit": header_limit})
