"""Shared pytest fixtures: the project's private Docker engine, the local test image, the bundled
Docker Compose binary and the fake Aztec prover deployments (tests/fixtures/deployments/).

Docker-needing tests carry ``@pytest.mark.docker`` and ask for ``docker_engine`` (directly or via
``deployment`` / ``docker_client``). The engine is the one ``DOCKER_HOST`` points at when it
answers, else one started by ``tests/engine/dockerd.sh`` for the session and stopped after it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from compose_tools import SETUP_HINT, compose_binary

from nodediag.roles import SERVICE_ROLES

if TYPE_CHECKING:
    from docker import DockerClient
    from docker.models.containers import Container

REPO_ROOT = Path(__file__).resolve().parent.parent
ENGINE_SCRIPT = REPO_ROOT / "tests" / "engine" / "dockerd.sh"
BUILD_IMAGE_SCRIPT = REPO_ROOT / "tests" / "engine" / "build-image.sh"
DEPLOYMENTS_DIR = REPO_ROOT / "tests" / "fixtures" / "deployments"

BASE_IMAGE = "nodediag-test/busybox:1"
AZTEC_FAKE_IMAGE = "aztecprotocol/aztec:2.1.2-fake"


class ComposeError(RuntimeError):
    """A docker compose command exited non-zero."""


@pytest.fixture(autouse=True, scope="session")
def sigint_is_not_ignored() -> Iterator[None]:
    """Tests interrupt `nodediag` with SIGINT, in this process and in children. A runner that starts
    pytest with SIGINT ignored (a background job of a non-interactive shell, nohup) would make every
    child inherit the ignore and those tests fail for a reason that is not nodediag's: Python's own
    handler is put back for the session (a child then starts with the default, as from a terminal)."""
    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
        yield
        return
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def _engine_answers(docker_host: str) -> bool:
    import docker

    try:
        client = docker.DockerClient(base_url=docker_host, timeout=5)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:  # noqa: BLE001 - any failure means "does not answer"
        return False


def _engine_script(action: str, state_dir: str | None, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if state_dir:
        env["NODEDIAG_ENGINE_DIR"] = state_dir
    return subprocess.run(
        ["bash", str(ENGINE_SCRIPT), action],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=env,
    )


@pytest.fixture(scope="session", autouse=True)
def private_state_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Every nodediag the tests run (in process or as a subprocess) keeps its host redaction key in
    a folder of this session, never in the machine's /var/lib/nodediag or ~/.local/state."""
    folder = tmp_path_factory.mktemp("state-home")
    before = os.environ.get("XDG_STATE_HOME")
    os.environ["XDG_STATE_HOME"] = str(folder)
    yield folder
    if before is None:
        os.environ.pop("XDG_STATE_HOME", None)
    else:
        os.environ["XDG_STATE_HOME"] = before


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[str]:
    """The ``DOCKER_HOST`` URL of a running engine. Order: ``DOCKER_HOST`` if it answers; the
    engine already running in ``$NODEDIAG_ENGINE_DIR`` (default /tmp/nodediag-engine), e.g. one
    that .ci/run started, used and never stopped; else a private engine for this session in its
    own state folder, stopped (leaving nothing behind) when the session ends."""
    existing = os.environ.get("DOCKER_HOST", "")
    if existing and _engine_answers(existing):
        yield existing
        return
    if shutil.which("dockerd") is None or shutil.which("docker") is None:
        pytest.fail(f"Docker engine not installed (no dockerd/docker on PATH): {SETUP_HINT}", pytrace=False)
    shared_dir = os.environ.get("NODEDIAG_ENGINE_DIR") or None
    if _engine_script("status", shared_dir).returncode == 0:
        state_dir, owned = shared_dir, False
    elif shared_dir:
        state_dir, owned = shared_dir, True
    else:
        # a folder of our own, so that another session's teardown never stops our engine
        state_dir, owned = f"/tmp/nodediag-engine-pytest-{os.getpid()}", True
    started = _engine_script("start", state_dir)
    if started.returncode != 0:
        if owned:
            _engine_script("stop", state_dir)
        pytest.fail(f"tests/engine/dockerd.sh start failed: {started.stderr.strip()}", pytrace=False)
    export_line = started.stdout.strip().splitlines()[-1]
    docker_host = export_line.split("DOCKER_HOST=", 1)[1]
    previous = os.environ.get("DOCKER_HOST")
    os.environ["DOCKER_HOST"] = docker_host
    try:
        yield docker_host
    finally:
        if previous is None:
            os.environ.pop("DOCKER_HOST", None)
        else:
            os.environ["DOCKER_HOST"] = previous
        if owned:
            _engine_script("stop", state_dir)


@pytest.fixture(scope="session")
def docker_client(docker_engine: str) -> Iterator[DockerClient]:
    """``docker.from_env()`` bound to the test engine."""
    import docker

    client = docker.from_env()
    try:
        yield client
    finally:
        client.close()


@pytest.fixture(scope="session")
def test_image(docker_engine: str) -> str:
    """Builds the busybox image (tagged ``nodediag-test/busybox:1`` and
    ``aztecprotocol/aztec:2.1.2-fake``) and returns the plain tag ``nodediag-test/busybox:1``."""
    built = subprocess.run(
        ["bash", str(BUILD_IMAGE_SCRIPT)],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        env={**os.environ, "DOCKER_HOST": docker_engine},
    )
    if built.returncode != 0:
        pytest.fail(f"tests/engine/build-image.sh failed: {built.stderr.strip()}", pytrace=False)
    return BASE_IMAGE


ComposeRunner = Callable[..., "subprocess.CompletedProcess[str]"]


@pytest.fixture(scope="session")
def compose(docker_engine: str) -> ComposeRunner:
    """``compose(*args, project_dir=..., project=None, check=True, timeout=120)`` runs the bundled
    compose binary against the test engine and raises ComposeError on a non-zero exit."""
    try:
        binary = compose_binary()
    except FileNotFoundError as error:
        pytest.fail(str(error), pytrace=False)

    def run(
        *args: str,
        project_dir: Path,
        project: str | None = None,
        check: bool = True,
        timeout: float = 120,
    ) -> subprocess.CompletedProcess[str]:
        command = [str(binary), "--project-directory", str(project_dir)]
        if project:
            command += ["--project-name", project]
        command += list(args)
        result = subprocess.run(
            command,
            cwd=project_dir,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            env={**os.environ, "DOCKER_HOST": docker_engine},
        )
        if check and result.returncode != 0:
            raise ComposeError(f"docker compose {' '.join(args)} exited {result.returncode}: {result.stderr.strip()}")
        return result

    return run


def rewrite_env_file(env_file: Path, overrides: Mapping[str, str | None]) -> None:
    """Set (or, for ``None``, delete) ``KEY=value`` lines in a compose ``.env`` file."""
    lines = env_file.read_text().splitlines() if env_file.exists() else []
    pending = dict(overrides)
    kept: list[str] = []
    for line in lines:
        key = line.split("=", 1)[0].strip() if "=" in line and not line.lstrip().startswith("#") else ""
        if key in pending:
            value = pending.pop(key)
            if value is not None:
                kept.append(f"{key}={value}")
            continue
        kept.append(line)
    kept += [f"{key}={value}" for key, value in pending.items() if value is not None]
    env_file.write_text("\n".join(kept) + "\n")


@dataclass
class Deployment:
    """A running fake prover deployment (a copy of tests/fixtures/deployments/<flavor>)."""

    flavor: str
    project: str
    dir: Path
    containers: dict[str, str]  # role (prover-node, prover-broker, prover-agent) -> container name
    planted: dict[str, object]
    run_compose: ComposeRunner = field(repr=False)

    def compose(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run_compose(*args, project_dir=self.dir, project=self.project, check=check)

    def down(self) -> None:
        self.compose("down", "-v", "--remove-orphans", "--timeout", "5")


def _containers_by_role(client: DockerClient, project: str) -> dict[str, Container]:
    found = client.containers.list(all=True, filters={"label": f"com.docker.compose.project={project}"})
    by_role: dict[str, Container] = {}
    for container in found:
        service = container.labels.get("com.docker.compose.service", "")
        by_role[SERVICE_ROLES.get(service, service)] = container
    return by_role


def _wait_for_log_lines(containers: Mapping[str, Container], min_lines: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    waiting = dict(containers)
    while waiting:
        for role, container in list(waiting.items()):
            container.reload()
            lines = container.logs(stdout=True, stderr=True).count(b"\n")
            if lines >= min_lines or container.status not in ("created", "running"):
                del waiting[role]
        if not waiting:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"containers {sorted(waiting)} logged fewer than {min_lines} lines in {timeout}s")
        time.sleep(0.2)


class DeploymentLauncher:
    """Brings fake deployments up in a work folder and tears them all down at the end."""

    def __init__(self, client: DockerClient, run_compose: ComposeRunner, work_dir: Path) -> None:
        self.client = client
        self.run_compose = run_compose
        self.work_dir = work_dir
        self.started: list[Deployment] = []

    def __call__(
        self,
        flavor: str,
        env_overrides: Mapping[str, str | None] | None = None,
        project: str | None = None,
        min_lines: int = 3,
        timeout: float = 30,
    ) -> Deployment:
        source = DEPLOYMENTS_DIR / flavor
        if not (source / "compose.yaml").is_file():
            raise ValueError(f"unknown deployment flavor {flavor!r}: no {source}/compose.yaml")
        project = project or f"aztec-prover-{uuid.uuid4().hex[:8]}"
        target = self.work_dir / f"{flavor}-{project}"
        shutil.copytree(source, target, symlinks=False)  # the roles symlink becomes a real folder
        if env_overrides:
            rewrite_env_file(target / ".env", env_overrides)
        planted = json.loads((target / "planted.json").read_text())
        created = Deployment(flavor, project, target, {}, planted, self.run_compose)
        self.started.append(created)
        created.compose("up", "--detach", "--no-build", "--pull", "never")
        by_role = _containers_by_role(self.client, project)
        created.containers = {role: container.name for role, container in by_role.items()}
        _wait_for_log_lines(by_role, min_lines, timeout)
        return created

    def tear_down_all(self) -> None:
        errors: list[str] = []
        for running in reversed(self.started):
            try:
                running.down()
            except (ComposeError, subprocess.TimeoutExpired) as error:
                errors.append(str(error))
        self.started.clear()
        if errors:
            pytest.fail("teardown of fake deployments failed: " + "; ".join(errors), pytrace=False)


@pytest.fixture
def deployment(
    docker_client: DockerClient, test_image: str, compose: ComposeRunner, tmp_path: Path
) -> Iterator[DeploymentLauncher]:
    """``deployment("official"|"community", env_overrides=None, project=None, min_lines=3)``
    copies the fixture folder to tmp, brings it up under a unique project name, waits until each
    container has logged ``min_lines`` lines (or exited) and returns a Deployment. ``.env``
    overrides reach the containers for the variables the compose file interpolates (LOG_LEVEL,
    LOG_JSON, FAKE_SCENARIO, PROVER_AGENT_POLL_INTERVAL_MS, ...); ``None`` deletes a key.
    Everything is torn down (``down -v --remove-orphans``) when the test ends."""
    launcher = DeploymentLauncher(docker_client, compose, tmp_path)
    yield launcher
    launcher.tear_down_all()


@pytest.fixture(scope="module")
def deployment_module(
    docker_client: DockerClient, test_image: str, compose: ComposeRunner, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    """One healthy official-naming deployment shared by the tests of a module (read-only use)."""
    launcher = DeploymentLauncher(docker_client, compose, tmp_path_factory.mktemp("deployment"))
    yield launcher("official")
    launcher.tear_down_all()
