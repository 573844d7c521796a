"""`nodediag verify BUNDLE`: recompute every member's size and sha256 against the manifest.

Reads the archive as a stream (the manifest is the last member), so memory stays flat and a
bundle of any size verifies in one pass. Pure Python: no Docker needed.
"""

from __future__ import annotations

import hashlib
import tarfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import zstandard

from nodediag.bundle.format import MANIFEST, MAX_MANIFEST_BYTES, ManifestError, parse_manifest


class VerifyError(Exception):
    """The bundle cannot be read at all (not a bundle, truncated, corrupt)."""


@dataclass
class VerifyReport:
    files_checked: int = 0
    problems: list[str] = field(default_factory=list)
    manifest: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_bundle(path: Path) -> VerifyReport:
    if not path.exists():
        raise VerifyError(f"{path} does not exist")
    if path.is_dir():
        raise VerifyError(f"{path} is a folder; verify takes the .tar.zst file")
    seen: dict[str, tuple[int, str]] = {}
    manifest_bytes = None
    top = None
    try:
        with open(path, "rb") as raw:
            reader = zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)
            with tarfile.open(fileobj=reader, mode="r|") as tar:
                for member in tar:
                    parts = PurePosixPath(member.name).parts
                    if not parts or member.name.startswith("/") or ".." in parts:
                        raise VerifyError(f"unsafe member path {member.name!r}: not a nodediag bundle")
                    top = top or parts[0]
                    if parts[0] != top:
                        raise VerifyError(f"more than one top-level folder ({top}, {parts[0]})")
                    if member.isdir():
                        continue
                    if not member.isfile():
                        raise VerifyError(f"member {member.name!r} is not a regular file")
                    rel = "/".join(parts[1:])
                    fh = tar.extractfile(member)
                    if fh is None:
                        raise VerifyError(f"member {member.name!r} cannot be read")
                    digest, size = hashlib.sha256(), 0
                    while chunk := fh.read(1 << 20):
                        digest.update(chunk)
                        size += len(chunk)
                        if rel == MANIFEST and size > MAX_MANIFEST_BYTES:
                            raise VerifyError("manifest.json is implausibly large")
                        if rel == MANIFEST:
                            manifest_bytes = (manifest_bytes or b"") + chunk
                    if rel == MANIFEST and manifest_bytes is None:
                        manifest_bytes = b""
                    seen[rel] = (size, digest.hexdigest())
    except zstandard.ZstdError as exc:
        raise VerifyError(f"{path} is not a valid zstd stream or is truncated ({exc})") from exc
    except tarfile.TarError as exc:
        raise VerifyError(f"{path} is not a valid tar archive or is truncated ({exc})") from exc
    except EOFError as exc:
        raise VerifyError(f"{path} is truncated ({exc})") from exc
    if manifest_bytes is None:
        raise VerifyError(f"{path} has no manifest.json: not a nodediag bundle, or cut short")
    try:
        manifest = parse_manifest(manifest_bytes)
    except ManifestError as exc:
        raise VerifyError(str(exc)) from exc
    report = VerifyReport(manifest=manifest)
    listed = set()
    for entry in manifest.get("files", []):
        rel = entry.get("path", "")
        listed.add(rel)
        if rel not in seen:
            report.problems.append(f"{rel}: listed in the manifest but missing from the archive")
            continue
        size, sha256 = seen[rel]
        report.files_checked += 1
        if size != entry.get("size"):
            report.problems.append(f"{rel}: size {size} differs from the manifest's {entry.get('size')}")
        elif sha256 != entry.get("sha256"):
            report.problems.append(f"{rel}: sha256 differs from the manifest (the file was changed or damaged)")
    for rel in sorted(set(seen) - listed - {MANIFEST}):
        report.problems.append(f"{rel}: in the archive but not listed in the manifest")
    return report
