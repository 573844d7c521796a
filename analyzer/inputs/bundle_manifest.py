"""Check a bundle's manifest.json and verify every file it lists (size and sha256).

A bad checksum or a missing file is not fatal: it becomes a DataGap, so the report says what it
cannot see instead of refusing the whole bundle.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any, cast

from nodediag.analyzer.model import DataGap
from nodediag.bundle.format import ManifestError, parse_manifest
from nodediag.bundle.limits import current_limits
from nodediag.bundle.safe_archive import ArchiveError

GAP_SOURCE_STATUSES = ("failed", "timeout", "skipped", "truncated")
_SOURCE_STATUS_DETAIL = {
    "failed": "the collector could not gather it",
    "timeout": "the collector gave up on it after its timeout",
    "skipped": "the collector skipped it",
    "truncated": "its output hit the size cap; only the newest part was kept",
}
_HASH_CHUNK = 1024 * 1024
# a source skipped because its container is not running hides nothing: a stopped container has
# no processes to list and no /status to probe (its state is in inspect.json)
_NOT_A_GAP = re.compile(r"^(container is (?!removed)\w+|no running container)", re.I)


def read_manifest(path: Path) -> dict[str, Any]:
    """Parse manifest.json and check format and version; raise ArchiveError when unusable."""
    limits = current_limits()
    try:
        with path.open("rb") as fh:
            data = fh.read(limits.max_json_bytes + 1)
        if len(data) > limits.max_json_bytes:
            raise ArchiveError(f"has a manifest.json larger than the --max-json-bytes cap of "
                               f"{limits.max_json_bytes:,} bytes: if the bundle is genuine, raise the cap")
        return cast(dict[str, Any], parse_manifest(data, limits))
    except OSError as exc:
        raise ArchiveError(f"has a manifest.json that cannot be read ({exc.strerror or exc})") from exc
    except ManifestError as exc:
        raise ArchiveError(f"has an unusable manifest: {exc}") from exc


def _safe_relative(path: object) -> str | None:
    if not isinstance(path, str) or not path or path.startswith(("/", "\\")):
        return None
    parts = path.split("/")
    if ".." in parts or "" in parts:
        return None
    return path


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def verify_bundle(root: Path, manifest: dict[str, Any], present: list[str],
                  digests: dict[str, tuple[int, str]] | None = None,
                  later: frozenset[str] = frozenset()) -> tuple[list[DataGap], list[str]]:
    """Compare the files in ``root`` with the manifest. Return (gaps, warnings).

    ``digests`` maps a file (relative to ``root``) to the (size, sha256 hex) measured as it was
    extracted into ``root``; such a file is not read again. Any other file is measured on disk,
    but for those of ``later``: present, measured when they are read (see ``verify_read``)."""
    digests = digests or {}
    gaps: list[DataGap] = []
    warnings: list[str] = []
    listed: set[str] = set()
    present_set = set(present)
    entries = manifest.get("files")
    if not isinstance(entries, list):
        entries = []
        warnings.append("manifest.json lists no files, so no file could be verified")
    source_gaps = _source_gaps(manifest)
    explained = {f for gap in source_gaps if gap.status in ("failed", "timeout") for f in gap.files}
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        raw_path = entry.get("path")
        rel = _safe_relative(raw_path)
        source = str(entry.get("source") or raw_path or "")
        if rel is None:
            gaps.append(DataGap(source=source, status="missing",
                                detail=f"the manifest lists an unsafe path {raw_path!r}; it was not read",
                                files=[str(raw_path)]))
            continue
        listed.add(rel)
        if rel not in present_set:
            if rel in explained:  # its source's failure is already a gap
                continue
            gaps.append(DataGap(source=source, status="missing",
                                detail=f"{rel} is listed in the manifest but not in the bundle",
                                files=[rel]))
            continue
        if rel in later:
            continue
        gap = _check_file(root / rel, rel, source, entry, digests.get(rel))
        if gap:
            gaps.append(gap)
    gaps.extend(source_gaps)
    unlisted = sorted(present_set - listed - {"manifest.json"})
    if unlisted and entries:
        shown = ", ".join(unlisted[:5]) + (f" and {len(unlisted) - 5} more" if len(unlisted) > 5 else "")
        warnings.append(f"{len(unlisted)} file(s) in the bundle are not listed in its manifest "
                        f"(added after collection?): {shown}")
    status = manifest.get("status")
    if status in ("interrupted", "deadline"):
        why = "was interrupted (Ctrl-C or SIGTERM)" if status == "interrupted" else "ran out of time (--timeout)"
        warnings.append(f"the collection {why}: the bundle holds only what was gathered before it stopped")
    return gaps, warnings


def verify_read(manifest: dict[str, Any], rel: str, measured: tuple[int, str]) -> DataGap | None:
    """The gap, if any, between what the manifest says of ``rel`` and its (size, sha256 hex)
    measured as it was read; None as well when the manifest does not list it."""
    for entry in manifest.get("files") or []:
        if isinstance(entry, dict) and _safe_relative(entry.get("path")) == rel:
            source = str(entry.get("source") or rel)
            return _check_file(Path(rel), rel, source, entry, measured)
    return None


def _check_file(path: Path, rel: str, source: str, entry: dict[str, Any],
                known: tuple[int, str] | None = None) -> DataGap | None:
    try:
        size = known[0] if known else path.stat().st_size
        expected_size = entry.get("size")
        if isinstance(expected_size, int) and size != expected_size:
            return DataGap(source=source, status="checksum-mismatch",
                           detail=f"{rel} is {size} bytes, the manifest says {expected_size}: "
                                  "it was changed or damaged after collection", files=[rel])
        expected_hash = entry.get("sha256")
        if isinstance(expected_hash, str) and (known[1] if known else _sha256(path)) != expected_hash.lower():
            return DataGap(source=source, status="checksum-mismatch",
                           detail=f"{rel} does not match its sha256 in the manifest: "
                                  "it was changed or damaged after collection", files=[rel])
    except OSError as exc:
        return DataGap(source=source, status="missing", detail=f"{rel} cannot be read ({exc})",
                       files=[rel])
    return None


def _source_gaps(manifest: dict[str, Any]) -> list[DataGap]:
    gaps: list[DataGap] = []
    sources = manifest.get("sources")
    if not isinstance(sources, list):
        return gaps
    for source in sources:
        if not isinstance(source, dict) or source.get("status") not in GAP_SOURCE_STATUSES:
            continue
        status = str(source["status"])
        error = source.get("error")
        if status == "skipped" and _NOT_A_GAP.match(str(error or "")):
            continue
        detail = str(error) if error else _SOURCE_STATUS_DETAIL[status]
        files = [str(f) for f in source.get("files") or [] if isinstance(f, str)]
        gaps.append(DataGap(source=str(source.get("name") or "?"), status=status, detail=detail,
                            files=files))
    return gaps
