"""Finds the deployment to collect: which containers, which compose project, which config files.

Aztec containers are recognised by image and role flag first, compose labels second, names last
(``nodediag.roles``). With no options, every Aztec container is taken together with the rest of
its compose project; with none found, collection stops with :class:`NoDeploymentFound` (saying
what was looked for) unless ``--all`` asks for every container on the host. ``--project`` and
``--container`` point at the deployment directly.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from nodediag.roles import detect_role

PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
WORKDIR_LABEL = "com.docker.compose.project.working_dir"
CONFIG_FILES_LABEL = "com.docker.compose.project.config_files"
ENV_FILES_LABEL = "com.docker.compose.project.environment_file"


class DiscoveryError(Exception):
    """The user's choice matches nothing; the message lists what exists."""


class NoDeploymentFound(DiscoveryError):
    """No container looks like an Aztec prover role, and ``--all`` was not given."""


@dataclass
class Target:
    name: str
    id: str
    role: str
    how: str
    image: str
    state: str
    project: str
    service: str
    tty: bool
    pid: int
    env: dict[str, str]
    attrs: dict[str, Any] = field(repr=False, default_factory=dict)

    @property
    def dir_name(self) -> str:
        return safe_name(self.name)

    def manifest(self) -> dict[str, Any]:
        return {"name": self.name, "id": self.id, "role": self.role, "how": self.how, "image": self.image,
                "state": self.state, "project": self.project, "service": self.service}


@dataclass
class ConfigFile:
    path: Path
    kind: str  # "env" | "compose"
    project: str
    bundle_path: str


def safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name.lstrip("/")) or "_"


def env_map(env_list: list[str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in env_list or []:
        key, sep, value = item.partition("=")
        if sep:
            out[key] = value
    return out


def to_target(attrs: dict[str, Any]) -> Target:
    config = attrs.get("Config") or {}
    labels = config.get("Labels") or {}
    name = (attrs.get("Name") or "").lstrip("/")
    image = config.get("Image") or ""
    command = list(config.get("Entrypoint") or []) + list(attrs.get("Args") or config.get("Cmd") or [])
    role, how = detect_role(name, image, command, labels)
    state = attrs.get("State") or {}
    return Target(
        name=name, id=attrs.get("Id", ""), role=role, how=how, image=image,
        state=state.get("Status", ""), project=labels.get(PROJECT_LABEL, ""), service=labels.get(SERVICE_LABEL, ""),
        tty=bool(config.get("Tty")), pid=int(state.get("Pid") or 0), env=env_map(config.get("Env")), attrs=attrs,
    )


def choose_targets(
    all_attrs: list[dict[str, Any]], *, projects: tuple[str, ...] = (), containers: tuple[str, ...] = (),
    all_containers: bool = False,
) -> tuple[list[Target], str]:
    """Return the chosen targets and a sentence saying how they were chosen."""
    targets = [to_target(a) for a in all_attrs]
    if all_containers:
        return targets, f"every container on the host ({len(targets)}, --all)"
    by_name = {t.name: t for t in targets}
    if containers:
        chosen = []
        for wanted in containers:
            match = by_name.get(wanted.lstrip("/")) or next((t for t in targets if t.id.startswith(wanted)), None)
            if match is None:
                names = ", ".join(sorted(by_name)) or "none"
                raise DiscoveryError(f"no container named {wanted!r}; containers here: {names}")
            chosen.append(match)
        return chosen, f"{len(chosen)} container(s) named with --container"
    if projects:
        known = sorted({t.project for t in targets if t.project})
        for p in projects:
            if p not in known:
                raise DiscoveryError(
                    f"no compose project named {p!r}; projects here: {', '.join(known) or 'none'} "
                    "(see `docker compose ls -a`)"
                )
        chosen = [t for t in targets if t.project in projects]
        return chosen, f"compose project(s) {', '.join(projects)} ({len(chosen)} containers)"
    aztec = [t for t in targets if t.how in ("image+flag", "flag")]
    if aztec:
        aztec_projects = {t.project for t in aztec if t.project}
        chosen = [t for t in targets if t in aztec or (t.project and t.project in aztec_projects)]
        where = f" in compose project(s) {', '.join(sorted(aztec_projects))}" if aztec_projects else ""
        return chosen, f"{len(aztec)} Aztec prover container(s){where}"
    named = [t for t in targets if t.how in ("label", "name")]
    if named:
        return named, (f"{len(named)} container(s) whose compose service or name looks like a prover "
                       "role (no Aztec image found)")
    raise NoDeploymentFound(
        f"found no Aztec prover container among the {len(targets)} container(s) on this host (looked for "
        "the aztecprotocol/aztec image started with --prover-node, --prover-broker or --prover-agent, then "
        "compose services and names like prover-node, broker, agent). Point at the deployment with "
        "--project NAME or --container NAME, or pass --all to collect every container"
    )


#: A config file larger than this is not read (a .env or compose file is a few KB).
MAX_CONFIG_BYTES = 2 * 1024 * 1024


def open_regular(path: Path, cap: int = MAX_CONFIG_BYTES) -> bytes:
    """The bytes of a regular file of at most ``cap`` bytes. Raises OSError (with the reason) for
    anything else: a FIFO is opened without blocking and refused, like a device or a folder."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(f"{path} is not a regular file: not read")
        if info.st_size > cap:
            raise OSError(f"larger than {cap} bytes")
        chunks, left = [], cap + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > cap:
        raise OSError(f"larger than {cap} bytes")
    return data


def _compose_doc(path: Path) -> dict[str, Any] | None:
    """The parsed compose file at path, or None when it is not one (not a regular file, too big,
    not YAML with ``services``)."""
    try:
        doc = yaml.safe_load(open_regular(path).decode("utf-8", errors="replace"))
    except (OSError, yaml.YAMLError):
        return None
    return doc if isinstance(doc, dict) and isinstance(doc.get("services"), dict) else None


def _env_files_named(doc: dict[str, Any], folder: Path) -> set[Path]:
    """Every ``env_file:`` of a compose document's services, resolved against its folder."""
    named: set[Path] = set()
    for service in doc["services"].values():
        entries = service.get("env_file") if isinstance(service, dict) else None
        for entry in entries if isinstance(entries, list) else [entries]:
            path = entry.get("path") if isinstance(entry, dict) else entry
            if isinstance(path, str) and path:
                p = Path(path).expanduser()
                named.add(_resolve(p if p.is_absolute() else folder / p))
    return named


def _resolve(path: Path) -> Path:
    try:
        return path.resolve()
    except OSError:
        return path


def _within(path: Path, folders: set[Path]) -> bool:
    return any(f in path.parents for f in folders)


def config_files(targets: list[Target], env_files: tuple[Path, ...] = (),
                 compose_files: tuple[Path, ...] = (), notes: list[str] | None = None) -> list[ConfigFile]:
    """The deployment's .env and compose files, from the compose labels and the user's options.

    Labels are data from the containers (an image LABEL is enough to set one), not trust: a compose
    file named by a label is read only when it is a regular file holding a compose document
    (``services:``); an env file named by a label, or the project's ``.env``, only when it lies in
    the folder of such a compose file or one of its ``env_file:`` entries names it. What is
    passed over is said in ``notes``. Files given with --env-file / --compose-file are the
    operator's choice and always read (still as regular files within the size cap)."""
    found: dict[Path, ConfigFile] = {}
    notes = notes if notes is not None else []

    def add(path: Path, kind: str, project: str) -> None:
        resolved = _resolve(path.expanduser())
        if resolved in found:
            return
        folder = safe_name(project or "given")
        found[resolved] = ConfigFile(resolved, kind, project, f"config/{folder}/{safe_name(resolved.name)}")

    for t in targets:
        labels = (t.attrs.get("Config") or {}).get("Labels") or {}
        workdir = labels.get(WORKDIR_LABEL)
        folders: set[Path] = set()  # the folders of the project's real compose files
        named: set[Path] = set()
        for f in filter(None, (labels.get(CONFIG_FILES_LABEL) or "").split(",")):
            p = Path(f)
            path = p if p.is_absolute() or not workdir else Path(workdir) / p
            doc = _compose_doc(path)
            if doc is None:
                notes.append(f"{t.name}: {path} named by a compose label is not a readable compose file: not read")
                continue
            add(path, "compose", t.project)
            folders.add(_resolve(path).parent)
            named |= _env_files_named(doc, _resolve(path).parent)
        for path in sorted(named):  # the compose files' own env_file entries
            if path.is_file():
                add(path, "env", t.project)
        candidates = [Path(f) for f in filter(None, (labels.get(ENV_FILES_LABEL) or "").split(","))]
        if workdir:
            candidates.append(Path(workdir) / ".env")
        for path in candidates:
            resolved = _resolve(path)
            if resolved in named or _within(resolved, folders):
                if resolved.is_file():
                    add(path, "env", t.project)
            elif path.name != ".env" or path.exists():
                notes.append(f"{t.name}: {path} is named only by a container label, outside the project's compose "
                             "folder and not an env_file of its compose files: not read")
    for p in env_files:
        add(p, "env", "")
    for p in compose_files:
        add(p, "compose", "")
    # de-duplicate bundle paths (two projects with the same file names stay apart by folder)
    seen: dict[str, int] = {}
    for cf in found.values():
        n = seen.get(cf.bundle_path, 0)
        seen[cf.bundle_path] = n + 1
        if n:
            cf.bundle_path = f"{cf.bundle_path}.{n}"
    return list(found.values())


def data_dirs(targets: list[Target]) -> list[str]:
    """Host folders bind-mounted into the targets: where their data lives."""
    dirs = []
    for t in targets:
        for m in t.attrs.get("Mounts") or []:
            if m.get("Type") in ("bind", "volume") and m.get("Source"):
                dirs.append(m["Source"])
    return sorted(set(dirs))
