"""Health probes: ``GET /status`` on each role's JSON-RPC port (AZTEC_PORT, default 8080).

    probes/<name>-status.json   url, how it was reached, HTTP status, latency, error

Read-only, short timeout. Reached through the published host port when there is one, else from
inside the container's network namespace (a short-lived helper process that joins it with
setns(2), which needs root), else recorded as skipped with the reason. There is no ``/health``
route in Aztec: it answers 404 on healthy nodes, so it is never probed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from nodediag.collector.discovery import Target
from nodediag.collector.engine import Source, SourceContext, SourceSkipped
from nodediag.collector.sources.http_status import get_status

TIMEOUT_S = 3.0
ROLES = ("prover-node", "prover-broker", "prover-agent")

def status_port(target: Target) -> int:
    try:
        return int(target.env.get("AZTEC_PORT") or 8080)
    except ValueError:
        return 8080


def published_port(target: Target, port: int) -> int | None:
    ports = ((target.attrs.get("NetworkSettings") or {}).get("Ports")) or {}
    for binding in ports.get(f"{port}/tcp") or []:
        if binding.get("HostPort"):
            return int(binding["HostPort"])
    return None


def _probe(target: Target):
    def collect(ctx: SourceContext) -> None:
        path = f"probes/{target.dir_name}-status.json"
        port = status_port(target)
        state = (ctx.plan.docker.api.inspect_container(target.id).get("State") or {}) if ctx.plan.docker else {}
        if state.get("Status") != "running":
            raise SourceSkipped(f"container is {state.get('Status') or target.state or 'not running'}")
        host_port = published_port(target, port)
        if host_port:
            url = f"http://127.0.0.1:{host_port}/status"
            result = {"container": target.name, "url": url, "via": "host", **get_status(url, TIMEOUT_S)}
        elif os.geteuid() == 0 and state.get("Pid"):
            url = f"http://127.0.0.1:{port}/status"
            # the same interpreter imports the same installed nodediag
            proc = subprocess.run([sys.executable, "-m", "nodediag.collector.sources.http_status", str(state["Pid"]),
                                   url, str(TIMEOUT_S)], capture_output=True, timeout=TIMEOUT_S + 5, check=False)
            try:
                outcome = json.loads(proc.stdout.decode().strip().splitlines()[-1])
            except (ValueError, IndexError) as exc:
                raise RuntimeError(f"netns probe failed: {proc.stderr.decode(errors='replace')[-200:]}") from exc
            result = {"container": target.name, "url": url, "via": "netns", **outcome}
        else:
            raise SourceSkipped(f"port {port} is not published on the host and joining the container's "
                                "network namespace needs root")
        ctx.write_json(path, result)

    return collect


FAMILIES = ("probe_status",)


def sources(plan) -> list[Source]:
    if plan.docker is None:
        return []
    return [Source(f"probe_status:{t.name}", _probe(t), timeout=15, writes=(f"probes/{t.dir_name}-status.json",))
            for t in plan.targets if t.role in ROLES]
