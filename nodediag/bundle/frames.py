"""Members a bundle holds in Zstandard frames of their own, read straight from the bundle.

The collector writes each large member (a container's logs) as one frame that holds exactly the
member's tar header, data and padding, with that length in the frame header (docs/bundle-format.md).
``own_frames`` finds such frames by walking the frame and block headers and decompressing only
each frame's first tar header; the rest of the bundle is then extracted without them
(``SkippingReader``), and each is read on its own, by whichever process scans it
(``FrameMemberReader``): several in parallel, none written to disk. Any other bundle (one frame,
or frames that do not hold exactly one member) is extracted as a whole, as before.

Nothing here trusts a header more than extraction does: a member is taken only when its name is a
container's logs.txt that extraction would accept, its frame's recorded length is exactly the
member's, and its bytes are counted against the same caps; its sha256 is checked against the
manifest once it has been read, and the frame's own checksum by the decompressor.
"""

from __future__ import annotations

import hashlib
import io
import re
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, cast

import zstandard

from nodediag.bundle.format import OWN_FRAME_BYTES
from nodediag.bundle.safe_archive import (
    DECOMPRESS_ERRORS,
    ArchiveError,
    BoundedTarInfo,
    describe_decompress_error,
    member_problem,
    zstd_frames,
)

OWN_FRAME_MIN = OWN_FRAME_BYTES  # smaller frames are extracted with the rest
_HEAD = 64 * 1024  # decompressed to read a frame's first tar header (a pax header and the ustar one)
_LOGS = re.compile(r"(?:[^/]+/)?containers/[^/]+/logs\.txt")
_READ = 1 << 20


@dataclass(frozen=True, slots=True)
class OwnFrame:
    """A member alone in one frame of ``bundle``: the frame at ``offset`` (``length`` bytes), the
    member's data at ``data_offset`` in what it decompresses to, ``size`` bytes long."""

    bundle: str
    name: str  # the member's path in the archive, normalised as extraction does
    offset: int
    length: int
    data_offset: int
    size: int


def own_frames(path: Path) -> list[OwnFrame]:
    """The container logs of the Zstandard file ``path`` that sit alone in frames of their own, in
    file order. ArchiveError when the file ends inside a frame (as check_zstd_frames)."""
    found = []
    with path.open("rb") as fh:
        for offset, length, content in zstd_frames(fh, path.stat().st_size):
            if content is None or content < OWN_FRAME_MIN or content % tarfile.BLOCKSIZE:
                continue
            member = _first_member(fh, offset, length)
            if member is None or member_problem(member) is not None or not member.isreg():
                continue
            name = "/".join(part for part in member.name.split("/") if part not in ("", "."))
            padded = -(-member.size // tarfile.BLOCKSIZE) * tarfile.BLOCKSIZE
            if (member.sparse is None and _LOGS.fullmatch(name)
                    and member.offset_data + padded == content):
                found.append(OwnFrame(str(path), name, offset, length, member.offset_data, member.size))
    return found


def _first_member(fh: BinaryIO, offset: int, length: int) -> tarfile.TarInfo | None:
    """The first tar member of the frame at ``offset``, from its first decompressed bytes; None
    when they hold no readable header."""
    fh.seek(offset)
    decompressor = zstandard.ZstdDecompressor().decompressobj()
    head = b""
    left = length
    try:
        while len(head) < _HEAD and left > 0:
            chunk = fh.read(min(left, 16384))
            if not chunk:
                return None
            left -= len(chunk)
            head += decompressor.decompress(chunk)
    except zstandard.ZstdError:
        return None  # extraction will say what is wrong with it
    try:
        with tarfile.open(fileobj=io.BytesIO(head), mode="r:", tarinfo=BoundedTarInfo) as archive:
            return archive.next()
    except (tarfile.TarError, ArchiveError):
        return None


class SkippingReader(io.RawIOBase):
    """The bytes of ``raw`` but for the ranges of ``skip`` ((offset, length), ascending): whole
    Zstandard frames, so what remains is a Zstandard stream of its own."""

    def __init__(self, raw: BinaryIO, skip: list[tuple[int, int]]) -> None:
        self._raw = raw
        self._skip = list(skip)
        self._pos = raw.tell()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        while self._skip and self._pos >= self._skip[0][0]:
            offset, length = self._skip.pop(0)
            self._pos = max(self._pos, offset + length)
            self._raw.seek(self._pos)
        want = len(buffer)
        if self._skip:
            want = min(want, self._skip[0][0] - self._pos)
        count = self._raw.readinto(memoryview(buffer)[:want])  # type: ignore[attr-defined]
        self._pos += count or 0
        return count or 0


class FrameMemberReader(io.RawIOBase):
    """The data of an OwnFrame, decompressed as it is read (a raw binary file: ``readinto``),
    with its sha256; ``finish()`` checks that the frame ends right after the member and returns
    (size, sha256 hex). Decompression problems raise ArchiveError, worded for the user."""

    def __init__(self, frame: OwnFrame) -> None:
        super().__init__()
        self.frame = frame
        self._fh = open(frame.bundle, "rb")  # noqa: SIM115 - closed by close()
        self._fh.seek(frame.offset)
        self._reader = zstandard.ZstdDecompressor().stream_reader(cast(BinaryIO, Window(self._fh, frame.length)),
                                                                  read_across_frames=False)
        self._digest = hashlib.sha256()
        self._left = frame.size
        self._skip(frame.data_offset)

    def readable(self) -> bool:
        return True

    def _decompress(self, buffer: memoryview) -> int:
        try:
            count = self._reader.readinto(buffer)
        except DECOMPRESS_ERRORS as exc:
            raise ArchiveError(describe_decompress_error(exc)) from exc
        if not count and len(buffer):
            raise ArchiveError(f"ends in the middle of {self.frame.name} (truncated or corrupt)")
        return count

    def _skip(self, count: int) -> None:
        with memoryview(bytearray(min(count, _READ) or 1)) as scratch:
            while count > 0:
                count -= self._decompress(scratch[:count])

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        """Decompress up to len(buffer) bytes of the member into ``buffer``; 0 at its end."""
        with memoryview(buffer) as view:
            want = min(len(view), self._left)
            if want <= 0:
                return 0
            count = self._decompress(view[:want])
            self._digest.update(view[:count])
        self._left -= count
        return count

    def finish(self) -> tuple[int, str]:
        """Read what is left of the member and its padding; check the frame ends there."""
        with memoryview(bytearray(_READ)) as scratch:
            while self._left:
                self.readinto(scratch)
        self._skip(-self.frame.size % tarfile.BLOCKSIZE)
        with memoryview(bytearray(1)) as one:
            try:
                extra = self._reader.readinto(one)
            except DECOMPRESS_ERRORS as exc:
                raise ArchiveError(describe_decompress_error(exc)) from exc
        if extra:
            raise ArchiveError(f"holds more than {self.frame.name} in its frame: corrupt")
        return self.frame.size, self._digest.hexdigest()

    def close(self) -> None:
        self._fh.close()
        super().close()


class Window(io.RawIOBase):
    """``length`` bytes of ``fh`` from where it stands (a frame of a bundle, or its frames that
    are whole)."""

    def __init__(self, fh: BinaryIO, length: int) -> None:
        self._fh = fh
        self._left = length

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        want = min(len(buffer), self._left)
        if want <= 0:
            return 0
        count = self._fh.readinto(memoryview(buffer)[:want]) or 0  # type: ignore[attr-defined]
        self._left -= count
        return count


__all__ = ["FrameMemberReader", "OWN_FRAME_MIN", "OwnFrame", "SkippingReader", "own_frames"]
