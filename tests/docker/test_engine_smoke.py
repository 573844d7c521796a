"""The test engine, image and fake deployments behave the way the collector tests rely on."""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING

import pytest
from waiting import wait_until

from nodediag.roles import detect_role
from tests.docker.test_collect import wait_for_oom_event

if TYPE_CHECKING:
    from docker import DockerClient

pytestmark = pytest.mark.docker

PINO_PRETTY = re.compile(rb"^\S+Z \[\d\d:\d\d:\d\d\.\d{3}\] (INFO|WARN|ERROR|DEBUG|VERBOSE): \S+ ")


def _wait_for_log(container, fragment: bytes, timeout: float = 90) -> bytes:
    """The container's log (both streams) once it holds ``fragment``; fails after ``timeout`` s."""
    def logs_with_it() -> bytes:
        logs = container.logs(stdout=True, stderr=True)
        return logs if fragment in logs else b""

    return wait_until(logs_with_it, timeout, f"{container.name} logging {fragment!r}", interval=0.3)


@pytest.mark.parametrize(
    ("flavor", "services"),
    [
        ("official", {"prover-node", "prover-broker", "prover-agent"}),
        ("community", {"node", "broker", "agent"}),
    ],
)
def test_deployment_runs_three_roles_with_compose_labels_and_role_flags(
    deployment, docker_client: DockerClient, flavor: str, services: set[str]
) -> None:
    up = deployment(flavor)
    assert set(up.containers) == {"prover-node", "prover-broker", "prover-agent"}
    seen_services = set()
    for role, name in up.containers.items():
        container = docker_client.containers.get(name)
        assert container.status == "running", (name, container.status)
        labels = container.labels
        assert labels["com.docker.compose.project"] == up.project
        assert labels["com.docker.compose.project.working_dir"] == str(up.dir)
        assert labels["com.docker.compose.project.config_files"] == str(up.dir / "compose.yaml")
        seen_services.add(labels["com.docker.compose.service"])
        assert name == f"{up.project}-{labels['com.docker.compose.service']}-1"
        image = container.attrs["Config"]["Image"]
        command = container.attrs["Config"]["Cmd"]
        assert detect_role(name, image, command, labels) == (role, "image+flag")
    assert seen_services == services


def test_broker_status_answers_200_inside_the_shared_namespace(deployment, docker_client: DockerClient) -> None:
    up = deployment("official")
    agent = docker_client.containers.get(up.containers["prover-agent"])
    status = agent.exec_run(["wget", "-qO-", "-S", "http://127.0.0.1:8080/status"])
    assert status.exit_code == 0
    assert b"HTTP/1.1 200 OK" in status.output
    node_status = agent.exec_run(["wget", "-qO-", "-S", "http://127.0.0.1:8081/status"])
    assert b"HTTP/1.1 200 OK" in node_status.output
    health = agent.exec_run(["wget", "-qO-", "-S", "http://127.0.0.1:8080/health"])
    assert health.exit_code != 0 and b"404" in health.output
    broker = docker_client.containers.get(up.containers["prover-broker"])
    assert broker.attrs["HostConfig"]["NetworkMode"] == "none"
    assert agent.attrs["HostConfig"]["NetworkMode"] == f"container:{broker.id}"


def test_logs_carry_stderr_pino_records_and_planted_values(deployment, docker_client: DockerClient) -> None:
    up = deployment("official")
    node = docker_client.containers.get(up.containers["prover-node"])
    _wait_for_log(node, b"Prover node ready on port 8081")
    stderr_only = node.logs(stdout=False, stderr=True, timestamps=True)
    stdout_only = node.logs(stdout=True, stderr=False, timestamps=True)
    pino_lines = [line for line in stderr_only.splitlines() if PINO_PRETTY.match(line)]
    assert len(pino_lines) >= 5
    assert not any(PINO_PRETTY.match(line) for line in stdout_only.splitlines())
    assert b"Prover node ready on port 8081" in stdout_only  # plain output goes to stdout
    both = node.logs(stdout=True, stderr=True).decode()
    secrets = up.planted["secrets"]
    survivors = up.planted["survivors"]
    assert secrets["publisher_private_key"] in both
    assert f"Error fetching from host https://eth-sepolia.g.alchemy.com/v2/{secrets['alchemy_api_key']}" in both
    for name in ("tx_hash", "rollup_address", "container_id_like", "prover_id"):
        assert survivors[name] in both, name
    env = dict(item.split("=", 1) for item in node.attrs["Config"]["Env"])
    assert env["PROVER_PUBLISHER_PRIVATE_KEY"] == secrets["publisher_private_key"]
    assert env["AWS_SECRET_ACCESS_KEY"] == secrets["aws_secret_access_key"]


def test_env_override_reaches_containers_and_invalid_log_level_stops_start_up(
    deployment, docker_client: DockerClient
) -> None:
    up = deployment("official", env_overrides={"LOG_LEVEL": "loud"})
    node = docker_client.containers.get(up.containers["prover-node"])
    node.wait(timeout=15)
    node.reload()
    assert node.attrs["State"]["ExitCode"] == 1
    assert b"Invalid log level: loud" in node.logs(stdout=True, stderr=True)


def test_failure_scenarios_play_their_log_signatures(deployment, docker_client: DockerClient) -> None:
    failed = deployment("official", env_overrides={"FAKE_SCENARIO": "proof-failed"})
    down = deployment("community", env_overrides={"FAKE_SCENARIO": "broker-down"})
    failed_node = docker_client.containers.get(failed.containers["prover-node"])
    failed_broker = docker_client.containers.get(failed.containers["prover-broker"])
    node_logs = _wait_for_log(failed_node, b"exited with state failed")
    assert node_logs.count(b"Error thrown when proving job: Error: Broker facade stopped") == 5
    assert b"Marking proving job as failed" in _wait_for_log(failed_broker, b"Marking proving job as failed")
    down_agent = docker_client.containers.get(down.containers["prover-agent"])
    agent_logs = _wait_for_log(down_agent, b"ECONNREFUSED")
    assert b"Error in running promise: Error: connect ECONNREFUSED 127.0.0.1:8080" in agent_logs
    assert docker_client.containers.get(down.containers["prover-broker"]).status == "running"


def test_memory_limit_kill_shows_oom_state_and_events(docker_client: DockerClient, test_image: str) -> None:
    since = time.time() - 1
    container = docker_client.containers.run(
        test_image,
        ["sh", "-c", "echo allocating; x=$(head -c 64000000 /dev/zero | tr '\\0' a); echo survived"],
        mem_limit="16m",
        memswap_limit="16m",
        network_mode="none",
        labels={"nodediag.test": "oom"},
        detach=True,
    )
    try:
        assert container.wait(timeout=60)["StatusCode"] == 137
        container.reload()
        # (State.OOMKilled is not asserted: Docker sets it only when the OOM event reaches it
        # before the exit, which on cgroup v2 it sometimes does not: hashicorp/nomad#13119. The
        # oom event below is the reliable record, and the one nodediag's analyzer reads too.)
        assert container.attrs["State"]["ExitCode"] == 137
        assert b"survived" not in container.logs()
        actions = wait_for_oom_event(docker_client, container.id, since)  # may come after the exit
        assert ("oom", None) in actions
        assert ("die", "137") in actions
    finally:
        container.remove(force=True)
