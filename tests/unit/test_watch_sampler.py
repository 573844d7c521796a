"""The sampler against a fake engine: which containers it watches, and the figures of one sample."""

from __future__ import annotations

from typing import Any

from nodediag.collector.watch.sampler import DockerLink, Sampler, cpu_percent, memory_used, parse_docker_ts


def attrs(cid: str, name: str, service: str, status: str = "created") -> dict[str, Any]:
    return {"Id": cid, "Name": "/" + name, "RestartCount": 0,
            "State": {"Status": status, "Pid": 0, "ExitCode": 0, "OOMKilled": False},
            "Config": {"Image": "aztecprotocol/aztec:2.1.2", "Cmd": ["start", f"--{service}"], "Env": [],
                       "Labels": {"com.docker.compose.project": "p", "com.docker.compose.service": service}},
            "HostConfig": {"Memory": 0}, "Mounts": []}


class FakeApi:
    def __init__(self) -> None:
        self.containers_now = [attrs("a1", "p-prover-broker-1", "prover-broker"),
                               attrs("a2", "p-prover-agent-1", "prover-agent")]
        self.not_yet: set[str] = {"a2"}  # listed, but inspect fails once (compose still creating it)

    def containers(self, all: bool = False) -> list[dict[str, Any]]:
        return [{"Id": a["Id"]} for a in self.containers_now]

    def inspect_container(self, cid: str) -> dict[str, Any]:
        if cid in self.not_yet:
            self.not_yet.discard(cid)
            raise RuntimeError("No such container")
        return next(a for a in self.containers_now if a["Id"] == cid)

    def info(self) -> dict[str, Any]:
        return {"DockerRootDir": ""}


class FakeClient:
    def __init__(self) -> None:
        self.api = FakeApi()

    def ping(self) -> bool:
        return True


def test_a_container_not_inspectable_yet_is_watched_from_the_next_sample():
    client = FakeClient()
    sampler = Sampler(DockerLink(lambda: client), projects=("p",), read_logs=False)
    sampler.sample(now=1.0)
    assert set(sampler.watched) == {"p-prover-broker-1"}
    sampler.sample(now=2.0)
    assert set(sampler.watched) == {"p-prover-broker-1", "p-prover-agent-1"}


def test_docker_unreachable_still_samples_the_host():
    def refuse() -> Any:
        raise ConnectionError("refused")

    sampler = Sampler(DockerLink(refuse))
    tick = sampler.sample(now=5.0)
    assert not tick.docker_ok and "refused" in tick.docker_error
    assert [s.kind for s in tick.samples] == ["host"] and tick.samples[0].data["mem_total"] > 0


def test_memory_and_cpu_figures_as_docker_stats_shows_them():
    stats = {"memory_stats": {"usage": 100, "stats": {"inactive_file": 30}, "limit": 1000},
             "cpu_stats": {"cpu_usage": {"total_usage": 3_000}, "system_cpu_usage": 20_000, "online_cpus": 2}}
    assert memory_used(stats) == 70
    assert cpu_percent(stats, None) == (None, (3_000, 20_000))  # the first sample has nothing to compare with
    assert cpu_percent(stats, (1_000, 10_000))[0] == 40.0  # 2000 of 10000 system ticks on 2 CPUs
    assert parse_docker_ts("2026-01-02T03:04:05.5Z") == (1767323045, 500_000_000)
    assert parse_docker_ts("[03:04:05.123]") is None
