"""What one collection run will gather: the choices made before any source runs."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from nodediag.collector.discovery import ConfigFile, Target


@dataclass
class Plan:
    docker: Any  # docker.DockerClient, or None when the engine is unreachable
    docker_error: str | None
    targets: list[Target]
    chosen_how: str
    configs: list[ConfigFile]
    since: datetime
    until: datetime
    log_cap: int
    data_dirs: list[str] = field(default_factory=list)
    docker_root: str = ""
