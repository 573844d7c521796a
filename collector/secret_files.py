"""Secrets that live in files: learnt for propagation, never bundled.

- ``*_FILE`` variables (``PROVER_PUBLISHER_PRIVATE_KEY_FILE=/run/keys/publisher``): the file the
  variable points to, read from the host; a container path is resolved through the container's
  bind mounts (``docker inspect`` ``Mounts``).
- Docker secrets: anything mounted under ``/run/secrets/`` (compose ``secrets:`` with ``file:``),
  and the ``file:`` of every top-level compose ``secrets:`` entry.
- Validator keystores (``keystore.json``: ``{"validators":[{"attester":{"eth":"0x..."},
  "publisher":["0x..."]}]}``) found through ``KEY_STORE_DIRECTORY``-like variables or mounted
  ``keystore*.json`` files: every key in them is a private key.

Files are read into memory (at most ``MAX_SECRET_FILE_BYTES`` each) and only their values are handed
to the redactor; what was read is reported by path, never by content.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from nodediag.collector.discovery import ConfigFile, Target, open_regular
from nodediag.redaction import Redactor, secret_kind_for_name

MAX_SECRET_FILE_BYTES = 1024 * 1024
MAX_KEYSTORE_FILES = 64
_HEX_KEY = re.compile(r"(?:0[xX])?[0-9a-fA-F]{64}")
_KEYSTORE_VARS = re.compile(r"KEY_?STORE", re.IGNORECASE)
_KEYSTORE_ROLES = frozenset({"attester", "publisher", "proposer", "signer", "privatekey", "private_key", "eth",
                             "bls", "key", "keys"})


def host_path(container_path: str, mounts: Iterable[dict[str, Any]]) -> Path | None:
    """The host path behind a container path, through the longest matching bind or volume mount."""
    path = PurePosixPath(container_path)
    best: tuple[int, Path] | None = None
    for mount in mounts:
        dest, source = mount.get("Destination") or "", mount.get("Source") or ""
        if not dest or not source or mount.get("Type") not in ("bind", "volume"):
            continue
        try:
            rest = path.relative_to(dest)
        except ValueError:
            continue
        if best is None or len(dest) > best[0]:
            best = (len(dest), Path(source) / rest if str(rest) != "." else Path(source))
    return best[1] if best else None


def _read(path: Path) -> str | None:
    """A regular file within the cap (never a FIFO or a device), or None."""
    try:
        return open_regular(path, MAX_SECRET_FILE_BYTES).decode("utf-8", errors="replace")
    except OSError:
        return None


def keystore_keys(doc: Any) -> list[str]:
    """Every private key in a validator keystore document (attester and publisher keys, any depth)."""
    keys: list[str] = []

    def walk(node: Any, role: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, str(key).lower())
        elif isinstance(node, list):
            for item in node:
                walk(item, role)
        elif isinstance(node, str) and role in _KEYSTORE_ROLES and _HEX_KEY.fullmatch(node.strip()):
            keys.append(node.strip())

    walk(doc, "")
    return keys


def learn_file_text(text: str, kind: str, redactor: Redactor) -> int:
    """Feed one secret file's content to the redactor; return how many values were learnt."""
    stripped = text.strip()
    if not stripped:
        return 0
    if stripped[:1] in "{[":
        try:
            doc = json.loads(stripped)
        except ValueError:
            doc = None
        if doc is not None:
            keys = keystore_keys(doc)
            for key in keys:
                redactor.add_secret(key, "private_key")
            return len(keys)
    before = redactor.secrets_known
    redactor.add_secret(stripped, kind)
    return redactor.secrets_known - before


def _file_vars(target: Target) -> Iterator[tuple[str, str, str]]:
    """(variable, container path, kind) of a target's ``*_FILE`` and keystore variables."""
    for name, value in target.env.items():
        value = value.strip()
        if not value.startswith("/"):
            continue
        if name.upper().endswith("_FILE"):
            yield name, value, secret_kind_for_name(name[:-5]) or "secret"
        elif _KEYSTORE_VARS.search(name):
            yield name, value, "private_key"


def _keystore_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    try:
        return sorted(p for p in path.iterdir() if p.suffix == ".json" and p.is_file())[:MAX_KEYSTORE_FILES]
    except OSError:
        return []


def harvest_target(target: Target, redactor: Redactor) -> list[str]:
    """Learn the secrets in the files one container reads; return notes naming the files read."""
    notes: list[str] = []
    mounts = list(target.attrs.get("Mounts") or [])
    for name, container_path, kind in _file_vars(target):
        host = host_path(container_path, mounts)
        if host is None:
            notes.append(f"{target.name}: {name} points to {container_path}, not mounted from the host: not read")
            continue
        files = _keystore_files(host) if host.is_dir() else [host]
        for f in files:
            text = _read(f)
            if text is not None:
                n = learn_file_text(text, kind, redactor)
                notes.append(f"{target.name}: read {name} file {f} ({n} secret value(s) learnt)")
    for mount in mounts:
        dest = mount.get("Destination") or ""
        source = mount.get("Source") or ""
        is_secret = dest.startswith("/run/secrets/")
        is_keystore = PurePosixPath(dest).name.lower().startswith("keystore") and dest.endswith(".json")
        if source and (is_secret or is_keystore):
            text = _read(Path(source))
            if text is not None:
                n = learn_file_text(text, "secret", redactor)
                notes.append(f"{target.name}: read mounted secret {dest} ({n} secret value(s) learnt)")
    return notes


def compose_secret_files(compose_path: Path, text: str) -> list[Path]:
    """The ``file:`` of each top-level ``secrets:`` entry of a compose file, relative to its folder."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError:
        return []
    secrets = doc.get("secrets") if isinstance(doc, dict) else None
    if not isinstance(secrets, dict):
        return []
    files = []
    for entry in secrets.values():
        if isinstance(entry, dict) and isinstance(entry.get("file"), str):
            p = Path(entry["file"]).expanduser()
            files.append(p if p.is_absolute() else compose_path.parent / p)
    return files


def harvest_compose_secrets(config: ConfigFile, text: str, redactor: Redactor) -> list[str]:
    notes = []
    for path in compose_secret_files(config.path, text):
        content = _read(path)
        if content is not None:
            n = learn_file_text(content, "secret", redactor)
            notes.append(f"read compose secret file {path} ({n} secret value(s) learnt)")
    return notes


def read_operator_secrets(path: Path) -> list[str]:
    """Secrets from ``--secrets-file``: one per line; blank lines and lines starting with # skipped.
    Raises OSError when the file cannot be read."""
    with path.open("rb") as fh:
        data = fh.read(MAX_SECRET_FILE_BYTES + 1)
    if len(data) > MAX_SECRET_FILE_BYTES:
        raise OSError(f"larger than {MAX_SECRET_FILE_BYTES} bytes")
    lines = data.decode("utf-8", errors="replace").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
