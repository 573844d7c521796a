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

import bz2
import codecs
import dataclasses
import gzip
import lzma
import os
import tarfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import IO, Any, Literal, cast

import zstandard

from nodediag.bundle.format import FORMAT, FORMAT_VERSION, MANIFEST
from nodediag.bundle.held import HeldMembers, LateLeak
from nodediag.bundle.limits import DEFAULT_LIMITS, Limits
from nodediag.bundle.lines import LineCutter
from nodediag.bundle.manifest import Manifest
from nodediag.bundle.reader import BundleMember, BundleReader, BundleReadError, check_regular_input
from nodediag.bundle.safe_archive import ArchiveError, CappedReader, bounded_tarinfo, cap_message, stream_limit
from nodediag.bundle.verify import VerifyError, verify_bundle
from nodediag.bundle.writer import BundleError, BundleWriter, FileRecord
from nodediag.guide import GUIDE_FILES, GUIDE_FOLDER, is_compose_file, is_env_file
from nodediag.guide_dates import MAX_INFO_BYTES, ArchiveTime, DatingReader, LogDating, dates_info_file, log_dating
from nodediag.redaction import RedactionCounts, Redactor
from nodediag.redaction.host_key import RedactionKey
from nodediag.redaction.late import fix_file
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
    allow_damaged: bool = False  # --allow-damaged: take a bundle that fails verify (recorded in the manifest)
    limits: Limits = DEFAULT_LIMITS
    redaction_key: RedactionKey | None = None  # None: a fresh key for this run only


Kind = Literal["bundle", "manual-guide", "log", "folder"]


@dataclass
class RedactOutcome:
    path: Path
    size: int
    kind: Kind
    files: int
    totals: dict[str, int]
    damage: list[str] = field(default_factory=list)  # what verify found wrong with the input (--allow-damaged)


@dataclass
class _Member:
    rel: str  # path relative to the top folder (bundle) or the guide folder
    size: int
    mtime: float | None = None  # the tar member's time (the guide's archive), when known


def _open_members(path: Path, kind: str, limits: Limits = DEFAULT_LIMITS) -> Iterator[tuple[_Member, IO[bytes]]]:
    """Regular files of the input, in archive order, with a reader for each (valid until the next),
    within ``limits``. A bundle is read by the shared BundleReader (a member present twice or a
    second top folder left out: the scan has already refused or recorded them)."""
    if kind == "bundle":
        for member, fh in BundleReader(path, limits, strict=False).members():
            yield _Member(member.rel, member.size), fh
        return
    yield from _guide_members(path, limits)


def _guide_members(path: Path, limits: Limits) -> Iterator[tuple[_Member, IO[bytes]]]:
    """The manual guide's .tar.gz (or .tar): decompressed and counted within ``limits``; links,
    devices and unsafe paths are skipped."""
    count = 0
    try:
        with open(path, "rb") as raw:
            head = raw.read(6)
            raw.seek(0)
            stream: Any = raw
            if head.startswith(b"\x1f\x8b"):
                stream = gzip.GzipFile(fileobj=raw, mode="rb")
            elif head.startswith(b"BZh"):
                stream = bz2.BZ2File(raw)
            elif head.startswith(b"\xfd7zXZ\x00"):
                stream = lzma.LZMAFile(raw)  # noqa: SIM115 - closed with raw, by the with above
            capped = CappedReader(stream, stream_limit(limits.max_bytes, limits.max_files))
            with tarfile.open(fileobj=capped, mode="r|", tarinfo=bounded_tarinfo(limits.max_header_bytes)) as tar:  # type: ignore[call-overload]
                while (member := tar.next()) is not None:
                    tar.members.clear()  # stream mode keeps every header otherwise
                    count += 1
                    if count > limits.max_files:
                        raise RedactError(f"{path} {cap_message('files', limits.max_files)}")
                    parts = PurePosixPath(member.name).parts
                    if not member.isfile() or member.name.startswith("/") or ".." in parts:
                        continue
                    fh = tar.extractfile(member)
                    if fh is not None:
                        yield _Member("/".join(parts), member.size, float(member.mtime)), fh
    except ArchiveError as exc:
        raise RedactError(f"{path} {exc}") from None
    except (gzip.BadGzipFile, zlib.error, EOFError, OSError, lzma.LZMAError) as exc:
        raise RedactError(f"{path} cannot be read or does not decompress (damaged or cut short?): "
                          f"{getattr(exc, 'strerror', None) or exc}") from None


def _decompressed_head(path: Path, head: bytes) -> bytes:
    with open(path, "rb") as fh:
        try:
            if head[:4] == _ZSTD_MAGIC:
                # the first frame holds the first tar header; what follows is for the reader to judge
                return zstandard.ZstdDecompressor().stream_reader(fh, read_across_frames=False).read(65536)
            if head[:2] == b"\x1f\x8b":
                return gzip.GzipFile(fileobj=fh).read(65536)
        except (zstandard.ZstdError, OSError, EOFError) as exc:
            raise RedactError(f"{path} is damaged or cut short ({exc})") from exc
    return head


def _is_tar(head: bytes) -> bool:
    return len(head) >= 262 and head[257:262] == b"ustar"


def _is_text(head: bytes) -> bool:
    if not head or b"\x00" in head:
        return False
    decoded = head.decode("utf-8", errors="replace")
    bad = decoded.count("\ufffd") + sum(1 for ch in decoded if ord(ch) < 32 and ch not in "\t\n\r\x1b\x08\x0c")
    return bad <= max(4, len(decoded) // 100)


def detect_kind(path: Path) -> Kind:
    """bundle | manual-guide | log | folder, by content (a folder by being one)."""
    if path.is_dir():
        return "folder"
    with open(path, "rb") as fh:
        head = fh.read(65536)
    inner = _decompressed_head(path, head)
    if head[:4] == _ZSTD_MAGIC and _is_tar(inner):
        return "bundle"
    if _is_tar(inner) or (head[:4] != _ZSTD_MAGIC and tarfile.is_tarfile(path)):
        return "manual-guide"
    if _is_text(inner):
        return "log"
    raise RedactError(f"{path} is neither a nodediag bundle (.tar.zst), the manual guide's archive (.tar.gz), "
                      "a folder nor a text log file")


def _read_limited(fh: IO[bytes], rel: str) -> str:
    data = fh.read(_MAX_CONFIG_BYTES + 1)
    if len(data) > _MAX_CONFIG_BYTES:
        raise RedactError(f"{rel} is larger than {_MAX_CONFIG_BYTES} bytes: too large for a config file or manifest")
    return data.decode("utf-8", errors="replace")


def _is_config(rel: str) -> bool:
    return is_env_file(rel) or is_compose_file(rel)


def _scan_bundle(options: RedactOptions, redactor: Redactor) -> tuple[Manifest, list[str]]:
    """Verify the input bundle in one streaming pass (structure and checksums) while learning the
    secrets of its config files; refuse it when damaged unless ``allow_damaged``.
    Return (manifest, the problems found)."""
    path = options.input

    def wanted(member: BundleMember) -> bool:
        return member.rel.startswith("config/") and _is_config(member.rel) and member.size <= _MAX_CONFIG_BYTES

    def learn(member: BundleMember, data: bytes) -> None:
        _learn_config(member.rel, data.decode("utf-8", errors="replace"), redactor)

    try:
        report = verify_bundle(path, options.limits, on_member=wanted, on_data=learn)
    except VerifyError as exc:
        raise RedactError(str(exc)) from None
    if report.problems and not options.allow_damaged:
        more = f" and {len(report.problems) - 1} more problem(s)" if len(report.problems) > 1 else ""
        raise RedactError(f"{path} fails verify ({report.problems[0]}{more}): it was changed or damaged after "
                          "collection, and a new bundle would hide that. See `nodediag verify`; to redact what "
                          "can be read anyway, pass --allow-damaged (the new manifest records the damage)")
    return report.manifest, report.problems


def _learn_config(rel: str, text: str, redactor: Redactor) -> None:
    if is_compose_file(rel):
        redactor.harvest_compose(text)
    else:
        redactor.harvest_env_file(text)


def _guide_root(path: Path, limits: Limits) -> tuple[str, list[str]]:
    """(prefix of the guide's folder inside the archive, relative paths of its files)."""
    names = [m.rel for m, _ in _open_members(path, "manual-guide", limits)]
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
    """The new bundle: files are redacted block by block, each block through the leak gate, and
    held (nodediag.bundle.held) until all are done: a secret learnt from a later file, or later in
    the same file, is then removed from them too before they are written."""

    def __init__(self, options: RedactOptions, redactor: Redactor) -> None:
        self.redactor = redactor
        self.max_line = options.limits.max_line_bytes
        try:
            self.writer = BundleWriter.create(options.output)
        except BundleError as exc:
            raise RedactError(str(exc)) from exc
        self.held = HeldMembers(self.writer, redactor)
        self.lines: dict[str, dict[str, list[int]]] = {}

    def _committed(self, record: FileRecord, counts: RedactionCounts,
                   extra: Callable[[FileRecord, RedactionCounts], None] | None) -> None:
        if counts.lines_by_kind:
            self.lines[record.path] = {k: sorted(set(v)) for k, v in counts.lines_by_kind.items()}
        if extra is not None:
            extra(record, counts)

    def write_held(self) -> None:
        """Write every held file into the bundle (each fixed for the secrets learnt after it)."""
        try:
            self.held.commit_all()
        except LateLeak as exc:
            raise RedactError(str(exc)) from None

    def _gate(self, text: str, path: str, first_line: int, since: int, counts: RedactionCounts) -> str:
        """The text to write: what was learnt since it was redacted replaced, then both gates."""
        text = self.redactor.settle(text, since, counts, first_line)
        reason = self.redactor.output_leak(text, path, first_line)
        if reason is not None:
            raise RedactError(reason)
        return text

    def add(self, path: str, source: str, fh: IO[bytes], config: bool,
            on_commit: Callable[[FileRecord, RedactionCounts], None] | None = None) -> RedactionCounts:
        """Redact one file into a held spool; ``on_commit(record, counts)`` once it is written."""
        counts = RedactionCounts()
        since = self.redactor.generation
        spool = self.writer.spool(path, source)
        if config:
            text = _read_limited(fh, path)
            clean = self.redactor.redact_compose(text, counts) if is_compose_file(path) \
                else self.redactor.redact_env_file(text, counts)
            spool.write(self._gate(clean, path, 1, since, counts).encode("utf-8"))
        else:
            stream = self.redactor.stream(counts)
            decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
            written = 0  # lines written so far, for the gate's line numbers
            # whole lines to the redactor; an overlong line is cut (marked) before it is redacted
            lines = LineCutter(self.max_line)
            while block := fh.read(_BLOCK):
                at = self.redactor.generation
                text = stream.write(lines.feed(decoder.decode(block)))
                written = self._write(spool, text, path, written, at, counts)
            rest = lines.feed(decoder.decode(b"", final=True)) + lines.close()
            at = self.redactor.generation
            text = stream.write(rest) + stream.close()
            self._write(spool, text, path, written, at, counts)
        self.held.hold_spool(spool, counts, since, lambda record, done: self._committed(record, done, on_commit))
        return counts

    def _write(self, spool: Any, text: str, path: str, written: int, since: int, counts: RedactionCounts) -> int:
        if text:
            text = self._gate(text, path, written + 1, since, counts)
            spool.write(text.encode("utf-8"))
        return written + text.count("\n")


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
    if not src.is_dir():
        try:
            check_regular_input(src, "a bundle (.tar.zst), the guide's archive (.tar.gz), a log file or a folder")
        except BundleReadError as exc:
            raise RedactError(str(exc)) from None
    if dst.exists() or dst.resolve() == src.resolve():
        raise RedactError(f"{dst} already exists; redact never overwrites a file: choose another -o")
    if src.is_dir() and dst.resolve().is_relative_to(src.resolve()):
        raise RedactError(f"{dst} is inside {src}: choose an -o outside the folder being redacted")
    if not src.is_dir() and not src.is_file():
        raise RedactError(f"{src} is neither a regular file nor a folder")
    kind = detect_kind(src)
    key = options.redaction_key if options.redaction_key is not None else RedactionKey.fresh()
    options = dataclasses.replace(options, redaction_key=key)  # the manifest records which key
    redactor = Redactor(key.secret(), redact_ips=options.redact_ips, patterns=options.patterns)
    for value in options.secrets:
        redactor.add_secret(value, "literal")
    try:
        if kind == "bundle":
            return _rebundle(options, redactor, now)
        if kind == "log":
            return redact_log_file(src, dst, redactor)
        if kind == "folder" and dst.name.endswith(".tar.zst"):
            return _convert_guide_folder(options, redactor, now)
        if kind == "folder":
            return redact_folder(src, dst, redactor)
        return _convert_guide(options, redactor, now)
    except BundleReadError as exc:
        raise RedactError(str(exc)) from None
    except ArchiveError as exc:  # a cap reached while a member of the guide's archive was read
        raise RedactError(f"{src} {exc}") from None
    except (zstandard.ZstdError, tarfile.TarError, EOFError, lzma.LZMAError, zlib.error) as exc:
        raise RedactError(f"{src} is damaged or cut short ({exc})") from None


def _re_redaction_entry(options: RedactOptions, now: str, damage: list[str] | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"at": now, "tool_version": __version__, "operator_secrets": len(options.secrets),
                             "patterns": len(options.patterns), "redact_ips": options.redact_ips,
                             "input": options.input.name, **_key_fields(options)}
    if damage:
        entry["damaged_input"] = list(damage)  # taken with --allow-damaged: what verify found wrong
    return entry


def _key_fields(options: RedactOptions) -> dict[str, str]:
    """The placeholder key's id and source (never the key), as the manifest records them."""
    key = options.redaction_key
    return {"key_id": key.key_id, "key_source": str(key.source)} if key is not None else {}


def _finish(out: _Output, manifest: dict[str, Any], options: RedactOptions, kind: Kind,
            damage: list[str] | None = None) -> RedactOutcome:
    try:
        out.write_held()
    except BaseException:
        out.writer.abort()
        raise
    totals: dict[str, int] = {}
    for rec in out.writer.records:
        for k, n in rec.redactions.items():
            totals[k] = totals.get(k, 0) + n
    redaction = manifest.setdefault("redaction", {})
    redaction.update({"totals": totals, "secrets_known": out.redactor.secrets_known, "leak_check": "passed",
                      "redacted_lines": out.lines, "unredacted": False,
                      "late_rewritten_files": out.held.rewritten})
    try:
        path = out.writer.finish(manifest, redact=lambda text: out.redactor.redact_text(text, RedactionCounts()),
                                 gate=lambda text: out.redactor.output_leak(text, "manifest.json"))
    except (BundleError, OSError) as exc:
        out.writer.abort()
        raise RedactError(f"could not finish the bundle: {exc}") from exc
    except BaseException:  # SIGTERM / Ctrl-C while finishing: no partial file stays behind
        out.writer.abort()
        raise
    return RedactOutcome(path, path.stat().st_size, kind, len(out.writer.records), totals, list(damage or []))


def _rebundle(options: RedactOptions, redactor: Redactor, now: str) -> RedactOutcome:
    manifest, damage = _scan_bundle(options, redactor)
    entries: dict[str, Any] = {e["path"]: e for e in manifest.get("files") or []}
    old_lines = (manifest.get("redaction") or {}).get("redacted_lines") or {}
    out = _Output(options, redactor)
    try:
        for member, fh in _open_members(options.input, "bundle", options.limits):
            if member.rel == MANIFEST:
                continue
            entry = entries.get(member.rel, {})

            def committed(record: FileRecord, counts: RedactionCounts, entry: dict[str, Any] = entry,
                          rel: str = member.rel) -> None:
                for k, n in (entry.get("redactions") or {}).items():
                    if isinstance(n, int):
                        record.redactions[k] = record.redactions.get(k, 0) + n
                old = old_lines.get(rel) if isinstance(old_lines, dict) else None
                if isinstance(old, dict) or counts.lines_by_kind:
                    out.lines[record.path] = _merge_lines(old or {}, out.lines.get(record.path, {}))

            out.add(member.rel, str(entry.get("source") or "unknown"), fh,
                    config=member.rel.startswith("config/") and _is_config(member.rel), on_commit=committed)
    except BaseException:
        out.writer.abort()
        raise
    new_manifest: dict[str, Any] = dict(manifest)
    redaction: dict[str, Any] = dict(manifest.get("redaction") or {})
    redaction["re_redacted"] = [*(redaction.get("re_redacted") or []), _re_redaction_entry(options, now, damage)]
    new_manifest["redaction"] = redaction
    return _finish(out, new_manifest, options, "bundle", damage)


def _convert_guide(options: RedactOptions, redactor: Redactor, now: str) -> RedactOutcome:
    prefix, rels = _guide_root(options.input, options.limits)
    made = ArchiveTime()
    dating: dict[str, LogDating] = {}
    for member, fh in _open_members(options.input, "manual-guide", options.limits):  # learn config.env first
        rel = member.rel[len(prefix):] if member.rel.startswith(prefix) else None
        if rel is None:
            continue
        if _is_config(rel):
            _learn_config(rel, _read_limited(fh, rel), redactor)
            made.member(rel, member.mtime)
        elif rel.endswith(".log"):  # the guide's logs have times of day only: dated as analyze dates them
            dating[rel] = log_dating(fh)
            made.member(rel, member.mtime)
        else:
            made.member(rel, member.mtime, fh.read(MAX_INFO_BYTES) if dates_info_file(rel) else None)
    archive_made = made.result()
    first_days = {rel: d.first_day(archive_made[0]) for rel, d in dating.items()} if archive_made else {}
    stampers: list[DatingReader] = []
    out = _Output(options, redactor)
    sources: list[dict[str, Any]] = []
    try:
        for member, fh in _open_members(options.input, "manual-guide", options.limits):
            if not member.rel.startswith(prefix):
                continue
            rel = member.rel[len(prefix):]
            path, source = guide_bundle_path(rel)
            day = first_days.get(rel)
            if day is not None:
                stampers.append(DatingReader(fh, day))
                fh = cast(IO[bytes], stampers[-1])
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
        "converted_from": {"kind": "manual-guide", "input": options.input.name,
                           **_made_fields(archive_made, sum(r.stamper.dated for r in stampers))},
        "status": "complete", "sources": sources,
        "redaction": {"placeholder": "[REDACTED:<kind>#<tag>]", "operator_secrets": len(options.secrets),
                      "patterns": len(options.patterns), "redact_ips": options.redact_ips,
                      "re_redacted": [_re_redaction_entry(options, now)],
                      **(options.redaction_key.manifest() if options.redaction_key is not None else {})},
    }
    return _finish(out, manifest, options, "manual-guide")


def _made_fields(made: tuple[datetime, str] | None, dated: int) -> dict[str, Any]:
    """When the guide's archive was made and how that is known (the analyzer dates its ps statuses
    from it), and how many log lines were dated from it."""
    if made is None:
        return {}
    return {"made_at": made[0].astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), "made_from": made[1],
            "dated_lines": dated}


# --- raw inputs: a log file, a folder ---------------------------------------------------------------

def _open_log(path: Path) -> IO[bytes]:
    fh = open(path, "rb")  # noqa: SIM115 - the caller closes the returned stream
    head = fh.read(4)
    fh.seek(0)
    if head == _ZSTD_MAGIC:
        return zstandard.ZstdDecompressor().stream_reader(fh, read_across_frames=True, closefd=True)
    if head[:2] == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=fh, mode="rb")  # type: ignore[return-value]
    return fh


def _redact_log_into(src: Path, out: IO[bytes], redactor: Redactor, counts: RedactionCounts, name: str) -> None:
    stream = redactor.stream(counts)
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    written = 0
    with _open_log(src) as fh:
        while block := fh.read(_BLOCK):
            at = redactor.generation
            text = stream.write(decoder.decode(block))
            written = _gated_write(out, text, redactor, name, written, at, counts)
    at = redactor.generation
    text = stream.write(decoder.decode(b"", final=True)) + stream.close()
    _gated_write(out, text, redactor, name, written, at, counts)


def _gated_write(out: IO[bytes], text: str, redactor: Redactor, name: str, written: int,
                 since: int | None = None, counts: RedactionCounts | None = None) -> int:
    """``since``: the generation text was redacted at (a later part of the stream may have
    taught a value it holds: replaced before the gates)."""
    if text and since is not None:
        text = redactor.settle(text, since, counts if counts is not None else RedactionCounts(), written + 1)
    if text:
        reason = redactor.output_leak(text, name, written + 1)
        if reason is not None:
            raise RedactError(reason)
        out.write(text.encode("utf-8"))
    return written + text.count("\n")


def _new_private_file(path: Path) -> IO[bytes]:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    return os.fdopen(fd, "wb")


def _fix_late(path: Path, redactor: Redactor, since: int, counts: RedactionCounts, name: str) -> bool:
    """Remove from the redacted file ``path`` the secrets learnt after its redaction started
    (generation ``since``): a header value or URL key first seen later in it, or in a later file."""
    fix = redactor.late_fix(since)
    if fix is None:
        return False

    def gate(text: str, line: int) -> None:
        reason = redactor.output_leak(text, name, line)
        if reason is not None:
            raise RedactError(reason)

    return fix_file(path, fix, counts, gate)


def redact_log_file(src: Path, dst: Path, redactor: Redactor) -> RedactOutcome:
    """A redacted copy of one log file (plain, .gz or .zst) as plain text at ``dst``; nothing is
    left behind when the leak gate refuses it."""
    counts = RedactionCounts()
    since = redactor.generation
    try:
        with _new_private_file(dst) as out:
            _redact_log_into(src, out, redactor, counts, src.name)
        _fix_late(dst, redactor, since, counts, src.name)
    except BaseException:
        dst.unlink(missing_ok=True)
        raise
    return RedactOutcome(dst, dst.stat().st_size, "log", 1, dict(counts.by_kind))


def redact_folder(src: Path, dst: Path, redactor: Redactor) -> RedactOutcome:
    """A redacted copy of a folder, file by file, into the new folder ``dst``: its .env and compose
    files learnt first and rewritten structure-aware, every other text file redacted as a log
    (.gz/.zst decompressed). Links pointing outside the folder are refused; special files and
    binary files are skipped."""
    files = _folder_files(src)
    for rel in files:
        if _is_config(rel):
            _learn_config(rel, _read_limited((src / rel).open("rb"), rel), redactor)
    totals: dict[str, int] = {}
    written: list[tuple[str, RedactionCounts]] = []
    copied = 0
    since = redactor.generation  # every file is looked at again for what later ones teach
    try:
        os.mkdir(dst, 0o700)
        for rel in files:
            target = dst.joinpath(*rel.split("/"))
            target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            counts = RedactionCounts()
            if _is_config(rel):
                text = _read_limited((src / rel).open("rb"), rel)
                clean = redactor.redact_compose(text, counts) if is_compose_file(rel) \
                    else redactor.redact_env_file(text, counts)
                with _new_private_file(target) as out:
                    _gated_write(out, clean, redactor, rel, 0)
            else:
                with (src / rel).open("rb") as fh:
                    head = fh.read(65536)
                if not _is_text(_decompressed_head(src / rel, head)) and head:
                    continue  # binary: not copied
                with _new_private_file(target) as out:
                    _redact_log_into(src / rel, out, redactor, counts, rel)
            copied += 1
            written.append((rel, counts))
        for rel, counts in written:
            _fix_late(dst.joinpath(*rel.split("/")), redactor, since, counts, rel)
            for k, n in counts.by_kind.items():
                totals[k] = totals.get(k, 0) + n
    except BaseException:
        import shutil

        shutil.rmtree(dst, ignore_errors=True)
        raise
    size = sum(p.stat().st_size for p in dst.rglob("*") if p.is_file())
    return RedactOutcome(dst, size, "folder", copied, totals)


def _folder_files(root: Path) -> list[str]:
    real = root.resolve()
    files: list[str] = []
    for current, _dirs, names in os.walk(root, followlinks=False):
        for name in names:
            full = Path(current) / name
            rel = full.relative_to(root).as_posix()
            if full.is_symlink():
                target = full.resolve()
                if real not in target.parents:
                    raise RedactError(f"{rel} in {root} links outside the folder: refused; copy the file in instead")
            if full.is_file():
                files.append(rel)
    return sorted(files)


def _convert_guide_folder(options: RedactOptions, redactor: Redactor, now: str) -> RedactOutcome:
    """The guide's folder (aztec_diagnostics/) into a bundle, as its archive would be."""
    import tempfile

    files = _folder_files(options.input)
    if not any(rel.rsplit("/", 1)[-1] in GUIDE_FILES for rel in files):
        raise RedactError(f"{options.input} holds none of the manual guide's files ({', '.join(GUIDE_FILES)}): "
                          "only the guide's folder becomes a bundle; pass an -o folder name for a redacted copy")
    with tempfile.TemporaryDirectory(prefix=".nodediag-redact-", dir=options.output.parent or ".") as tmp:
        archive = Path(tmp) / "guide.tar"
        with tarfile.open(archive, "w") as tar:
            for rel in files:
                tar.add(options.input / rel, arcname=f"{GUIDE_FOLDER}/{rel}", recursive=False)
        inner = RedactOptions(archive, options.output, options.secrets, options.patterns, options.redact_ips,
                              options.command_line)
        outcome = _convert_guide(inner, redactor, now)
    return outcome
