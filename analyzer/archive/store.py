"""The content-addressed store: every added file kept once, under its sha256.

``<store>/<first two hex>/<sha256><suffix>``, written to a temporary file in the same folder and
renamed into place, so a reader never sees half a file and two processes storing the same
content at once both end with one whole copy.
"""

from __future__ import annotations

import hashlib
import os
import tarfile
import tempfile
from pathlib import Path

from nodediag.analyzer.archive.location import ArchiveError

_SUFFIXES = (".tar.zst", ".tar.gz", ".tgz", ".tar", ".log.zst", ".log.gz", ".zst", ".gz", ".log", ".txt", ".json")
_CHUNK = 1 << 20


def sha256_of(path: Path) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def suffix_of(name: str) -> str:
    lowered = name.lower()
    return next((s for s in _SUFFIXES if lowered.endswith(s)), "")


class ContentStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def name_for(self, sha256: str, original: str) -> str:
        return f"{sha256[:2]}/{sha256}{suffix_of(original)}"

    def path(self, stored_name: str) -> Path:
        return self.root / stored_name

    def put(self, source: Path, sha256: str) -> str:
        """Copy ``source`` in (unless its content is there already); returns its stored name.
        Fails when the copy's sha256 is not ``sha256`` (the file changed while it was added)."""
        name = self.name_for(sha256, source.name)
        target = self.root / name
        if target.is_file():
            return name
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            handle, temp = tempfile.mkstemp(prefix=".adding-", dir=target.parent)
            try:
                digest = hashlib.sha256()
                with os.fdopen(handle, "wb") as out, source.open("rb") as src:
                    while chunk := src.read(_CHUNK):
                        digest.update(chunk)
                        out.write(chunk)
                    out.flush()
                    os.fsync(out.fileno())
                if digest.hexdigest() != sha256:
                    raise ArchiveError(f"{source} changed while it was being added; add it again")
                os.chmod(temp, 0o444)
                os.replace(temp, target)
            finally:
                if os.path.exists(temp):
                    os.unlink(temp)
        except OSError as exc:
            raise ArchiveError(f"cannot write to the archive's store {self.root}: {exc.strerror or exc}") from None
        return name


def pack_folder(folder: Path, target: Path) -> None:
    """A folder (an extracted bundle, the manual guide's ``aztec_diagnostics/``) as a plain tar
    whose bytes depend only on the names and contents of its files: sorted members, no times,
    owners or modes from the disk. So the same folder packed twice has one sha256. Symbolic
    links and other special files are refused (ArchiveError)."""
    members: list[Path] = []
    for root, dirs, files in os.walk(folder, followlinks=False):
        dirs.sort()
        for name in sorted(files) + [d for d in dirs if os.path.islink(os.path.join(root, d))]:
            path = Path(root) / name
            if path.is_symlink() or not path.is_file():
                raise ArchiveError(f"{path} is a link or a special file: archive add packs only plain files")
            members.append(path)
    with tarfile.open(target, "w", format=tarfile.PAX_FORMAT) as tar:
        for path in members:
            info = tarfile.TarInfo(f"{folder.name}/{path.relative_to(folder).as_posix()}")
            info.size = path.stat().st_size
            info.mode = 0o644
            info.mtime = 0
            with path.open("rb") as fh:
                tar.addfile(info, fh)
