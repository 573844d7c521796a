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
from collections.abc import Callable, Iterable, Iterator
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


_RECORD = tarfile.RECORDSIZE  # tarfile's stream mode ("r|") pulls its input in steps of this size


class _ForwardReader:
    """A forward-only view of a tar stream, for ``tarfile.open(mode="r:")``: tarfile reads headers
    through ``read``/``seek``/``tell`` and the extraction loop takes member data with ``chunks``.

    It pulls ``source`` exactly as far as tarfile's stream mode would (whole 10 KiB records, never
    further ahead), so every cap counted by ``source`` stops at the same byte; but it pulls many
    records per call into one reused buffer and hands member data out as views of it, without
    stream mode's per-record reads, joins and copies. Seeking backwards is refused, as in stream
    mode.
    """

    def __init__(self, source: BinaryIO) -> None:
        self._source = source
        self._readinto = getattr(source, "readinto", None)
        self._buffer = bytearray()
        self._view = memoryview(self._buffer)
        self._start = 0  # pulled, not yet consumed: _buffer[_start:_end], stream bytes from _pos on
        self._end = 0
        self._pos = 0

    def tell(self) -> int:
        return self._pos

    def seek(self, pos: int) -> int:
        if pos < self._pos:
            raise tarfile.StreamError("seeking backwards is not allowed")
        while self._pos < pos and self._take(min(pos - self._pos, _CHUNK)):
            pass  # skipped bytes are pulled (and counted) like any others, then dropped
        return self._pos

    def read(self, size: int) -> bytes:
        if size < 0:  # a hostile negative header size: slice the pulled bytes as stream mode does
            keep = min(-size, self._end - self._start)
            data = bytes(self._view[self._start:self._end - keep])
            self._start += len(data)
            self._pos += len(data)
            return data
        return bytes(self._take(size))

    def chunks(self, size: int) -> Iterator[memoryview]:
        """The next ``size`` bytes (a member's data) in chunks of _CHUNK bytes, each a view valid
        until the next call; tarfile.ReadError when the stream ends first."""
        while size > 0:
            wanted = min(size, _CHUNK)
            chunk = self._take(wanted)
            if len(chunk) != wanted:
                raise tarfile.ReadError("unexpected end of data")
            size -= wanted
            yield chunk

    def _take(self, size: int) -> memoryview:
        """Consume up to ``size`` bytes (fewer only at the end of the stream)."""
        have = self._end - self._start
        if have < size:
            self._fill(size - have)
            size = min(size, self._end - self._start)
        chunk = self._view[self._start:self._start + size]
        self._start += size
        self._pos += size
        return chunk

    def _fill(self, missing: int) -> None:
        have = self._end - self._start
        if have and self._start:
            self._view[:have] = self._view[self._start:self._end]
        self._start, self._end = 0, have
        while missing > 0:
            want = -(-missing // _RECORD) * _RECORD  # whole records, as many as stream mode would pull
            if len(self._buffer) < self._end + want:
                grown = bytearray(self._end + want)
                grown[:self._end] = self._view[:self._end]
                self._buffer, self._view = grown, memoryview(grown)
            if self._readinto is not None:
                count = self._readinto(self._view[self._end:self._end + want])
            else:
                data = self._source.read(want)
                count = len(data)
                self._view[self._end:self._end + count] = data
            if not count:
                break
            self._end += count
            missing -= count


def extract_tar_stream(stream: BinaryIO, dest: Path, *, max_bytes: int, max_files: int,
                       on_member: Callable[[str], None] | None = None,
                       digests: dict[str, tuple[int, str]] | None = None,
                       counted: tuple[int, int] = (0, 0), header_limit: int = _HEADER_LIMIT) -> list[str]:
    """Extract a tar stream into ``dest`` (an empty private folder), refusing links, devices,
    FIFOs, absolute paths and '..'; stop at ``max_files`` members or ``max_bytes`` of content.
    Return the extracted regular files' relative paths. Raise ArchiveError naming the member.
    When ``digests`` is given, it receives each extracted file's (size, sha256 hex), computed
    from the bytes as they were written. ``counted``: the members and bytes of content already
    counted against the caps (the archive's members read elsewhere)."""
    files: list[str] = []
    members, content = counted
    reader = _ForwardReader(stream)
    try:
        tarinfo = bounded_tarinfo(header_limit)
        with tarfile.open(fileobj=reader, mode="r:", tarinfo=tarinfo) as archive:  # type: ignore[call-overload]
            for member in archive:
                members += 1
                if members > max_files:
                    raise CapExceeded(cap_message("files", max_files))
                problem = member_problem(member)
                if problem:
                    raise ArchiveError(f"holds a member {member.name!r} that {problem}: refused, "
                                       "the archive was not analysed")
                rel = "/".join(part for part in member.name.split("/") if part not in ("", "."))
                if not rel:
                    continue
                target = dest.joinpath(*rel.split("/"))
                if member.isdir():
                    _make_dirs(dest, target)
                    continue
                if content + member.size > max_bytes:  # refused before a byte is written (the
                    raise CapExceeded(cap_message("bytes", max_bytes))  # bytes are counted as well)
                _make_dirs(dest, target.parent)
                if member.sparse is not None:  # tarfile fills the holes
                    source = archive.extractfile(member)
                    if source is None:
                        raise ArchiveError(f"holds a member {member.name!r} that cannot be read")
                    chunks: Iterable[bytes | memoryview] = _read_chunks(source)
                else:
                    chunks = _member_chunks(reader, member)
                digest = hashlib.sha256() if digests is not None else None
                written = _write_member(chunks, target, member.name, content, max_bytes, digest)
                if digests is not None and digest is not None:
                    digests[rel] = (written - content, digest.hexdigest())
                content = written
                try:  # the member's own time: an archive without dated lines is dated by it
                    os.utime(target, (member.mtime, member.mtime))
                except (OSError, OverflowError, ValueError):
                    pass
                files.append(rel)
                if on_member:
                    on_member(rel)
    except tarfile.ReadError as exc:
        text = str(exc)
        if "unexpected end" in text or "truncated" in text:
            raise ArchiveError("ends in the middle of a file (truncated download or copy?)") from exc
        if members == 0:
            raise ArchiveError(f"is not a readable tar archive ({text})") from exc
        raise ArchiveError(f"is corrupt after {members} members ({text})") from exc
    except tarfile.TarError as exc:
        raise ArchiveError(f"is not a readable tar archive ({exc})") from exc
    if not members:
        raise ArchiveError("is an empty archive")
    return files


def _member_chunks(reader: _ForwardReader, member: tarfile.TarInfo) -> Iterator[memoryview]:
    if member.size > 0:
        reader.seek(member.offset_data)
        yield from reader.chunks(member.size)


def _read_chunks(source: BinaryIO) -> Iterator[bytes]:
    while chunk := source.read(_CHUNK):
        yield chunk


def _make_dirs(dest: Path, folder: Path) -> None:
    current = dest
    for part in folder.relative_to(dest).parts:
        current = current / part
        try:
            os.mkdir(current, 0o700)
        except FileExistsError:
            if not stat.S_ISDIR(os.lstat(current).st_mode):
                raise ArchiveError(f"holds {part!r} both as a file and as a folder: refused, "
                                   "the archive was not analysed") from None


def _write_member(chunks: Iterable[bytes | memoryview], target: Path, name: str, content: int,
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
    return _write_member(_read_chunks(source), target, target.name, 0, max_bytes)


def remove_tree(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)


def bounded_tarinfo(header_limit: int) -> type[BoundedTarInfo]:
    """A BoundedTarInfo class refusing extended headers over ``header_limit`` bytes."""
    if header_limit == _HEADER_LIMIT:
        return BoundedTarInfo
    return type("BoundedTarInfo", (BoundedTarInfo,), {"header_limit": header_limit})
