"""`nodediag redact INPUT -o OUTPUT`: re-redact a bundle, or turn the manual guide's archive into one.

- A v1 bundle (``.tar.zst``) is read twice as a stream: first for its manifest and config files
  (whose secrets are learnt), then file by file through the current rules plus the operator's
  ``--secret`` / ``--secrets-file`` / ``--pattern`` (and ``--redact-ips``) into a new bundle. The
  new manifest keeps the original sources, adds up redaction counts and line numbers, and appends
  an entry to ``redaction.re_redacted``; sizes and sha256 are of the new bytes.
- The manual guide's archive (``aztec_diagnostics.tar.gz``, with the raw ``config.env``) becomes a
  clean v1 bundle: ``config.env`` is learnt first, logs go to ``containers/<role>/logs.txt``.

Memory stays flat: files are redacted in blocks of whole lines and spooled to disk. The output is
never an existing file (nor the input); a secret found in the output leaves no bundle behind.
"""

from __future__ import annotations

import codecs
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Any

import zstandard

from nodediag.bundle.format import FORMAT, FORMAT_VERSION, MANIFEST, ManifestError, check_manifest
from nodediag.bundle.writer import BundleError, BundleWriter
from nodediag.guide import GUIDE_FILES, GUIDE_FOLDER, is_compose_file, is_env_file
from nodediag.redaction import RedactionCounts, Redactor
from nodediag.version import __version__

_BLOCK = 1 << 20
_MAX_CONFIG_BYTES = 4 * 1024 * 1024
_GUIDE_LOG_ROLES = {"prover-node.log": "prover-node", "broker.log": "prover-broker", "agent.log": "prover-agent"}
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


class RedactError(Exception):
    """The input cannot be re-redacted or the output cannot be written; the message says why."""


@dataclass
class RedactOptions:
    input: Path
    output: Path
    secrets: tuple[str, ...] = ()
    patterns: tuple[str, ...] = ()
    redact_ips: bool = False
    command_line: list[str] = field(default_factory=list)


@dataclass
class RedactOutcome:
    path: Path
    size: int
    kind: str  # "bundle" | "manual-guide"
    files: int
    totals: dict[str, int]


@dataclass
class _Member:
    rel: str  # path relative to the top folder (bundle) or the guide folder
    size: int


def _open_members(path: Path, kind: str) -> Iterator[tuple[_Member, IO[bytes]]]:
    """Regular files of the input, in archive order, with a reader for each (valid until the next)."""
    with open(path, "rb") as raw:
        stream: Any = zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True) \
            if kind == "bundle" else raw
        with tarfile.open(fileobj=stream, mode="r|" if kind == "bundle" else "r|*") as tar:
            for member in tar:
                parts = PurePosixPath(member.name).parts
                if not member.isfile() or member.name.startswith("/") or ".." in parts or len(parts) < 2 \
                        and kind == "bundle":
                    continue
                fh = tar.extractfile(member)
                if fh is None:
                    continue
                rel = "/".join(parts[1:]) if kind == "bundle" else "/".join(parts)
                yield _Member(rel, member.size), fh


def detect_kind(path: Path) -> str:
    with open(path, "rb") as fh:
        head = fh.read(4)
    if head == _ZSTD_MAGIC:
        return "bundle"
    if head[:2] == b"\x1f\x8b" or tarfile.is_tarfile(path):
        return "manual-guide"
    raise RedactError(f"{path} is neither a nodediag bundle (.tar.zst) nor the manual guide's archive (.tar.gz)")


def _read_limited(fh: IO[bytes], rel: str) -> str:
    data = fh.read(_MAX_CONFIG_BYTES + 1)
    if len(data) > _MAX_CONFIG_BYTES:
        raise RedactError(f"{rel} is larger than {_MAX_CONFIG_BYTES} bytes: too large for a config file or manifest")
    return data.decode("utf-8", errors="replace")


def _is_config(rel: str) -> bool:
    return is_env_file(rel) or is_compose_file(rel)


def _scan_bundle(path: Path, redactor: Redactor) -> dict[str, Any]:
    import json

    manifest: dict[str, Any] | None = None
    for member, fh in _open_members(path, "bundle"):
        if member.rel == MANIFEST:
            try:
                manifest = json.loads(_read_limited(fh, member.rel))
            except ValueError as exc:
                raise RedactError(f"manifest.json of {path} is not valid JSON ({exc})") from exc
        elif member.rel.startswith("config/") and _is_config(member.rel):
            _learn_config(member.rel, _read_limited(fh, member.rel), redactor)
    if manifest is None:
        raise RedactError(f"{path} has no nodediag manifest: not a nodediag bundle")
    try:
        return check_manifest(manifest)
    except ManifestError as exc:
        raise RedactError(f"{path}: {exc}") from exc


def _learn_config(rel: str, text: str, redactor: Redactor) -> None:
    if is_compose_file(rel):
        redactor.harvest_compose(text)
    else:
        redactor.harvest_env_file(text)


def _guide_root(path: Path) -> tuple[str, list[str]]:
    """(prefix of the guide's folder inside the archive, relative paths of its files)."""
    names = [m.rel for m, _ in _open_members(path, "manual-guide")]
    holding = sorted({n.rsplit("/", 1)[0] if "/" in n else "" for n in names
                      if n.rsplit("/", 1)[-1] in GUIDE_FILES}, key=lambda p: (not p.endswith(GUIDE_FOLDER), len(p)))
    if not holding:
        raise RedactError(f"{path} holds none of the manual guide's files ({', '.join(GUIDE_FILES)})")
    prefix = holding[0] + "/" if holding[0] else ""
    return prefix, [n[len(prefix):] for n in names if n.startswith(prefix)]


def guide_bundle_path(rel: str) -> tuple[str, str]:
    """(bundle path, source name) for a file of the guide's folder."""
    name = rel.rsplit("/", 1)[-1]
    if rel in _GUIDE_LOG_ROLES:
        return f"containers/{_GUIDE_LOG_ROLES[rel]}/logs.txt", f"guide:{rel}"
    if _is_config(rel):
        return f"config/guide/{name}", f"guide:{rel}"
    return f"guide/{rel}", f"guide:{rel}"


class _Output:
    """The new bundle: files are redacted into it block by block, each block through the leak gate."""

    def __init__(self, options: RedactOptions, redactor: Redactor) -> None:
        self.redactor = redactor
        try:
            self.writer = BundleWriter.create(options.output)
        except BundleError as exc:
            raise RedactError(str(exc)) from exc
        self.lines: dict[str, dict[str, list[int]]] = {}

    def _gate(self, text: str, path: str) -> None:
        leaks = self.redactor.find_leaks(text)
        if leaks:
            raise RedactError(f"a secret of kind {', '.join(leaks)} survived redaction in {path}; no bundle was "
                              "written. Please report this to the nodediag maintainers")

    def add(self, path: str, source: str, fh: IO[bytes], config: bool) -> RedactionCounts:
        counts = RedactionCounts()
        spool = self.writer.spool(path, source)
        if config:
            text = _read_limited(fh, path)
            clean = self.redactor.redact_compose(text, counts) if is_compose_file(path) \
                else self.redactor.redact_env_file(text, counts)
            self._gate(clean, path)
            spool.write(clean.encode("utf-8"))
        else:
            stream = self.redactor.stream(counts)
            decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
            pending = ""
            while block := fh.read(_BLOCK):
                pending += decoder.decode(block)
                cut = pending.rfind("\n") + 1 or (len(pending) if len(pending) > 8 * _BLOCK else 0)
                if cut:
                    self._write(spool, stream.feed(pending[:cut]), path)
                    pending = pending[cut:]
            self._write(spool, stream.feed(pending + decoder.decode(b"", final=True)) + stream.close(), path)
        record = self.writer.commit(spool, counts.by_kind)
        if counts.lines_by_kind:
            self.lines[record.path] = {k: sorted(set(v)) for k, v in counts.lines_by_kind.items()}
        return counts

    def _write(self, spool: Any, text: str, path: str) -> None:
        if text:
            self._gate(text, path)
            spool.write(text.encode("utf-8"))


def _merge_lines(old: dict[str, list[int]], new: dict[str, list[int]]) -> dict[str, list[int]]:
    merged = {k: list(v) for k, v in old.items() if isinstance(v, list)}
    for kind, lines in new.items():
        merged[kind] = sorted(set(merged.get(kind, [])) | set(lines))
    return merged


def redact_input(options: RedactOptions, now: str) -> RedactOutcome:
    """Write options.output from options.input; raise RedactError with a one-line reason."""
    src, dst = options.input, options.output
    if not src.exists():
        raise RedactError(f"{src} does not exist")
    if src.is_dir():
        raise RedactError(f"{src} is a folder; pass the bundle (.tar.zst) or the guide's archive (.tar.gz)")
    if dst.exists() or dst.resolve() == src.resolve():
        raise RedactError(f"{dst} already exists; redact never overwrites a file: choose another -o")
    kind = detect_kind(src)
    redactor = Redactor(redact_ips=options.redact_ips, patterns=options.patterns)
    for value in options.secrets:
        redactor.add_secret(value, "literal")
    try:
        if kind == "bundle":
            return _rebundle(options, redactor, now)
        return _convert_guide(options, redactor, now)
    except (zstandard.ZstdError, tarfile.TarError, EOFError) as exc:
        raise RedactError(f"{src} is damaged or cut short ({exc})") from exc


def _re_redaction_entry(options: RedactOptions, now: str) -> dict[str, Any]:
    return {"at": now, "tool_version": __version__, "operator_secrets": len(options.secrets),
            "patterns": len(options.patterns), "redact_ips": options.redact_ips, "input": options.input.name}


def _finish(out: _Output, manifest: dict[str, Any], options: RedactOptions, kind: str) -> RedactOutcome:
    totals: dict[str, int] = {}
    for rec in out.writer.records:
        for k, n in rec.redactions.items():
            totals[k] = totals.get(k, 0) + n
    redaction = manifest.setdefault("redaction", {})
    redaction.update({"totals": totals, "secrets_known": out.redactor.secrets_known, "leak_check": "passed",
                      "redacted_lines": out.lines, "unredacted": False})
    try:
        path = out.writer.finish(manifest)
    except (BundleError, OSError) as exc:
        out.writer.abort()
        raise RedactError(f"could not finish the bundle: {exc}") from exc
    return RedactOutcome(path, path.stat().st_size, kind, len(out.writer.records), totals)


def _rebundle(options: RedactOptions, redactor: Redactor, now: str) -> RedactOutcome:
    manifest = _scan_bundle(options.input, redactor)
    entries = {e.get("path"): e for e in manifest.get("files") or [] if isinstance(e, dict)}
    old_lines = (manifest.get("redaction") or {}).get("redacted_lines") or {}
    out = _Output(options, redactor)
    try:
        for member, fh in _open_members(options.input, "bundle"):
            if member.rel == MANIFEST:
                continue
            entry = entries.get(member.rel, {})
            counts = out.add(member.rel, str(entry.get("source") or "unknown"), fh,
                             config=member.rel.startswith("config/") and _is_config(member.rel))
            record = out.writer.records[-1]
            for k, n in (entry.get("redactions") or {}).items():
                if isinstance(n, int):
                    record.redactions[k] = record.redactions.get(k, 0) + n
            old = old_lines.get(member.rel) if isinstance(old_lines, dict) else None
            if isinstance(old, dict) or counts.lines_by_kind:
                out.lines[record.path] = _merge_lines(old or {}, out.lines.get(record.path, {}))
    except BaseException:
        out.writer.abort()
        raise
    manifest = dict(manifest)
    redaction = dict(manifest.get("redaction") or {})
    redaction["re_redacted"] = [*(redaction.get("re_redacted") or []), _re_redaction_entry(options, now)]
    manifest["redaction"] = redaction
    return _finish(out, manifest, options, "bundle")


def _convert_guide(options: RedactOptions, redactor: Redactor, now: str) -> RedactOutcome:
    prefix, rels = _guide_root(options.input)
    for member, fh in _open_members(options.input, "manual-guide"):  # learn config.env first
        rel = member.rel[len(prefix):] if member.rel.startswith(prefix) else None
        if rel is not None and _is_config(rel):
            _learn_config(rel, _read_limited(fh, rel), redactor)
    out = _Output(options, redactor)
    sources: list[dict[str, Any]] = []
    try:
        for member, fh in _open_members(options.input, "manual-guide"):
            if not member.rel.startswith(prefix):
                continue
            rel = member.rel[len(prefix):]
            path, source = guide_bundle_path(rel)
            out.add(path, source, fh, config=_is_config(rel))
            sources.append({"name": source, "status": "ok", "duration_s": 0.0, "error": None, "files": [path]})
    except BaseException:
        out.writer.abort()
        raise
    roles = sorted({_GUIDE_LOG_ROLES[r] for r in rels if r in _GUIDE_LOG_ROLES})
    cmd = redactor.redact_json({"Cmd": options.command_line}, RedactionCounts())["Cmd"]
    manifest: dict[str, Any] = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "tool": {"name": "nodediag", "version": __version__},
        "created_at": now, "finished_at": now, "command_line": cmd, "window": None, "host": {},
        "deployment": {"chosen": "converted from the manual guide's archive", "docker_error": None,
                       "containers": [{"name": r, "id": "", "role": r, "how": "guide file name", "image": "",
                                       "state": "", "project": "", "service": r} for r in roles],
                       "config_files": []},
        "converted_from": {"kind": "manual-guide", "input": options.input.name},
        "status": "complete", "sources": sources,
        "redaction": {"placeholder": "[REDACTED:<kind>#<tag>]", "operator_secrets": len(options.secrets),
                      "patterns": len(options.patterns), "redact_ips": options.redact_ips,
                      "re_redacted": [_re_redaction_entry(options, now)]},
    }
    return _finish(out, manifest, options, "manual-guide")
