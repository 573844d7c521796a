"""`nodediag inspect BUNDLE`: what a bundle holds and what was redacted where, never a value.

Reads only the manifest (the last member; the archive is streamed, file contents are skipped) and
lays out: the collection (tool, times, window, status, containers), every source with its status,
every file with its size and redaction counts by kind with the line numbers they were found on,
and the re-redaction history. ``--json`` prints the same as one JSON object.
"""

from __future__ import annotations

import tarfile
from pathlib import Path, PurePosixPath
from typing import Any

import zstandard

from nodediag.bundle.format import MANIFEST, MAX_MANIFEST_BYTES, ManifestError, parse_manifest

_SHOWN_LINES = 12


class InspectError(Exception):
    """The input is not a readable nodediag bundle; the message says why."""


def read_bundle_manifest(path: Path) -> dict[str, Any]:
    """The manifest of a ``.tar.zst`` bundle or of an extracted bundle folder."""
    if not path.exists():
        raise InspectError(f"{path} does not exist")
    if path.is_dir():
        manifest_path = path / MANIFEST
        if not manifest_path.is_file():
            raise InspectError(f"{path} is a folder without manifest.json: not an extracted nodediag bundle")
        data = manifest_path.read_bytes()
    else:
        data = _manifest_bytes(path)
    try:
        return parse_manifest(data)
    except ManifestError as exc:
        raise InspectError(f"{path}: {exc}") from exc


def _manifest_bytes(path: Path) -> bytes:
    found: bytes | None = None
    try:
        with open(path, "rb") as raw:
            if raw.read(4) != b"\x28\xb5\x2f\xfd":
                raise InspectError(f"{path} is not a .tar.zst nodediag bundle (not Zstandard data)")
            raw.seek(0)
            reader = zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)
            with tarfile.open(fileobj=reader, mode="r|") as tar:
                for member in tar:
                    parts = PurePosixPath(member.name).parts
                    if member.isfile() and len(parts) == 2 and parts[1] == MANIFEST:
                        if member.size > MAX_MANIFEST_BYTES:
                            raise InspectError("manifest.json is implausibly large")
                        fh = tar.extractfile(member)
                        found = fh.read() if fh else b""
    except (zstandard.ZstdError, tarfile.TarError, EOFError) as exc:
        raise InspectError(f"{path} is damaged or not a nodediag bundle ({exc})") from exc
    if found is None:
        raise InspectError(f"{path} has no manifest.json: not a nodediag bundle, or cut short")
    return found


def file_redacted_lines(manifest: dict[str, Any], entry: dict[str, Any]) -> dict[str, list[int]]:
    """Line numbers by kind for one files[] entry: its own ``redacted_lines`` or the manifest's
    ``redaction.redacted_lines`` map (older bundles have neither)."""
    own = entry.get("redacted_lines")
    if isinstance(own, dict):
        return own
    by_path = (manifest.get("redaction") or {}).get("redacted_lines") or {}
    found = by_path.get(entry.get("path")) if isinstance(by_path, dict) else None
    return found if isinstance(found, dict) else {}


def inspection(manifest: dict[str, Any]) -> dict[str, Any]:
    """What `inspect --json` prints: the manifest's facts, with files' line numbers joined in."""
    redaction = dict(manifest.get("redaction") or {})
    redaction.pop("redacted_lines", None)
    files = []
    for entry in manifest.get("files") or []:
        if isinstance(entry, dict):
            files.append({"path": entry.get("path"), "size": entry.get("size"), "source": entry.get("source"),
                          "redactions": entry.get("redactions") or {},
                          "redacted_lines": file_redacted_lines(manifest, entry)})
    return {
        "format": manifest.get("format"), "format_version": manifest.get("format_version"),
        "tool": manifest.get("tool"), "created_at": manifest.get("created_at"),
        "finished_at": manifest.get("finished_at"), "status": manifest.get("status"),
        "window": manifest.get("window"), "command_line": manifest.get("command_line"),
        "deployment": manifest.get("deployment"), "options": manifest.get("options"),
        "converted_from": manifest.get("converted_from"), "trigger": manifest.get("trigger"),
        "sources": manifest.get("sources") or [], "files": files, "redaction": redaction,
    }


def _lines_text(lines: list[int]) -> str:
    shown = ", ".join(str(n) for n in lines[:_SHOWN_LINES])
    more = f", ... ({len(lines) - _SHOWN_LINES} more)" if len(lines) > _SHOWN_LINES else ""
    return f"line{'s' if len(lines) > 1 else ''} {shown}{more}"


def render_text(path: Path, info: dict[str, Any]) -> str:
    tool = info.get("tool") or {}
    out = [f"Bundle: {path}",
           f"  format v{info.get('format_version')}, nodediag {tool.get('version')}, created {info.get('created_at')}, "
           f"status {info.get('status')}"]
    window = info.get("window") or {}
    if window:
        out.append(f"  window: {window.get('since')} .. {window.get('until')}")
    if info.get("converted_from"):
        out.append(f"  converted from: {info['converted_from'].get('kind')} ({info['converted_from'].get('input')})")
    trigger = info.get("trigger")
    if isinstance(trigger, dict):  # taken by `nodediag watch`
        out.append(f"  trigger: {trigger.get('kind')} at {trigger.get('time')}: {trigger.get('detail')}")
    deployment = info.get("deployment") or {}
    if deployment.get("chosen"):
        out.append(f"  deployment: {deployment['chosen']}")
    for c in deployment.get("containers") or []:
        line = f"    {c.get('name')}  role {c.get('role')}"
        line += f"  image {c['image']}" if c.get("image") else ""
        line += f"  {c['state']}" if c.get("state") else ""
        out.append(line)
    redaction = info.get("redaction") or {}
    for rr in redaction.get("re_redacted") or []:
        verb = "converted and redacted" if info.get("converted_from") else "re-redacted"
        out.append(f"  {verb} {rr.get('at')} by nodediag {rr.get('tool_version')}: "
                   f"{rr.get('operator_secrets', 0)} operator secret(s), {rr.get('patterns', 0)} pattern(s)"
                   f"{', public IPs' if rr.get('redact_ips') else ''}")
    sources = info.get("sources") or []
    out.append(f"Sources ({len(sources)}):")
    for s in sources:
        line = f"  {s.get('status', '?'):<9} {s.get('name')}"
        if s.get("error"):
            line += f"  ({s['error']})"
        out.append(line)
    files = info.get("files") or []
    out.append(f"Files ({len(files)}):")
    for f in files:
        out.append(f"  {f.get('path')}  {f.get('size')} bytes  [{f.get('source')}]")
        lines_by_kind = f.get("redacted_lines") or {}
        for kind, n in sorted((f.get("redactions") or {}).items()):
            lines = lines_by_kind.get(kind) or []
            where = f" ({_lines_text(lines)})" if lines else ""
            out.append(f"      redacted {kind} x{n}{where}")
    totals = redaction.get("totals") or {}
    out.append("Redaction: " + (", ".join(f"{k} {v}" for k, v in sorted(totals.items())) or "nothing found")
               + f"; leak check {redaction.get('leak_check', 'unknown')}")
    return "\n".join(out) + "\n"
