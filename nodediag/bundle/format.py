"""The bundle format in code: the contract between collect and analyze (prose: docs/bundle-format.md).

A bundle is a tar stream compressed with Zstandard, one top folder, ``manifest.json`` in it listing
every other file with its size and sha256. Every command that reads or writes a bundle takes its
constants, its layout and its manifest check from here, so a format change is one edit.
"""

from __future__ import annotations

from nodediag.bundle.manifest import (  # noqa: F401 - the format's names, importable from here as before
    FORMAT,
    FORMAT_VERSION,
    MANIFEST,
    Manifest,
    ManifestError,
    check_manifest,
    parse_manifest,
)

OWN_FRAME_BYTES = 1 << 20  # members this large are written in a Zstandard frame of their own


def container_dir(name: str) -> str:
    """The folder of one container's files, relative to the bundle's top folder."""
    return f"containers/{name}"


def container_log(name: str) -> str:
    return f"{container_dir(name)}/logs.txt"
