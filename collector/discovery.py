"""Finds the deployment to collect: which containers, which compose project, which config files.

Aztec containers are recognised by image and role flag first, compose labels second, names last
(``nodediag.roles``). With no options, every Aztec container is taken together with the rest of
its compose project; with none found, collection stops with :class:`NoDeploymentFound` (saying
what was looked for) unless ``--all`` asks for every container on the host. ``--project`` and
``--container`` point at the deployment directly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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


def config_files(targets: list[Target], env_files: tuple[Path, ...] = (),
                 compose_files: tuple[Path, ...] = ()) -> list[ConfigFile]:
    """The deployment's .env and compose files, from the compose labels and the user's options."""
    found: dict[Path, ConfigFile] = {}

    def add(path: Path, kind: str, project: str) -> None:
        try:
            resolved = path.expanduser().resolve()
        except OSError:
            return
        if resolved in found:
            return
        folder = safe_name(project or "given")
        found[resolved] = ConfigFile(resolved, kind, project, f"config/{folder}/{safe_name(resolved.name)}")

    for t in targets:
        labels = (t.attrs.get("Config") or {}).get("Labels") or {}
        workdir = labels.get(WORKDIR_LABEL)
        for f in filter(None, (labels.get(CONFIG_FILES_LABEL) or "").split(",")):
            p = Path(f)
            add(p if p.is_absolute() or not workdir else Path(workdir) / p, "compose", t.project)
        for f in filter(None, (labels.get(ENV_FILES_LABEL) or "").split(",")):
            add(Path(f), "env", t.project)
        if workdir:
            add(Path(workdir) / ".env", "env", t.project)
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
