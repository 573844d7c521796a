"""manifest.json, typed and checked in one place: every command that reads a bundle (verify,
inspect, redact, analyze) parses it here, so a malformed manifest is refused in one line naming
the field, never met later as a traceback.

The schema lists the keys the readers use, with their types; keys it does not know are kept and
ignored (docs/bundle-format.md: "a reader ignores keys it does not know"), and keys added in later
releases of format version 1 are optional, so bundles written by earlier versions still read.
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict, cast

from nodediag.bundle.limits import DEFAULT_LIMITS, Limits
from nodediag.bundle.schema import (
    ANY,
    BOOL,
    INT,
    NUM,
    STR,
    ListOf,
    MapOf,
    Obj,
    OneOf,
    SchemaError,
    check,
    load_checked,
    optional,
)

FORMAT = "nodediag-bundle"
FORMAT_VERSION = 1  # written by this nodediag; every version up to it is read
MANIFEST = "manifest.json"

BundleStatus = Literal["complete", "interrupted", "deadline"]
SourceStatus = Literal["ok", "failed", "timeout", "skipped", "truncated"]
BUNDLE_STATUSES: tuple[BundleStatus, ...] = ("complete", "interrupted", "deadline")
SOURCE_STATUSES: tuple[SourceStatus, ...] = ("ok", "failed", "timeout", "skipped", "truncated")


class ManifestError(ValueError):
    """manifest.json is unusable; the message says why in words for the user (one line)."""


class ToolInfo(TypedDict, total=False):
    name: str
    version: str


class FileEntry(TypedDict, total=False):
    path: str  # always present (required by the schema), as are size and sha256
    size: int
    sha256: str
    source: str | None
    redactions: dict[str, int]
    redacted_lines: dict[str, list[int]]


class SourceEntry(TypedDict, total=False):
    name: str
    status: SourceStatus
    duration_s: float | None
    error: str | None
    files: list[str]


class ReRedaction(TypedDict, total=False):
    at: str
    tool_version: str
    operator_secrets: int
    patterns: int
    redact_ips: bool
    input: str
    damaged_input: list[str]  # what `verify` found wrong with the input, when --allow-damaged took it
    key_id: str  # the placeholder key of this re-redaction (see Redaction.key_id)
    key_source: str


class Redaction(TypedDict, total=False):
    placeholder: str
    totals: dict[str, int]
    secrets_known: int
    leak_check: str
    unredacted: bool
    operator_secrets: int
    patterns: int
    redact_ips: bool
    redacted_lines: dict[str, dict[str, list[int]]]
    secret_files: list[str]
    re_redacted: list[ReRedaction]
    # the placeholder key: its id (an HMAC of a constant, never the key) and how it was chosen
    # (nodediag/redaction/host_key.py); absent in bundles of earlier versions
    key_id: str
    key_source: str
    key_note: str
    late_rewritten_files: int  # files rewritten because a secret was learnt after they were redacted


class Manifest(TypedDict, total=False):
    format: str
    format_version: int
    tool: ToolInfo
    created_at: str | None
    finished_at: str | None
    command_line: list[str] | None
    window: dict[str, str | None] | None
    host: dict[str, Any]
    deployment: dict[str, Any] | None
    options: dict[str, Any] | None
    status: BundleStatus
    sources: list[SourceEntry]
    files: list[FileEntry]
    redaction: Redaction
    converted_from: dict[str, Any] | None  # kind, input; for the guide: made_at, made_from, dated_lines


_TEXT = optional(STR)
_LINES = MapOf(ListOf(INT))
_SCHEMA = Obj({
    "format": STR,
    "format_version": INT,
    "tool": optional(Obj({"name": _TEXT, "version": _TEXT})),
    "created_at": _TEXT,
    "finished_at": _TEXT,
    "command_line": optional(ListOf(STR)),
    "window": optional(Obj({"since": _TEXT, "until": _TEXT})),
    "host": optional(Obj({"hostname": _TEXT, "os": _TEXT, "kernel": _TEXT, "cpus": optional(INT),
                          "memory_bytes": optional(INT), "python": _TEXT})),
    "deployment": optional(Obj({
        "chosen": _TEXT, "docker_error": _TEXT,
        "containers": ListOf(Obj({key: _TEXT for key in ("name", "id", "role", "how", "image", "state",
                                                          "project", "service")})),
        "config_files": ListOf(Obj({"path": _TEXT, "bundle_path": _TEXT, "kind": _TEXT})),
    })),
    "options": optional(MapOf(ANY)),
    "status": OneOf(BUNDLE_STATUSES),
    "sources": ListOf(Obj({"name": STR, "status": OneOf(SOURCE_STATUSES), "duration_s": optional(NUM),
                           "error": _TEXT, "files": ListOf(STR)}, required=frozenset({"name", "status"}))),
    "files": ListOf(Obj({"path": STR, "size": INT, "sha256": STR, "source": _TEXT, "redactions": MapOf(INT),
                         "redacted_lines": _LINES}, required=frozenset({"path", "size", "sha256"}))),
    "redaction": optional(Obj({
        "placeholder": _TEXT, "totals": MapOf(INT), "secrets_known": INT, "leak_check": _TEXT,
        "unredacted": BOOL, "operator_secrets": INT, "patterns": INT, "redact_ips": BOOL,
        "redacted_lines": MapOf(_LINES), "secret_files": ListOf(STR), "late_rewritten_files": INT,
        "re_redacted": ListOf(Obj({"at": _TEXT, "tool_version": _TEXT, "operator_secrets": INT,
                                   "patterns": INT, "redact_ips": BOOL, "input": _TEXT,
                                   "damaged_input": ListOf(STR), "key_id": _TEXT, "key_source": _TEXT})),
        "key_id": _TEXT, "key_source": _TEXT, "key_note": _TEXT,
    })),
    "converted_from": optional(Obj({"kind": _TEXT, "input": _TEXT, "made_at": _TEXT, "made_from": _TEXT,
                                    "dated_lines": optional(INT)})),
}, required=frozenset({"format", "format_version"}))


def parse_manifest(data: bytes | str, limits: Limits = DEFAULT_LIMITS) -> Manifest:
    """Parse manifest.json within ``limits`` and check format, version and every known field."""
    try:
        value = load_checked(data, MANIFEST, Obj({"format": ANY, "format_version": ANY}), limits)
    except SchemaError as exc:
        raise ManifestError(f"{exc}; the bundle is damaged") from None
    return check_manifest(value)


def check_manifest(manifest: object) -> Manifest:
    """Check an already parsed manifest: the format and version first (so that an older or newer
    bundle gets the message about versions), then the schema."""
    if not isinstance(manifest, dict):
        raise ManifestError("manifest.json is not a JSON object; the bundle is damaged")
    fmt = manifest.get("format")
    if fmt != FORMAT:
        shown = repr(fmt)[:60] if isinstance(fmt, str) else f"not a string ({type(fmt).__name__})"
        raise ManifestError(f"manifest format is {shown}, not {FORMAT!r}: not a nodediag bundle")
    version = manifest.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int):
        raise ManifestError(f"manifest.json: format_version is {repr(version)[:40]}, expected an integer; "
                            "the bundle is damaged")
    if version > FORMAT_VERSION:
        raise ManifestError(f"is a bundle of format_version {version}, but this nodediag reads up to "
                            f"format_version {FORMAT_VERSION}: upgrade nodediag")
    problems = check(manifest, _SCHEMA)
    if problems:
        more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
        raise ManifestError(f"manifest.json: {problems[0]}{more}; the bundle is damaged")
    return cast(Manifest, manifest)
