"""The archive the widespread manual guide produces (``aztec_diagnostics/``), read safely.

The guide ships the deployment's raw ``.env`` as ``config.env``: the private key and RPC API keys
in clear. Every file is redacted as it is read (the .env first, so its secret values are also
found inside the logs) and only the redacted copies are stored in the private folder.
"""

from __future__ import annotations

import codecs
import os
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from nodediag.analyzer.inputs.guide_dates import date_guide_logs
from nodediag.bundle.limits import current_limits
from nodediag.bundle.lines import LineCutter, line_limit
from nodediag.bundle.safe_archive import CapExceeded, cap_message
from nodediag.guide import GUIDE_FILES, GUIDE_FOLDER, is_compose_file, is_env_file
from nodediag.redaction import RedactionCounts, Redactor
from nodediag.redaction.late import fix_file
from nodediag.redaction.literals import Literal

_CHUNK = 1024 * 1024


def holds_guide_files(folder: Path) -> bool:
    return any((folder / name).is_file() for name in GUIDE_FILES)


def find_guide_root(folder: Path, max_depth: int = 3) -> Path | None:
    """The folder holding the guide's files: ``folder`` itself or the shallowest folder below it
    (``aztec_diagnostics/`` preferred, ``tar`` of an absolute path nests it as ``root/...``)."""
    level = [folder]
    for _ in range(max_depth + 1):
        holding = [p for p in level if holds_guide_files(p)]
        if holding:
            named = [p for p in holding if p.name == GUIDE_FOLDER]
            return (named or holding)[0]
        level = sorted(sub for p in level for sub in p.iterdir() if sub.is_dir() and not sub.is_symlink())
    return None


def _looks_binary(sample: bytes) -> bool:
    return b"\x00" in sample


def import_guide(files: list[str], source_root: Path, dest: Path, *, max_bytes: int,
                 max_files: int, learnt: list[Literal] | None = None) -> tuple[list[str], list[str], datetime | None]:
    """Redact the guide's ``files`` (relative to ``source_root``) into ``dest``.
    Return (stored relative paths, warnings for the user, when the archive was made). ``learnt``
    receives every secret learnt (each form, with its placeholder: see Redactor.learnt)."""
    if len(files) > max_files:
        raise CapExceeded(cap_message("files", max_files))
    redactor = Redactor()
    counts = RedactionCounts()
    env_files = [rel for rel in files if is_env_file(rel) or is_compose_file(rel)]
    env_texts: dict[str, str] = {}
    config_cap = current_limits().max_json_bytes  # a config file is read whole: bounded like a JSON file
    for rel in env_files:  # learn every configured secret first: the logs repeat them
        with (source_root / rel).open("rb") as fh:
            data = fh.read(config_cap + 1)
        if len(data) > config_cap:
            raise CapExceeded(f"holds {rel}, larger than {config_cap:,} bytes (the --max-json-bytes cap) for a "
                              "configuration file: if it is genuine, raise the cap")
        text = data.decode("utf-8", errors="replace")
        if is_compose_file(rel):
            redactor.harvest_compose(text)
        else:
            redactor.harvest_env_file(text)
        env_texts[rel] = text
    stored: list[str] = []
    skipped: list[str] = []
    budget = max_bytes
    since = redactor.generation  # a secret a later file (or line) teaches is removed from all of them
    for rel in sorted(files):
        source = source_root / rel
        target = dest.joinpath(*rel.split("/"))
        _make_private_dirs(dest, target.parent)
        if rel in env_texts:
            budget -= len(env_texts[rel].encode("utf-8"))
            if budget < 0:
                raise CapExceeded(cap_message("bytes", max_bytes))
            text = env_texts[rel]
            clean = redactor.redact_compose(text, counts) if is_compose_file(rel) else \
                redactor.redact_env_file(text, counts)
            _write_private(target, clean)
            stored.append(rel)
            continue
        with source.open("rb") as fh:
            if _looks_binary(fh.read(65536)):
                skipped.append(rel)
                continue
            fh.seek(0)
            budget = _redact_stream(fh, target, redactor, counts, budget, max_bytes)
        stored.append(rel)
    for rel in stored:
        fix_late(dest.joinpath(*rel.split("/")), redactor, since, counts)
    if learnt is not None:
        learnt.extend(redactor.learnt())
    warnings = _guide_warnings(stored, dest, has_env=any(is_env_file(rel) for rel in env_files))
    dating, made = date_guide_logs(source_root, files, dest, stored)
    warnings += dating
    warnings.append(raw_input_note(counts))
    if skipped:
        warnings.append(f"skipped {len(skipped)} binary file(s) in the guide's archive: "
                        + ", ".join(skipped[:5]))
    return stored, warnings, made


def _redact_stream(fh: BinaryIO, target: Path, redactor: Redactor, counts: RedactionCounts,
                   budget: int, max_bytes: int) -> int:
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    stream = redactor.stream(counts)
    lines = LineCutter(line_limit())
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
        # write() redacts whole lines (a secret split across two reads is still found) and cuts
        # an overlong line only where no secret is cut in two; lines longer than --max-line-bytes
        # are cut at a token boundary and marked first
        while block := fh.read(_CHUNK):
            budget -= len(block)
            if budget < 0:
                raise CapExceeded(cap_message("bytes", max_bytes))
            out.write(stream.write(lines.feed(decoder.decode(block))))
        out.write(stream.write(lines.feed(decoder.decode(b"", final=True)) + lines.close()))
        out.write(stream.close())
    return budget


def redact_raw_log(source: Path, target: Path, *, max_bytes: int,
                   late_fixed: list[bool] | None = None, learnt: list[Literal] | None = None) -> RedactionCounts:
    """Redact a raw log file (one that did not come from a nodediag bundle) into ``target`` (new,
    0600) with the same rules collect applies; return what was redacted (kinds, never values).
    ``late_fixed`` is told whether ``target`` was rewritten at the end (a secret learnt after lines
    that hold it): whoever read the copy as it grew read those lines as they were. ``learnt``
    receives every secret learnt (each form, with its placeholder)."""
    counts = RedactionCounts()
    redactor = Redactor()
    since = redactor.generation
    with source.open("rb") as fh:
        _redact_stream(fh, target, redactor, counts, max_bytes, max_bytes)
    fixed = fix_late(target, redactor, since, counts)
    if late_fixed is not None:
        late_fixed.append(fixed)
    if learnt is not None:
        learnt.extend(redactor.learnt())
    return counts


def fix_late(path: Path, redactor: Redactor, since: int, counts: RedactionCounts) -> bool:
    """Remove from a redacted file what the redactor learnt after its redaction started (a header
    value or an RPC key first seen in a later line or file); True when the file was rewritten."""
    fix = redactor.late_fix(since)
    return fix is not None and fix_file(path, fix, counts, lambda text, line: None)


def raw_input_note(counts: RedactionCounts) -> str:
    """The report's line saying that a raw input was redacted before anything was rendered."""
    found = ", ".join(f"{kind} x{n}" for kind, n in sorted(counts.by_kind.items())) or "nothing found"
    return ("this input did not come from a nodediag bundle: nodediag redacted it as it read it, before "
            f"anything was rendered ({found}); the original file still holds any secret it had")


def _make_private_dirs(dest: Path, folder: Path) -> None:
    current = dest
    for part in folder.relative_to(dest).parts:
        current = current / part
        if not current.is_dir():
            os.mkdir(current, 0o700)


def _write_private(target: Path, text: str) -> None:
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
        out.write(text)


def converted_guide_warnings(root: Path, files: list[str], logs: dict[str, str]) -> list[str]:
    """The guide's warnings for a bundle `nodediag redact` converted from the guide's archive:
    ``logs`` maps the guide's log names (prover-node.log ...) to their paths in the bundle."""
    has_env = any(rel.startswith("config/guide/") and is_env_file(rel) for rel in files)
    return _guide_warnings(list(logs), root, has_env=has_env, paths={name: root / rel for name, rel in logs.items()})


def _guide_warnings(stored: list[str], dest: Path, *, has_env: bool,
                    paths: dict[str, Path] | None = None) -> list[str]:
    paths = paths or {rel: dest / rel for rel in stored}
    warnings: list[str] = []
    if has_env:
        warnings.append(
            "this archive carries the deployment's .env UNREDACTED (config.env: publisher private key, "
            "RPC API keys): delete it from wherever it was shared and rotate any key that was posted "
            "publicly; nodediag kept only a redacted copy")
    logs = [rel for rel in stored if rel.endswith(".log") and paths[rel].is_file()]
    empty = [rel for rel in logs if not paths[rel].read_text(encoding="utf-8", errors="replace").strip()]
    if empty:
        warnings.append(
            f"{', '.join(empty)} {'is' if len(empty) == 1 else 'are'} empty: the guide's "
            "`docker logs X > file` keeps stdout only and Aztec logs go to stderr; "
            "collect again with `nodediag collect` (it takes both streams)")
    missing = [rel for rel in logs if rel not in empty and _says_no_such_container(paths[rel])]
    if missing:
        warnings.append(
            f"{', '.join(missing)} say{'s' if len(missing) == 1 else ''} 'No such container': the guide's "
            "container names (e.g. aztec-prover-broker-1) do not exist under the official compose "
            "(aztec-prover-prover-broker-1); collect again with `nodediag collect`, which finds "
            "the containers by image and role")
    return warnings


def _says_no_such_container(path: Path) -> bool:
    with path.open("r", encoding="utf-8", errors="replace") as fh:
        head = fh.read(65536)
    return "No such container" in head
