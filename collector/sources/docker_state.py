"""The Docker engine's own view: version, info, every container, and events in the window.

    docker/version.json     docker version
    docker/info.json        docker info
    docker/containers.json  every container, running or not (docker ps -a)
    docker/events.jsonl     container events in the window (die with exit code, oom, kill, restart, ...)
"""

from __future__ import annotations

from nodediag.collector.engine import Source, SourceContext
from nodediag.collector.plan import Plan

MAX_EVENTS = 200_000


def _version(ctx: SourceContext) -> None:
    ctx.write_json("docker/version.json", ctx.plan.docker.api.version())


def _info(ctx: SourceContext) -> None:
    ctx.write_json("docker/info.json", ctx.plan.docker.api.info())


def _containers(ctx: SourceContext) -> None:
    ctx.write_json("docker/containers.json", ctx.plan.docker.api.containers(all=True, size=False))


def _events(ctx: SourceContext) -> None:
    plan: Plan = ctx.plan
    names = [t.name for t in plan.targets]
    filters = {"type": ["container"]}
    if names:
        filters["container"] = names
    events = []
    # whole seconds: round the window outwards so an event in the last second is not lost
    stream = plan.docker.api.events(since=int(plan.since.timestamp()), until=int(plan.until.timestamp()) + 1,
                                    filters=filters, decode=True)
    try:
        for event in stream:
            ctx.check()
            events.append(event)
            if len(events) >= MAX_EVENTS:
                ctx.mark_truncated(f"more than {MAX_EVENTS} events in the window; kept the first {MAX_EVENTS}")
                break
    finally:
        close = getattr(stream, "close", None)
        if close:
            close()
    ctx.write_jsonl("docker/events.jsonl", events)


FAMILIES = ("docker_version", "docker_info", "docker_containers", "docker_events")


def sources(plan: Plan) -> list[Source]:
    if plan.docker is None:
        return []
    return [
        Source("docker_version", _version, timeout=15, writes=("docker/version.json",)),
        Source("docker_info", _info, timeout=20, writes=("docker/info.json",)),
        Source("docker_containers", _containers, timeout=20, writes=("docker/containers.json",)),
        Source("docker_events", _events, timeout=60, writes=("docker/events.jsonl",)),
    ]
