"""The streaming reader of a ``.tar.zst`` bundle that verify, inspect and redact share.

One pass over the archive, in constant memory, within ``Limits``:

- the input must be a regular file (a FIFO or a device would block or never end);
- the Zstandard frames are walked from their headers first: a file cut short (even by one byte)
  or with data after its last frame is damaged;
- tar headers are bounded (``--max-header-bytes``), members counted (``--max-files``) and the
  expanded bytes counted as they are produced (``--max-bytes``), never trusting a header's size;
- links, devices, FIFOs, absolute paths and ``..`` are refused outright (hostile);
- a second top-level folder and a member present twice are *damage*: fatal when ``strict``,
  otherwise recorded in ``damage`` and left out (the first copy is kept), so that
  ``redact --allow-damaged`` can still take what is sound and say what was not.

``analyze`` reads through it too, with ``layout="any"``: any tar archive (Zstandard, gzip or
none), its members named from the archive's root (the analyzer then finds the bundle's folder, or
the manual guide's), and ``skip``: the Zstandard frames of container logs it reads on its own
(nodediag/bundle/frames.py), counted against the caps by ``counted``.

Every problem is a BundleReadError whose message is one line meant for the user.
"""

from __future__ import annotations

import gzip
import io
import os
import stat
import tarfile
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal, cast

import zstandard

from nodediag.bundle.frames import SkippingReader, Window
from nodediag.bundle.limits import DEFAULT_LIMITS, Limits
from nodediag.bundle.manifest import MANIFEST, Manifest, ManifestError, parse_manifest
from nodediag.bundle.safe_archive import (
    GZIP_MAGIC,
    ZSTD_MAGIC,
    ArchiveError,
    CappedReader,
    bounded_tarinfo,
    cap_message,
    member_problem,
    stream_limit,
    zstd_frames,
)
from nodediag.bundle.schema import SchemaError


class BundleReadError(Exception):
    """The input cannot be read as a bundle; ``str()`` is one line saying what and why."""


def check_regular_input(path: Path, what: str = "a bundle (.tar.zst)", folder_ok: bool = False) -> None:
    """Refuse anything but a regular file (or a folder when ``folder_ok``): a FIFO blocks forever,
    a device such as /dev/zero never ends."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise BundleReadError(f"{path} does not exist") from None
    except OSError as exc:
        raise BundleReadError(f"{path} cannot be read ({exc.strerror or exc})") from None
    if stat.S_ISREG(mode) or (folder_ok and stat.S_ISDIR(mode)):
        return
    if stat.S_ISDIR(mode):
        raise BundleReadError(f"{path} is a folder; pass {what}")
    kind = "a FIFO" if stat.S_ISFIFO(mode) else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) \
        else "a socket" if stat.S_ISSOCK(mode) else "not a regular file"
    raise BundleReadError(f"{path} is {kind}: inputs must be regular files or folders; pass {what}")


@dataclass(frozen=True)
class BundleMember:
    name: str  # the path in the archive
    rel: str  # relative to the bundle's top folder (layout "any": to the archive's root)
    size: int  # as the tar header says; the reader delivers exactly this many bytes or fails
    mtime: float = 0.0  # the member's time as the tar header says


#: "bundle": a .tar.zst with one top folder; "any": any tar archive (.tar.zst, .tar.gz, .tar),
#: members named from its root.
Layout = Literal["bundle", "any"]


class BundleReader:
    """One streaming pass over the bundle at ``path`` (see the module docstring)."""

    def __init__(self, path: Path, limits: Limits = DEFAULT_LIMITS, *, strict: bool = True,
                 layout: Layout = "bundle", skip: Sequence[tuple[int, int]] = (),
                 counted: tuple[int, int] = (0, 0)) -> None:
        """``skip``: (offset, length) of whole Zstandard frames, ascending, left out of the pass;
        ``counted``: the members and bytes of content already counted against the caps (those
        frames' members, read elsewhere)."""
        self.path = Path(path)
        self.limits = limits
        self.strict = strict
        self.layout: Layout = layout
        self.skip = list(skip)
        self.counted = counted
        self.damage: list[str] = []
        self.top: str | None = None
        self._count = 0  # members read so far (for the wording of an error)

    def _damaged(self, problem: str) -> None:
        if self.strict:
            raise BundleReadError(f"{self.path} {problem}")
        if problem not in self.damage:
            self.damage.append(problem)

    def _member(self, tar: tarfile.TarFile, member: tarfile.TarInfo, rel: str,
                seen: set[str]) -> tuple[BundleMember, BinaryIO] | None:
        """The member at ``rel`` with its guarded data, or None (damage noted) when ``rel`` came before."""
        if rel in seen:
            self._damaged(f"holds the member {_shown(rel)} twice (the archive was altered)")
            return None
        seen.add(rel)
        data = cast(BinaryIO, tar.extractfile(member) or io.BytesIO(b""))
        guarded = cast(BinaryIO, _Guarded(data, self))
        return BundleMember(member.name, rel, member.size, float(member.mtime)), guarded

    def _fatal(self, problem: str) -> BundleReadError:
        """The error to raise; damage found before (a cut-short frame) explains it best."""
        if self.damage:
            problem = self.damage[0]
        return BundleReadError(f"{self.path} {problem}")

    def _readable_end(self, fh: BinaryIO, size: int) -> int:
        """Where the last whole Zstandard frame ends (the file's size when nothing is wrong)."""
        end = 0
        try:
            for offset, length, _ in zstd_frames(fh, size):
                end = offset + length
        except ArchiveError as exc:
            self._damaged(str(exc))
        return end

    def members(self) -> Iterator[tuple[BundleMember, BinaryIO]]:
        """Regular files in archive order, each with a reader valid until the next is asked for."""
        check_regular_input(self.path)
        seen: set[str] = set()
        count, declared = self.counted
        try:
            with open(self.path, "rb") as fh:
                head = fh.read(4)
                fh.seek(0)
                stream: BinaryIO
                if head == ZSTD_MAGIC:
                    end = self._readable_end(fh, os.fstat(fh.fileno()).st_size)
                    fh.seek(0)
                    raw: BinaryIO = fh
                    if self.skip:  # whole frames left out: what remains is a Zstandard stream of its own
                        raw = cast(BinaryIO, SkippingReader(fh, self.skip))
                        end -= sum(length for offset, length in self.skip if offset + length <= end)
                    window = Window(raw, end)
                    stream = cast(BinaryIO, zstandard.ZstdDecompressor().stream_reader(
                        window, read_across_frames=True))  # type: ignore[arg-type]
                elif self.layout == "bundle":
                    raise BundleReadError(f"{self.path} is not a .tar.zst nodediag bundle (not Zstandard data)")
                elif head[:2] == GZIP_MAGIC:
                    stream = cast(BinaryIO, gzip.GzipFile(fileobj=fh, mode="rb"))
                else:
                    stream = fh
                capped = CappedReader(stream, stream_limit(self.limits.max_bytes, self.limits.max_files))
                tarinfo = bounded_tarinfo(self.limits.max_header_bytes)
                with tarfile.open(fileobj=capped, mode="r|", tarinfo=tarinfo) as tar:  # type: ignore[call-overload]
                    while (member := tar.next()) is not None:
                        tar.members.clear()  # stream mode keeps every header otherwise
                        count += 1
                        self._count += 1
                        if count > self.limits.max_files:
                            raise BundleReadError(f"{self.path} {cap_message('files', self.limits.max_files)}")
                        declared += max(member.size, 0)
                        if declared > self.limits.max_bytes:  # known from the headers: stop before reading
                            raise BundleReadError(f"{self.path} declares {_shown(member.name)} of {member.size:,} "
                                                  f"bytes: it {cap_message('bytes', self.limits.max_bytes)}")
                        problem = member_problem(member)
                        if problem:
                            raise BundleReadError(f"{self.path} holds a member {_shown(member.name)} that "
                                                  f"{problem}: refused")
                        parts = [p for p in member.name.split("/") if p not in ("", ".")]
                        if not parts:
                            continue
                        if self.layout == "any":
                            rel = "/".join(parts)
                            if member.isdir():
                                continue
                            found = self._member(tar, member, rel, seen)
                            if found is not None:
                                yield found
                            continue
                        if self.top is None:
                            self.top = parts[0]
                        if parts[0] != self.top:
                            self._damaged(f"holds a second top-level folder {_shown(parts[0])} beside the "
                                          f"bundle's {_shown(self.top)} (merged from elsewhere?)")
                            continue
                        if member.isdir() or len(parts) < 2:
                            if not member.isdir():
                                self._damaged(f"holds a file {_shown(member.name)} outside the bundle's folder")
                            continue
                        rel = "/".join(parts[1:])
                        found = self._member(tar, member, rel, seen)
                        if found is not None:
                            yield found
                    # read to the end: the last frame's checksum is checked there, and nothing may follow
                    while chunk := capped.read(1 << 20):
                        if chunk.count(0) != len(chunk):
                            self._damaged("holds data after the end of its tar archive (appended?)")
                            break
        except BundleReadError:
            raise
        except _READ_ERRORS as exc:
            raise self.explain(exc) from None
        if count == 0:
            what = "" if self.layout == "any" else ": not a nodediag bundle"
            raise BundleReadError(f"{self.path} is an empty archive{what}")

    def explain(self, exc: BaseException) -> BundleReadError:
        """The one-line error for a failure met while reading the archive."""
        if isinstance(exc, BundleReadError):
            return exc
        if isinstance(exc, ArchiveError):  # a cap, a refused header: says it all
            return BundleReadError(f"{self.path} {exc}")
        if isinstance(exc, zstandard.ZstdError):
            return self._fatal(f"is damaged: its Zstandard data does not decompress ({exc})")
        if isinstance(exc, (gzip.BadGzipFile, zlib.error)):
            return self._fatal(f"is corrupt: its compressed data does not decompress ({exc})")
        if isinstance(exc, tarfile.ReadError):
            text = str(exc)
            if "unexpected end" in text or "truncated" in text:
                return self._fatal("ends in the middle of a file (truncated download or copy?)")
            if self._count == 0:
                return self._fatal(f"is not a readable tar archive ({text})")
            return self._fatal(f"is corrupt after {self._count} members ({text})")
        if isinstance(exc, tarfile.TarError):
            return self._fatal(f"is not a readable tar archive ({exc})")
        return self._fatal("is cut short (truncated download or copy?)")


def read_manifest_member(data: BinaryIO, limits: Limits) -> bytes:
    """The bytes of a manifest.json member, at most ``limits.max_json_bytes`` (refused beyond)."""
    raw = data.read(limits.max_json_bytes + 1)
    if len(raw) > limits.max_json_bytes:
        raise BundleReadError(f"manifest.json is larger than the --max-json-bytes cap of {limits.max_json_bytes:,} "
                              "bytes: if the bundle is genuine, raise the cap")
    return raw


def load_manifest(raw: bytes, path: Path, limits: Limits) -> Manifest:
    """Parse and check a bundle's manifest; BundleReadError naming the bundle and the field."""
    try:
        manifest = parse_manifest(raw, limits)
    except (ManifestError, SchemaError) as exc:
        raise BundleReadError(f"{path}: {exc}") from None
    listed = len(manifest.get("files") or [])
    if listed > limits.max_files:
        raise BundleReadError(f"{path}: manifest.json lists {listed:,} files, more than the --max-files cap of "
                              f"{limits.max_files:,}: if the bundle is genuine, raise the cap")
    return manifest


def manifest_of(path: Path, limits: Limits = DEFAULT_LIMITS) -> Manifest:
    """The manifest of the bundle ``path``, read in one streaming pass (strict)."""
    raw: bytes | None = None
    for member, data in BundleReader(path, limits).members():
        if member.rel == MANIFEST:
            raw = read_manifest_member(data, limits)
    if raw is None:
        raise BundleReadError(f"{path} has no manifest.json: not a nodediag bundle, or cut short")
    return load_manifest(raw, path, limits)


def _shown(text: str) -> str:
    """A name from the archive, quoted, shortened and with control characters made visible."""
    from nodediag.bundle.terminal import visible

    shown = visible(text)
    return repr(shown[:120] + ("..." if len(shown) > 120 else ""))


_READ_ERRORS = (ArchiveError, zstandard.ZstdError, tarfile.TarError, EOFError, gzip.BadGzipFile, zlib.error)


class _Guarded(io.RawIOBase):
    """A member's data whose read errors (a cap reached, corrupt data) become BundleReadError: they
    happen in the caller's read, outside the reader's own loop."""

    def __init__(self, data: BinaryIO, reader: BundleReader) -> None:
        super().__init__()
        self._data = data
        self._reader = reader

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        try:
            return self._data.read(size)
        except _READ_ERRORS as exc:
            raise self._reader.explain(exc) from None

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)
