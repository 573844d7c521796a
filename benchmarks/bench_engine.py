"""The private Docker engine the collect benchmarks run against (tests/engine/dockerd.sh), with
the local test image built; the engine named by DOCKER_HOST when there is one."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ENGINE = REPO / "tests" / "engine"


def start_engine() -> tuple[dict[str, str], bool]:
    """(the environment to run docker and nodediag with, whether this call started the engine)."""
    env = dict(os.environ)
    started = False
    if "DOCKER_HOST" not in env:
        env["NODEDIAG_ENGINE_DIR"] = "/tmp/nodediag-engine-bench"
        out = subprocess.run(["bash", str(ENGINE / "dockerd.sh"), "start"], env=env, capture_output=True,
                             text=True, check=True).stdout
        env["DOCKER_HOST"] = out.strip().split("=", 1)[1]
        started = True
    env["PYTHONPATH"] = str(REPO)
    subprocess.run(["bash", str(ENGINE / "build-image.sh")], env=env, check=True, capture_output=True)
    return env, started


def stop_engine(env: dict[str, str]) -> None:
    subprocess.run(["bash", str(ENGINE / "dockerd.sh"), "stop"], env=env, capture_output=True)
