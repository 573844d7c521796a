"""`nodediag inspect BUNDLE`: what a bundle holds and what was redacted where, never a value.

Reads only the manifest (the last member; the archive is streamed, file contents are skipped) and
lays out: the collection (tool, times, window, status, containers), every source with its status,
every file with its size and redaction counts by kind with the line numbers they were found on,
and the re-redaction history. ``--json`` prints the same as one JSON object.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nodediag.bundle.limits import DEFAULT_LIMITS, Limits
from nodediag.bundle.manifest import MANIFEST, Manifest
from nodediag.bundle.reader import BundleReadError, check_regular_input, load_manifest, manifest_of
from nodediag.bundle.terminal import visible

_SHOWN_LINES = 12


class InspectError(Exception):
    """The input is not a readable nodediag bundle; the message says why."""


def read_bundle_manifest(path: Path, limits: Limits = DEFAULT_LIMITS) -> Manifest:
    """The manifest of a ``.tar.zst`` bundle or of an extracted bundle folder."""
    try:
        check_regular_input(path, folder_ok=True)
        if not path.is_dir():
            return manifest_of(path, limits)
        manifest_path = path / MANIFEST
        check_regular_input(manifest_path, "an extracted bundle folder (with manifest.json)")
        with manifest_path.open("rb") as fh:
            raw = fh.read(limits.max_json_bytes + 1)
        if len(raw) > limits.max_json_bytes:
            raise BundleReadError(f"{manifest_path} is larger than the --max-json-bytes cap of "
                                  f"{limits.max_json_bytes:,} bytes: if the bundle is genuine, raise the cap")
        return load_manifest(raw, path, limits)
    except BundleReadError as exc:
        if not path.is_dir() or (path / MANIFEST).exists():
            raise InspectError(str(exc)) from None
        raise InspectError(f"{path} is a folder without manifest.json: not an extracted nodediag bundle") from None


def file_redacted_lines(manifest: Manifest | dict[str, Any], entry: Any) -> dict[str, list[int]]:
    """Line numbers by kind for one files[] entry: its own ``redacted_lines`` or the manifest's
    ``redaction.redacted_lines`` map (older bundles have neither)."""
    own = entry.get("redacted_lines")
    if isinstance(own, dict):
        return own
    by_path = (manifest.get("redaction") or {}).get("redacted_lines") or {}
    found = by_path.get(entry.get("path")) if isinstance(by_path, dict) else None
    return found if isinstance(found, dict) else {}


def inspection(manifest: Manifest | dict[str, Any]) -> dict[str, Any]:
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
        for problem in rr.get("damaged_input") or []:
            out.append(f"    from a DAMAGED input (--allow-damaged): {problem}")
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
    review = [(f.get("path"), (f.get("redacted_lines") or {}).get("ambiguous") or [])
              for f in files if (f.get("redactions") or {}).get("ambiguous")]
    if review:
        out.append("For review (kind ambiguous: only an entropy guess called these values secret; each was "
                   "redacted where it stood and NOT removed elsewhere):")
        out.extend(f"  {path}" + (f" ({_lines_text(lines)})" if lines else "") for path, lines in review)
    totals = redaction.get("totals") or {}
    out.append("Redaction: " + (", ".join(f"{k} {v}" for k, v in sorted(totals.items())) or "nothing found")
               + f"; leak check {redaction.get('leak_check', 'unknown')}")
    # every value came from the bundle: control and bidi characters are shown, never obeyed
    return "\n".join(visible(line) for line in out) + "\n"
