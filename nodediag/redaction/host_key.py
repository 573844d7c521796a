"""The host's redaction key: one HMAC key per host, so that bundles of one host tag one secret alike.

Like sos clean's default mapping, the key lives on the host (never in a bundle): two bundles
collected on this host give an unchanged secret the same placeholder and a rotated one a
different placeholder, so `nodediag diff` can say "changed (redacted)" without either bundle
holding the value. The bundle records only the key's id (an HMAC of a constant under the key),
which tells whether two bundles were tagged with the same key and nothing about the key.

The file is 64 hex characters (32 random bytes) and a newline, created owner-only (0600) in an
owner-only folder on first use: ``$XDG_STATE_HOME/nodediag/redaction.key`` when XDG_STATE_HOME is
set, else ``/var/lib/nodediag/redaction.key`` for root and ``~/.local/state/nodediag/redaction.key``
for anyone else. A file that cannot be read or created, or does not hold a key, is never fatal:
a fresh key is used for this run and the reason is one warning line (and in the manifest).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import stat
import tempfile
from pathlib import Path
from typing import Literal

#: How the key of a run was chosen: the host's key file, a file the operator named, a fresh key
#: asked for (--fresh-key), or a fresh key because the key file could not be used.
KeySource = Literal["host", "file", "fresh", "fallback"]
KEY_SOURCES: tuple[KeySource, ...] = ("host", "file", "fresh", "fallback")
KEY_FILE_NAME = "redaction.key"
_KEY_BYTES = 32
_KEY_TEXT = re.compile(rb"\A\s*([0-9a-fA-F]{64})\s*\Z")
_MAX_FILE = 4096  # a key file is 65 bytes; anything far larger is not one
_ID_CONSTANT = b"\x00nodediag redaction key id v1"


def key_id_of(key: bytes) -> str:
    """The id of a key as the manifest records it: 16 hex of an HMAC of a constant under the key."""
    return hmac.new(key, _ID_CONSTANT, hashlib.sha256).hexdigest()[:16]


def default_key_path() -> Path:
    """Where the host's key lives (see the module's description)."""
    state = os.environ.get("XDG_STATE_HOME", "").strip()
    if state and os.path.isabs(state):
        return Path(state) / "nodediag" / KEY_FILE_NAME
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        return Path("/var/lib/nodediag") / KEY_FILE_NAME
    return Path.home() / ".local" / "state" / "nodediag" / KEY_FILE_NAME


class RedactionKey:
    """A key for the redactor's placeholders and where it came from; its bytes never print."""

    __slots__ = ("__key", "source", "path", "warning")

    def __init__(self, key: bytes, source: KeySource, path: Path | None = None, warning: str | None = None) -> None:
        self.__key = key
        self.source: KeySource = source
        self.path = path
        self.warning = warning  # one line for the operator when the key file could not be used

    def __repr__(self) -> str:
        return f"RedactionKey(<key hidden>, id={self.key_id}, source={self.source})"

    def secret(self) -> bytes:
        """The key's bytes, for the redactor only."""
        return self.__key

    @property
    def key_id(self) -> str:
        return key_id_of(self.__key)

    def manifest(self) -> dict[str, str]:
        """What a bundle's manifest records under ``redaction``: the id and the source, never the key."""
        entry = {"key_id": self.key_id, "key_source": str(self.source)}
        if self.warning:
            entry["key_note"] = self.warning
        return entry

    @classmethod
    def fresh(cls, source: KeySource = "fresh", warning: str | None = None) -> RedactionKey:
        return cls(os.urandom(_KEY_BYTES), source, None, warning)


def _read_key(path: Path) -> bytes:
    """The key in ``path``; ValueError (not a key file) or OSError (cannot read it)."""
    return _read_key_and_mode(path)[0]


def _read_key_and_mode(path: Path) -> tuple[bytes, int]:
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as fh:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):  # a FIFO or a device would block or never end
            raise ValueError("is not a regular file")
        data = fh.read(_MAX_FILE + 1)
    m = _KEY_TEXT.match(data)
    if m is None:
        raise ValueError("does not hold a key (64 hex characters)")
    return bytes.fromhex(m.group(1).decode("ascii")), stat.S_IMODE(mode)


def _create_key(path: Path) -> bytes:
    """Write a new key to ``path`` (0600, folder 0700) unless another process just did; return
    the key the file holds. The key is written whole to a temporary file then linked into place,
    so a reader never sees half a key and two first runs agree on one key."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = os.urandom(_KEY_BYTES)
    fd, tmp = tempfile.mkstemp(prefix=".redaction-key-", dir=path.parent)  # 0600 whatever the umask
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(key.hex().encode("ascii") + b"\n")
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            return _read_key(path)  # another run created it first: use that one
    finally:
        try:
            os.unlink(tmp)
        except OSError:
            pass
    return key


def load_key(path: Path | None = None, *, fresh: bool = False, create: bool = True) -> RedactionKey:
    """The key for this run. ``fresh``: a new random key, nothing read or written. ``path``: the
    operator's key file (created when missing); by default the host's key file. A key file that
    cannot be used gives a fresh key with a one-line ``warning``, never an exception."""
    if fresh:
        return RedactionKey.fresh("fresh")
    source: KeySource = "host" if path is None else "file"
    target = default_key_path() if path is None else path
    try:
        try:
            key, mode = _read_key_and_mode(target)
        except FileNotFoundError:
            if not create:
                raise
            return RedactionKey(_create_key(target), source, target)
        if mode & 0o077:  # used, but the operator should know: with it, tags can be tested against guesses
            note = (f"redaction key file {target} can be read or changed by other users (mode {mode:04o}): "
                    f"run chmod 600 {target}")
            return RedactionKey(key, source, target, note)
        return RedactionKey(key, source, target)
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        warning = (f"redaction key file {target} cannot be used ({reason}); this run uses a fresh key, so its "
                   "placeholders will not match other bundles of this host")
        return RedactionKey.fresh("fallback", warning)
