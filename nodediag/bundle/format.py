"""The bundle format in code: the contract between collect and analyze (prose: docs/bundle-format.md).

A bundle is a tar stream compressed with Zstandard, one top folder, ``manifest.json`` in it listing
every other file with its size and sha256. Every command that reads or writes a bundle takes its
constants, its layout and its manifest check from here, so a format change is one edit.
"""

from __future__ import annotations

import json
from typing import Any

FORMAT = "nodediag-bundle"
FORMAT_VERSION = 1  # written by this nodediag; every version up to it is read
MANIFEST = "manifest.json"
OWN_FRAME_BYTES = 1 << 20  # members this large are written in a Zstandard frame of their own
MAX_MANIFEST_BYTES = 64 * 1024 * 1024


class ManifestError(ValueError):
    """manifest.json is unusable; the message says why in words for the user."""


def container_dir(name: str) -> str:
    """The folder of one container's files, relative to the bundle's top folder."""
    return f"containers/{name}"


def container_log(name: str) -> str:
    return f"{container_dir(name)}/logs.txt"


def parse_manifest(data: bytes | str) -> dict[str, Any]:
    """Parse manifest.json and check its format and version: the one place where that is decided."""
    try:
        manifest = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise ManifestError(f"manifest.json is not valid JSON ({exc}); the bundle is damaged") from exc
    return check_manifest(manifest)


def check_manifest(manifest: object) -> dict[str, Any]:
    if not isinstance(manifest, dict):
        raise ManifestError("manifest.json is not a JSON object; the bundle is damaged")
    fmt = manifest.get("format")
    if fmt != FORMAT:
        raise ManifestError(f"manifest format is {fmt!r}, not {FORMAT!r}: not a nodediag bundle")
    version = manifest.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int):
        raise ManifestError(f"manifest has no valid format_version ({version!r}); the bundle is damaged")
    if version > FORMAT_VERSION:
        raise ManifestError(f"is a bundle of format_version {version}, but this nodediag reads up to "
                            f"format_version {FORMAT_VERSION}: upgrade nodediag")
    return manifest
