"""Fuzz: every command that reads a bundle, driven with mutated manifests and JSON fact files
(hypothesis). Whatever the input, the outcome is a success or a one-line error, never a traceback."""

from __future__ import annotations

import copy
import json
import signal
import tempfile
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nodediag.cli import main
from tests.unit import hostile_builders as hb

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20) | st.sampled_from(["complete", "ok", "failed", "containers/node/logs.txt", "\x1b[2J"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)

FACTS = {
    "containers/node/inspect.json": {"Id": "abc", "Name": "/node", "RestartCount": 2,
                                     "Config": {"Image": "aztecprotocol/aztec:2.1.2", "Env": ["A=b"],
                                                "Labels": {"com.docker.compose.service": "prover-node"},
                                                "Cmd": ["start", "--prover-node"]},
                                     "State": {"Status": "exited", "ExitCode": 137, "OOMKilled": True,
                                               "StartedAt": "2026-11-27T17:00:00Z",
                                               "FinishedAt": "2026-11-27T18:00:02Z"},
                                     "HostConfig": {"Memory": 1 << 30, "RestartPolicy": {"Name": "always"}}},
    "containers/node/stats.json": {"memory_stats": {"usage": 10, "limit": 100, "stats": {"inactive_file": 1}},
                                   "cpu_stats": {"cpu_usage": {"total_usage": 5}, "system_cpu_usage": 9,
                                                 "online_cpus": 2},
                                   "pids_stats": {"current": 3}},
    "host/summary.json": {"hostname": "h", "cpus": 8, "load_avg": [1.0, 2.0, 3.0], "uptime_s": 100.5,
                          "memory_total": 1 << 34},
    "host/memory.json": {"virtual": {"total": 1 << 34, "available": 1 << 30}, "swap": {"total": 0, "used": 0}},
    "host/disk.json": {"filesystems": [{"mountpoint": "/", "total": 100, "used": 99, "free": 1, "percent": 99.0,
                                        "role": "docker-data-root"}]},
    "docker/containers.json": [{"Names": ["/node"], "Image": "aztecprotocol/aztec:2.1.2", "State": "exited",
                                "Status": "Exited (137) 1 minute ago"}],
    "probes/node-status.json": {"container": "node", "url": "http://x:8080/status", "via": "host", "status": 500,
                                "latency_ms": 3.5, "error": None},
}
EVENT = {"Type": "container", "Action": "die", "timeNano": 1_764_266_402_000_000_000,
         "Actor": {"ID": "abc", "Attributes": {"name": "node", "exitCode": "137"}}}


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found.extend(_paths(item, (*prefix, key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.extend(_paths(item, (*prefix, index)))
    return found


@st.composite
def mutated(draw: st.DrawFn, original: Any) -> Any:
    """``original`` with one to three of its values replaced by random JSON, deleted, or deeply nested."""
    value = copy.deepcopy(original)
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(value)
        path = draw(st.sampled_from(paths))
        action = draw(st.sampled_from(["replace", "replace", "delete", "nest"]))
        if not path:
            return draw(JSON) if action != "nest" else [[[[[[[[[[value]]]]]]]]]] * 2
        parent = value
        for key in path[:-1]:
            parent = parent[key]
        key = path[-1]
        if action == "delete" and isinstance(parent, dict):
            del parent[key]
        elif action == "nest":
            nested: Any = parent[key]
            for _ in range(draw(st.integers(1, 100))):
                nested = [nested]
            parent[key] = nested
        else:
            parent[key] = draw(JSON)
    return value


def _bundle(folder: Path, manifest: Any | None, facts: dict[str, Any], events: list[Any]) -> Path:
    files = {rel: json.dumps(data).encode() for rel, data in facts.items()}
    files["containers/node/logs.txt"] = hb.LOG.encode()
    files["docker/events.jsonl"] = "".join(json.dumps(e) + "\n" for e in events).encode()
    data = json.dumps(manifest if manifest is not None else hb.manifest_for(files)).encode()
    return hb.write_bundle(folder / "fuzz.tar.zst", files, data)


def _run(*args: str) -> None:
    saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        result = CliRunner().invoke(main, list(args), catch_exceptions=True)
    finally:
        for signum, handler in saved.items():
            signal.signal(signum, handler)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"nodediag {' '.join(args)} raised {result.exception!r}") from result.exception
    if result.exit_code not in (0, 1, 3):
        lines = [line for line in result.output.splitlines() if line.strip()]
        assert lines and lines[-1].startswith("nodediag: error: "), result.output


def _every_command(bundle: Path, folder: Path) -> None:
    _run("verify", str(bundle))
    _run("inspect", str(bundle))
    _run("inspect", "--json", str(bundle))
    out = folder / "out.tar.zst"
    _run("redact", str(bundle), "-o", str(out))
    if out.exists():
        out.unlink()
    _run("redact", "--allow-damaged", str(bundle), "-o", str(out))
    _run("analyze", str(bundle), "-f", "json", "-o", str(folder / "r.json"))


BASE_FILES = {rel: json.dumps(data).encode() for rel, data in FACTS.items()}
BASE_MANIFEST = hb.manifest_for({**BASE_FILES, "containers/node/logs.txt": hb.LOG.encode()})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated(BASE_MANIFEST))
def test_mutated_manifests_never_end_in_a_traceback(manifest: Any) -> None:
    with tempfile.TemporaryDirectory() as work:
        folder = Path(work)
        _every_command(_bundle(folder, manifest, FACTS, [EVENT]), folder)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(FACTS)).flatmap(lambda rel: st.tuples(st.just(rel), mutated(FACTS[rel]))),
       st.lists(mutated(EVENT), max_size=3))
def test_mutated_fact_files_never_end_in_a_traceback(fact: tuple[str, Any], events: list[Any]) -> None:
    rel, data = fact
    with tempfile.TemporaryDirectory() as work:
        folder = Path(work)
        bundle = _bundle(folder, None, {**FACTS, rel: data}, [EVENT, *events])
        _run("analyze", str(bundle), "-f", "json", "-o", str(folder / "r.json"))
        _run("analyze", str(bundle), "-f", "md", "-o", str(folder / "r.md"))
