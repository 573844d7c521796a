"""Open what the user hands to ``nodediag analyze``, safely, whatever it is.

Accepted, detected by content: a v1 bundle (``.tar.zst``), an extracted bundle folder, the manual
guide's ``aztec_diagnostics/`` folder or its ``.tar.gz``/``.tgz``/``.tar``, and a single log file
(plain, ``.gz`` or ``.zst``). Archives are extracted only into a private folder under ``workdir``;
hostile members, compression bombs and damaged files end in one plain InputError line.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from nodediag.analyzer.inputs import redact_ahead
from nodediag.analyzer.inputs.bundle_manifest import read_manifest, verify_bundle
from nodediag.analyzer.inputs.exports import KIND_NAMES, MAX_EXPORT_BYTES, ExportKind, convert_export, detect_export
from nodediag.analyzer.inputs.manual_guide import find_guide_root, import_guide, raw_input_note, redact_raw_log
from nodediag.analyzer.inputs.redact_ahead import RedactAhead
from nodediag.analyzer.model import LoadedInput, ParseStats
from nodediag.analyzer.parsing.formats import DOCKER_TS_RE, split_compose_prefix
from nodediag.bundle.format import MANIFEST
from nodediag.bundle.frames import OwnFrame, own_frames
from nodediag.bundle.limits import DEFAULT_LIMITS, Limits, current_limits
from nodediag.bundle.reader import BundleReader, BundleReadError
from nodediag.bundle.safe_archive import (
    DECOMPRESS_ERRORS,
    GZIP_MAGIC,
    ZSTD_MAGIC,
    ArchiveError,
    CapExceeded,
    CappedReader,
    cap_message,
    copy_capped,
    describe_decompress_error,
    looks_like_tar,
    make_private_dirs,
    open_decompressed,
    read_chunks,
    remove_tree,
    stream_limit,
    write_member,
)
from nodediag.redaction.literals import Literal as Secret

DEFAULT_MAX_BYTES = DEFAULT_LIMITS.max_bytes
DEFAULT_MAX_FILES = DEFAULT_LIMITS.max_files
_ACCEPTED = ("pass a nodediag bundle (.tar.zst), an extracted bundle folder, "
             "the manual guide's aztec_diagnostics folder or archive, or a container log file")
_TEXT_SAMPLE = 65536


class InputError(Exception):
    """The input cannot be analysed. ``str(e)`` is one plain line: what is wrong, what to do."""


class _NotABundle(Exception):
    """Logs were left in their frames, but the archive holds no bundle after all."""


def open_input(path: Path, *, workdir: Path, max_bytes: int = DEFAULT_MAX_BYTES,
               max_files: int = DEFAULT_MAX_FILES, on_file: Callable[[Path, str], None] | None = None,
               on_frame: Callable[[Path, OwnFrame], None] | None = None,
               header_limit: int = DEFAULT_LIMITS.max_header_bytes, redact_ahead: bool = False) -> LoadedInput:
    """Detect and open ``path``; archives are extracted into a new 0700 folder under ``workdir``.
    ``on_file(folder, member)`` is called as each file of an archive is complete on disk (as
    ``folder / member``), before the archive is checked to its end. A bundle's container logs that
    sit in Zstandard frames of their own (inputs/frames.py) are not extracted: they are listed in
    ``LoadedInput.own_frames``, to be read from the bundle, and ``on_frame(folder, frame)`` is
    called for each before extraction starts. With ``redact_ahead``, a large raw log may be
    redacted by a child process while it is read (``LoadedInput.growing``, redact_ahead.py): the
    caller then reads it through ``read_log`` and calls ``finish_growing`` and ``stop_growing``."""
    name = str(path)
    path = Path(path)
    try:
        if not os.path.lexists(path):
            raise InputError(f"{name} does not exist: {_ACCEPTED}")
        if path.is_dir():
            loaded = _open_folder(path, workdir, max_bytes, max_files)
        elif not path.is_file():
            raise InputError(f"{name} is neither a regular file nor a folder: {_ACCEPTED}")
        else:
            loaded = _open_file(path, workdir, max_bytes, max_files, on_file, on_frame, header_limit, redact_ahead)
    except ArchiveError as exc:
        raise InputError(_one_line(f"{name} {exc}")) from None
    except PermissionError as exc:
        raise InputError(_one_line(f"{name} cannot be read ({exc.strerror}: {exc.filename}): "
                                   "check its permissions")) from None
    except OSError as exc:
        raise InputError(_one_line(f"{name} cannot be read ({exc.strerror or exc})")) from None
    loaded.name = name
    return loaded


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _private_folder(workdir: Path) -> Path:
    workdir.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix="nodediag-input-", dir=workdir))  # mode 0700


# --- files --------------------------------------------------------------------------------------

def _open_file(path: Path, workdir: Path, max_bytes: int, max_files: int,
               on_file: Callable[[Path, str], None] | None = None,
               on_frame: Callable[[Path, OwnFrame], None] | None = None,
               header_limit: int = DEFAULT_LIMITS.max_header_bytes, redact_ahead: bool = False) -> LoadedInput:
    if path.stat().st_size == 0:
        raise ArchiveError(f"is empty: {_ACCEPTED}")
    with path.open("rb") as fh:
        head = fh.read(_TEXT_SAMPLE)
    if head.startswith(b"PK\x03\x04"):
        raise ArchiveError("is a zip archive, which nodediag does not open: extract it and pass the folder")
    if head.startswith((ZSTD_MAGIC, GZIP_MAGIC)) or looks_like_tar(head):
        try:
            return _open_stream(path, head, workdir, max_bytes, max_files, on_file, on_frame,
                                header_limit=header_limit)
        except _NotABundle:  # logs in frames of their own, but no bundle: extract it as a whole
            return _open_stream(path, head, workdir, max_bytes, max_files, on_file, None, detach=False,
                                header_limit=header_limit)
    if looks_like_text(head):
        report = own_report_kind(head)
        if report is not None:
            raise ArchiveError(f"is a nodediag report ({report}), not a log: analyze the bundle or log it was made "
                               f"from; {_ACCEPTED}")
        # a raw log: redacted into a private folder before anything reads it
        return _redacted_single_log(path, _private_folder(workdir), path.name, max_bytes, ahead=redact_ahead)
    raise ArchiveError(f"is not a bundle, a tar archive or a text log (unrecognised content): {_ACCEPTED}")


def refuse_unknown_text(inp: LoadedInput, stats: list[ParseStats]) -> None:
    """A single text file in which the parser recognised no log record at all (every record a
    line of unknown text, none with a docker or compose prefix) is not a log: InputError, never
    a verdict invented from nothing."""
    lines = sum(s.lines for s in stats)
    if any(s.records > s.unrecognized for s in stats):
        return
    try:
        with (Path(inp.root) / inp.files[0]).open("rb") as fh:
            head = fh.read(_TEXT_SAMPLE).decode("utf-8", "replace")
    except (OSError, IndexError):
        head = ""
    for line in head.splitlines()[:200]:
        if DOCKER_TS_RE.match(line) or split_compose_prefix(line):  # docker's own prefixes: a log
            return
    name = inp.name or "the input"
    raise InputError(_one_line(
        f"{name} is not a log nodediag knows: none of its {lines} line{'s' if lines != 1 else ''} is a log record "
        "(Aztec pino text or JSON, docker logs, a log-service export, Node.js output); " + _ACCEPTED))


def own_report_kind(head: bytes) -> str | None:
    """"JSON", "HTML" or "Markdown" when ``head`` starts one of nodediag's own reports."""
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text.startswith(b"{") and (b'"schema": "nodediag-report"' in head or b'"schema":"nodediag-report"' in head):
        return "JSON"
    if text[:15].lower().startswith(b"<!doctype html") and b"nodediag incident report" in head:
        return "HTML"
    if text.startswith(b"## nodediag: "):
        return "Markdown"
    return None


def looks_like_text(sample: bytes) -> bool:
    """True for UTF-8 (or mostly UTF-8) text without NUL bytes or many control characters."""
    if not sample or b"\x00" in sample:
        return False
    decoded = sample.decode("utf-8", errors="replace")
    bad = decoded.count("\ufffd")
    controls = sum(1 for ch in decoded if ord(ch) < 32 and ch not in "\t\n\r\x1b\x08\x0c")
    return (bad + controls) <= max(4, len(decoded) // 100)


def _converted(path: Path, kind: ExportKind, workdir: Path, into: Path | None = None) -> LoadedInput:
    """A log-service export, converted into docker log lines in a private folder (exports.py)."""
    if path.stat().st_size > MAX_EXPORT_BYTES:
        raise ArchiveError(f"is {KIND_NAMES[kind]} larger than {MAX_EXPORT_BYTES // 2**20} MB: export a shorter "
                           "time range, or pass the container's own log (docker logs -t X > file 2>&1)")
    private = into or _private_folder(workdir)
    target = private / (_stripped_name(path) + ".docker.log")
    try:
        _, warnings = convert_export(path, kind, target)
    except ValueError as exc:
        if into is None:
            remove_tree(private)
        raise ArchiveError(str(exc)) from None
    return LoadedInput(kind="single-log", root=private, files=[target.name], manifest=None, warnings=warnings)


def _stripped_name(path: Path) -> str:
    name = path.name
    for suffix in (".zst", ".zstd", ".gz"):
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


def _open_stream(path: Path, head: bytes, workdir: Path, max_bytes: int, max_files: int,
                 on_file: Callable[[Path, str], None] | None = None,
                 on_frame: Callable[[Path, OwnFrame], None] | None = None, detach: bool = True,
                 header_limit: int = DEFAULT_LIMITS.max_header_bytes) -> LoadedInput:
    """A compressed (or plain) file: a tar archive is read through the shared streaming reader
    (nodediag/bundle/reader.py: the caps, path safety and bomb limits of verify, inspect and
    redact) into a private folder; a compressed text is a raw log."""
    private = _private_folder(workdir)
    try:
        frames: list[OwnFrame] = []
        with path.open("rb") as fh:
            try:
                if head.startswith(ZSTD_MAGIC) and detach:
                    frames = own_frames(path)  # (walks every frame: a truncated file is refused here)
                    names = [f.name for f in frames]
                    if len(set(names)) != len(names):
                        twice = next(n for n in names if names.count(n) > 1)
                        raise ArchiveError(f"holds the member {twice!r} twice: refused, the archive was not analysed")
                    if len(frames) > max_files:
                        raise CapExceeded(cap_message("files", max_files))
                    if sum(f.size for f in frames) > max_bytes:
                        raise CapExceeded(cap_message("bytes", max_bytes))
                reader = CappedReader(open_decompressed(path, fh, head), stream_limit(max_bytes, max_files))
                first = reader.peek(_TEXT_SAMPLE)
                if not looks_like_tar(first):
                    if not (head.startswith((ZSTD_MAGIC, GZIP_MAGIC))) or not looks_like_text(first):
                        if not first:
                            raise ArchiveError("decompresses to nothing: the archive is empty")
                        raise ArchiveError("decompresses to something that is neither a tar archive nor "
                                           f"text: {_ACCEPTED}")
                    raw = private / "raw"
                    copy_capped(reader, raw, max_bytes)  # type: ignore[arg-type]
                    try:
                        return _redacted_single_log(raw, private, _stripped_name(path), max_bytes)
                    finally:
                        raw.unlink(missing_ok=True)  # the unredacted copy must not stay on disk
            except (CapExceeded, ArchiveError):
                raise
            except DECOMPRESS_ERRORS as exc:
                raise ArchiveError(describe_decompress_error(exc)) from exc
        extracted = private / "archive"
        os.mkdir(extracted, 0o700)
        if on_frame:
            for frame in frames:
                on_frame(extracted, frame)
        limits = dataclasses.replace(current_limits(), max_bytes=max_bytes, max_files=max_files,
                                     max_header_bytes=header_limit)
        files, digests = _extract(path, extracted, limits, frames, on_file)
        return _classify_extracted(private, extracted, files, digests, max_bytes, max_files, frames)
    except BaseException:
        remove_tree(private)
        raise


def _extract(path: Path, dest: Path, limits: Limits, frames: list[OwnFrame],
             on_file: Callable[[Path, str], None] | None) -> tuple[list[str], dict[str, tuple[int, str]]]:
    """Every regular file of the tar archive ``path`` but the ``frames`` (read later, from the
    bundle), written into ``dest`` (private) by the shared streaming reader; each file's (size,
    sha256) measured as it is written, and its member time kept (it dates the guide's logs)."""
    files: list[str] = []
    digests: dict[str, tuple[int, str]] = {}
    framed = {f.name for f in frames}
    reader = BundleReader(path, limits, layout="any", skip=[(f.offset, f.length) for f in frames],
                          counted=(len(frames), sum(f.size for f in frames)))
    content = sum(f.size for f in frames)
    try:
        for member, data in reader.members():
            if member.rel in framed:
                raise ArchiveError(f"holds the member {member.rel!r} twice: refused, the archive was not analysed")
            target = dest.joinpath(*member.rel.split("/"))
            make_private_dirs(dest, target.parent)
            digest = hashlib.sha256()
            written = write_member(read_chunks(data), target, member.name, content,
                                   limits.max_bytes, digest)
            digests[member.rel] = (written - content, digest.hexdigest())
            content = written
            try:  # the member's own time: an archive without dated lines is dated by it
                os.utime(target, (member.mtime, member.mtime))
            except (OSError, OverflowError, ValueError):
                pass
            files.append(member.rel)
            if on_file:
                on_file(dest, member.rel)
    except BundleReadError as exc:
        raise ArchiveError(_analysis_refused(str(exc), reader.path)) from None
    except OSError as exc:  # disk full, permissions: the workdir, not the input
        raise ArchiveError(f"could not be extracted into {dest.parent.parent} ({exc.strerror or exc}): "
                           "free space there or pass another working folder") from exc
    return files, digests


def _analysis_refused(message: str, path: Path) -> str:
    """The shared reader's one line, without the path (open_input puts the name in front) and
    saying that nothing was analysed when it refused the archive."""
    text = message[len(str(path)):].lstrip() if message.startswith(str(path)) else message
    text = text.lstrip(":").strip()
    if text.endswith(": refused") or text.endswith("(the archive was altered)"):
        text += ", the archive was not analysed"
    return text


def _redacted_single_log(source: Path, private: Path, name: str, max_bytes: int, *,
                         ahead: bool = False) -> LoadedInput:
    """A raw log redacted into ``private/log/<name>``, as a single-log input that says so. With
    ``ahead``, a large log on a machine that can is redacted by a child process while the caller
    goes on (redact_ahead.py); its head is waited for, and the whole of it when it is a log
    service's export."""
    size = source.stat().st_size
    redacting: RedactAhead | None = None
    learnt: list[Secret] = []
    try:
        folder = private / "log"
        os.mkdir(folder, 0o700)
        if ahead and size <= max_bytes and redact_ahead.usable(size):
            redacting = RedactAhead(source, folder / name, max_bytes, size)
            redacting.wait_for(_TEXT_SAMPLE)
            counts = None
            if redacting.ended():  # a short log after all, or an error: as if redacted here
                counts, learnt, redacting = redacting.finish(), redacting.learnt, None
        else:
            counts = redact_raw_log(source, folder / name, max_bytes=max_bytes, learnt=learnt)
        with (folder / name).open("rb") as fh:
            kind = detect_export(fh.read(_TEXT_SAMPLE).decode("utf-8", "replace"))
        if redacting is not None and kind is not None:  # converted from the whole copy: wait for it
            counts, learnt, redacting = redacting.finish(), redacting.learnt, None
    except BaseException:
        if redacting is not None:
            redacting.stop()
        remove_tree(private)
        raise
    if redacting is not None:  # the note is made when the copy is complete (finish_growing)
        return LoadedInput(kind="single-log", root=folder, files=[name], manifest=None, growing={name: redacting},
                           learnt=[])  # (filled by finish_growing)
    assert counts is not None
    note = raw_input_note(counts)
    if kind is not None:  # a log service's export: turned back into docker log lines (redacted already)
        converted = _converted(folder / name, kind, private, into=folder)
        converted.warnings.insert(0, note)
        converted.learnt = learnt
        return converted
    return LoadedInput(kind="single-log", root=folder, files=[name], manifest=None, warnings=[note], learnt=learnt)


def _classify_extracted(private: Path, extracted: Path, files: list[str], digests: dict[str, tuple[int, str]],
                        max_bytes: int, max_files: int, frames: list[OwnFrame] | None = None) -> LoadedInput:
    bundle_root = _find_bundle_root(extracted)
    if bundle_root is not None:
        prefix = bundle_root.relative_to(extracted).as_posix()
        prefix = "" if prefix == "." else prefix + "/"
        own = {f.name[len(prefix):]: f for f in frames or () if f.name.startswith(prefix)}
        rel_files = sorted(_strip_prefix(files, prefix) + list(own))
        rel_digests = {f[len(prefix):]: d for f, d in digests.items() if f.startswith(prefix)}
        loaded = _load_bundle(bundle_root, rel_files, kind="bundle-v1", digests=rel_digests, later=frozenset(own))
        loaded.own_frames = own
        outside = [f.name for f in frames or () if not f.name.startswith(prefix)]
        if outside:
            loaded.warnings.append(f"{len(outside)} log file(s) outside the bundle's folder were not read: "
                                   + ", ".join(outside[:5]))
        return loaded
    if frames:  # not a bundle after all: extract it as a whole
        raise _NotABundle()
    guide_root = find_guide_root(extracted)
    if guide_root is None:
        raise ArchiveError("holds neither a nodediag bundle (manifest.json) nor the manual guide's files "
                           f"(prover-node.log, containers.txt, ...): {_ACCEPTED}")
    prefix = guide_root.relative_to(extracted).as_posix()
    guide_files = _strip_prefix(files, "" if prefix == "." else prefix + "/")
    dest = private / "guide"
    os.mkdir(dest, 0o700)
    learnt: list[Secret] = []
    stored, warnings, made = import_guide(guide_files, guide_root, dest, max_bytes=max_bytes, max_files=max_files,
                                          learnt=learnt)
    remove_tree(extracted)  # the unredacted copy must not stay on disk
    return LoadedInput(kind="manual-guide", root=dest, files=sorted(stored), manifest=None, warnings=warnings,
                       made_at=made, learnt=learnt)


def _strip_prefix(files: list[str], prefix: str) -> list[str]:
    return [f[len(prefix):] for f in files if f.startswith(prefix)]


# --- folders ------------------------------------------------------------------------------------

def _find_bundle_root(folder: Path) -> Path | None:
    if (folder / MANIFEST).is_file():
        return folder
    candidates = [sub for sub in sorted(folder.iterdir())
                  if sub.is_dir() and not sub.is_symlink() and (sub / MANIFEST).is_file()]
    if len(candidates) > 1:
        names = ", ".join(c.name for c in candidates[:3])
        raise ArchiveError(f"holds {len(candidates)} bundles ({names}): pass one of them")
    return candidates[0] if candidates else None


def _open_folder(folder: Path, workdir: Path, max_bytes: int, max_files: int) -> LoadedInput:
    bundle_root = _find_bundle_root(folder)
    if bundle_root is not None:
        files, warnings = list_folder(bundle_root, max_files)
        loaded = _load_bundle(bundle_root, files, kind="folder-v1")
        loaded.warnings[:0] = warnings
        return loaded
    guide_root = find_guide_root(folder)
    if guide_root is None:
        raise ArchiveError("holds neither a nodediag bundle (manifest.json) nor the manual guide's files "
                           f"(prover-node.log, containers.txt, ...): {_ACCEPTED}")
    files, warnings = list_folder(guide_root, max_files)
    private = _private_folder(workdir)
    try:
        dest = private / "guide"
        os.mkdir(dest, 0o700)
        learnt: list[Secret] = []
        stored, guide_warnings, made = import_guide(files, guide_root, dest, max_bytes=max_bytes,
                                                    max_files=max_files, learnt=learnt)
    except BaseException:
        remove_tree(private)
        raise
    return LoadedInput(kind="manual-guide", root=dest, files=sorted(stored), manifest=None,
                       warnings=warnings + guide_warnings, made_at=made, learnt=learnt)


def list_folder(root: Path, max_files: int) -> tuple[list[str], list[str]]:
    """Regular files under ``root`` (relative, '/'-separated). A link pointing outside ``root`` is
    refused (ArchiveError); links inside are read as the files they point to; special files are
    skipped with a warning."""
    real_root = root.resolve()
    files: list[str] = []
    special: list[str] = []
    for current, dirs, names in os.walk(root, followlinks=False):
        here = Path(current)
        for entry in [*dirs, *names]:
            full = here / entry
            rel = full.relative_to(root).as_posix()
            if full.is_symlink():
                target = full.resolve()
                if target != real_root and real_root not in target.parents:
                    raise ArchiveError(f"holds {rel!r}, a link pointing outside the folder (to "
                                       f"{os.readlink(full)!r}): refused; copy the file in instead")
                if entry in names and target.is_file():
                    files.append(rel)
                continue
            if entry in names:
                if full.is_file():
                    files.append(rel)
                else:
                    special.append(rel)
        if len(files) > max_files:
            raise CapExceeded(cap_message("files", max_files))
    warnings = [f"skipped {len(special)} special file(s) (FIFO, socket, device): "
                + ", ".join(special[:5])] if special else []
    return sorted(files), warnings


def _load_bundle(root: Path, files: list[str], *, kind: str,
                 digests: dict[str, tuple[int, str]] | None = None, later: frozenset[str] = frozenset()) -> LoadedInput:
    manifest = read_manifest(root / MANIFEST)
    gaps, warnings = verify_bundle(root, manifest, files, digests, later)
    return LoadedInput(kind=kind, root=root, files=files, manifest=manifest, gaps=gaps, warnings=warnings)
