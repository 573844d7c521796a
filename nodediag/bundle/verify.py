"""`nodediag verify BUNDLE`: check the archive's structure and every member's size and sha256
against the manifest.

One streaming pass (``BundleReader``: the manifest is the last member), so memory stays flat and a
bundle of any size verifies within the caps of ``Limits``. Structure counts as much as checksums: a
file cut short (even by one byte), data after the last frame, a member present twice or a second
top-level folder is a problem, as is a file that differs from the manifest. Pure Python: no Docker.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from nodediag.bundle.limits import DEFAULT_LIMITS, Limits
from nodediag.bundle.manifest import MANIFEST, Manifest
from nodediag.bundle.reader import (
    BundleMember,
    BundleReader,
    BundleReadError,
    load_manifest,
    read_manifest_member,
)
from nodediag.bundle.terminal import visible


class VerifyError(Exception):
    """The bundle cannot be read at all (not a bundle, truncated, corrupt, over a cap)."""


@dataclass
class VerifyReport:
    files_checked: int = 0
    problems: list[str] = field(default_factory=list)
    manifest: Manifest = field(default_factory=lambda: Manifest())

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_bundle(path: Path, limits: Limits = DEFAULT_LIMITS,
                  on_member: Callable[[BundleMember], bool] | None = None,
                  on_data: Callable[[BundleMember, bytes], None] | None = None) -> VerifyReport:
    """Verify ``path``. Structural damage and checksum differences are ``problems``; an input that
    cannot be read at all raises VerifyError. ``on_member(member)`` returning True asks for the
    member's bytes, handed to ``on_data`` whole (callers keep it to small files: config)."""
    reader = BundleReader(path, limits, strict=False)
    seen: dict[str, tuple[int, str]] = {}
    manifest_bytes: bytes | None = None
    try:
        for member, data in reader.members():
            if member.rel == MANIFEST:
                manifest_bytes = read_manifest_member(data, limits)
                continue
            wanted = on_member(member) if on_member else False
            seen[member.rel] = _digest(data, member, on_data if wanted else None)
        if manifest_bytes is None:
            raise BundleReadError(f"{path} has no manifest.json: not a nodediag bundle, or cut short")
        manifest = load_manifest(manifest_bytes, path, limits)
    except BundleReadError as exc:
        raise VerifyError(str(exc)) from None
    report = VerifyReport(manifest=manifest)
    report.problems.extend(f"the archive {problem}" for problem in reader.damage)
    listed = set()
    for entry in manifest.get("files") or []:
        rel = entry["path"]
        listed.add(rel)
        shown = visible(rel)
        if rel not in seen:
            report.problems.append(f"{shown}: listed in the manifest but missing from the archive")
            continue
        size, digest = seen[rel]
        report.files_checked += 1
        if size != entry["size"]:
            report.problems.append(f"{shown}: size {size} differs from the manifest's {entry['size']}")
        elif digest != entry["sha256"].lower():
            report.problems.append(f"{shown}: sha256 differs from the manifest (the file was changed or damaged)")
    unlisted = sorted(set(seen) - listed)
    for rel in unlisted[:20]:
        report.problems.append(f"{visible(rel)}: in the archive but not listed in the manifest")
    if len(unlisted) > 20:
        report.problems.append(f"... and {len(unlisted) - 20} more file(s) not listed in the manifest")
    return report


def _digest(data: BinaryIO, member: BundleMember,
            on_data: Callable[[BundleMember, bytes], None] | None) -> tuple[int, str]:
    digest, size = hashlib.sha256(), 0
    kept: list[bytes] = []
    while chunk := data.read(1 << 20):
        digest.update(chunk)
        size += len(chunk)
        if on_data is not None:
            kept.append(chunk)
    if on_data is not None:
        on_data(member, b"".join(kept))
    return size, digest.hexdigest()
