"""Logic rules on the deployment's configuration and on the input's gaps. Their wording is in
checks.yaml; each function takes the rule and a CheckContext and returns findings."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from nodediag.analyzer.model import ContainerInfo, Evidence, Facts, Finding, LoadedInput, Severity
from nodediag.analyzer.rules.catalog import Rule, Tag
from nodediag.analyzer.rules.evidence import (
    env_evidence,
    fact_evidence,
    inspect_path,
    locate,
    make_finding,
    text_evidence,
)

LOG_LEVEL_NAMES = ("trace", "debug", "verbose", "info", "warn", "error", "fatal", "silent")
GAP_SEVERITY: dict[str, Severity] = {"checksum-mismatch": "high", "failed": "medium", "timeout": "medium",
                                     "missing": "medium"}
AZTEC_ROLES = ("prover-node", "prover-broker", "prover-agent")


@dataclass(slots=True)
class CheckContext:
    facts: Facts
    inp: LoadedInput | None = None
    log_hits: dict[str, dict[str, int]] = field(default_factory=dict)  # rule id -> container -> hits
    rules: list[Rule] = field(default_factory=list)  # every rule loaded (to find them by tag)
    last_seen: dict[str, dict[str, datetime]] = field(default_factory=dict)  # rule id -> container -> latest hit


def tag_hits(ctx: CheckContext, tag: Tag) -> dict[str, int]:
    """container -> hits of the log rules tagged ``tag`` (the rule files say which rules)."""
    total: dict[str, int] = {}
    for rule in ctx.rules:
        if tag in rule.tags:
            for container, count in ctx.log_hits.get(rule.id, {}).items():
                total[container] = total.get(container, 0) + count
    return total


def aztec_containers(facts: Facts, *roles: str) -> list[ContainerInfo]:
    wanted = roles or AZTEC_ROLES
    return [c for c in facts.containers if c.role in wanted]


def _int_setting(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value.strip().strip("'\""))
    except ValueError:
        return None


def data_gaps(rule: Rule, ctx: CheckContext) -> list[Finding]:
    findings = []
    for gap in ctx.inp.gaps if ctx.inp else []:
        evidence = locate(ctx.inp, "manifest.json", [f'"{gap.source}"']) if gap.source else None
        findings.append(
            make_finding(
                rule,
                title=f"Missing data: {gap.source or 'input'} ({gap.status})",
                severity=GAP_SEVERITY.get(gap.status, "low"),
                evidence=[evidence or fact_evidence("manifest.json", f"{gap.source}: {gap.status}: {gap.detail}")],
                details={"source": gap.source, "status": gap.status, "reason": gap.detail,
                         "files": ", ".join(gap.files)},
            )
        )
    return findings


def _setting_sources(ctx: CheckContext, roles: tuple[str, ...]) -> list[tuple[str, dict[str, str], str]]:
    """(container, env, where) for containers of ``roles``; when the input has none of them, the
    merged env of the config files (manual-guide input), with container ""."""
    found = [(c.name, c.env, "inspect") for c in aztec_containers(ctx.facts, *roles) if c.env]
    if found:
        return found
    merged: dict[str, str] = {}
    for config in ctx.facts.config_files:
        merged.update(config.env)
    return [("", merged, "config")] if merged else []


def _setting_evidence(ctx: CheckContext, container: str, key: str) -> Evidence | None:
    """The line setting ``key``: in the container's inspect.json, else in a config file, else
    the value itself stated as a fact."""
    for info in ctx.facts.containers:
        if info.name == container:
            found = env_evidence(ctx.inp, info, key)
            if found:
                return found
    for config in ctx.facts.config_files:
        found = text_evidence(config.path, config.text, [key], container=container)
        if found:
            return found
    for info in ctx.facts.containers:
        if info.name == container and key in info.env:
            return fact_evidence(inspect_path(info.name), f"{key}={info.env[key]}", container=container)
    return None


def agent_poll_interval(rule: Rule, ctx: CheckContext) -> list[Finding]:
    timeouts = [
        t for _, env, _ in _setting_sources(ctx, ("prover-broker",))
        if (t := _int_setting(env.get("PROVER_BROKER_JOB_TIMEOUT_MS"))) is not None
    ]
    timeout = min(timeouts) if timeouts else int(rule.params.get("default_job_timeout_ms", 30000))
    default_poll = int(rule.params.get("default_poll_interval_ms", 1000))
    findings = []
    for container, env, _ in _setting_sources(ctx, ("prover-agent",)):
        poll = _int_setting(env.get("PROVER_AGENT_POLL_INTERVAL_MS"))
        poll_origin = "set"
        if poll is None:  # unset: the release's default applies
            poll, poll_origin = default_poll, "default (unset)"
        if poll < timeout:
            continue
        origin = "set" if timeouts else "default (unset)"
        findings.append(
            make_finding(
                rule,
                container=container,
                title=f"Agent poll interval {poll} ms >= broker job time-out {timeout} ms",
                evidence=[
                    _setting_evidence(ctx, container, "PROVER_AGENT_POLL_INTERVAL_MS"),
                    _setting_evidence(ctx, "", "PROVER_BROKER_JOB_TIMEOUT_MS")
                    or next((_setting_evidence(ctx, c.name, "PROVER_BROKER_JOB_TIMEOUT_MS")
                             for c in aztec_containers(ctx.facts, "prover-broker")), None),
                ],
                details={"PROVER_AGENT_POLL_INTERVAL_MS": f"{poll} ({poll_origin})",
                         "PROVER_BROKER_JOB_TIMEOUT_MS": f"{timeout} ({origin})"},
            )
        )
    return findings


def _image_tag(image: str) -> str:
    repo = image.split("@", 1)
    if len(repo) == 2:
        return "@" + repo[1]
    last = image.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else "latest"


def by_project(containers: list[ContainerInfo]) -> dict[str, list[ContainerInfo]]:
    """Containers by compose project ("" for those without one): deployments apart."""
    groups: dict[str, list[ContainerInfo]] = {}
    for c in containers:
        groups.setdefault(c.project, []).append(c)
    return groups


def image_tags(rule: Rule, ctx: CheckContext) -> list[Finding]:
    """Roles of one deployment (compose project) on different releases: their JSON-RPC clients
    reject each other's component versions. Two projects on different tags are two deployments."""
    findings = []
    for project, group in sorted(by_project([c for c in aztec_containers(ctx.facts) if c.image]).items()):
        tags = {c.name: _image_tag(c.image) for c in group}
        if len(set(tags.values())) < 2:
            continue
        ids = {c.image_id for c in group}
        if len(ids) == 1 and "" not in ids:
            continue  # one image under several tags ("latest" and its version): one release
        counts: dict[str, int] = {}
        for tag in tags.values():
            counts[tag] = counts.get(tag, 0) + 1
        # the odd one out is the container whose tag fewer roles share
        odd = sorted(group, key=lambda c: (counts[tags[c.name]], c.role != "prover-agent", c.name))
        where = f" in project {project}" if project else ""
        findings.append(make_finding(
            rule,
            container=odd[0].name,
            title=f"The roles{where} run different releases: "
                  + ", ".join(f"{c.role} {tags[c.name]}" for c in sorted(group, key=lambda c: (c.role, c.name))),
            evidence=[locate(ctx.inp, inspect_path(c.name), ['"Image": "' + c.image], container=c.name)
                      or fact_evidence(inspect_path(c.name), f"{c.name} ({c.role}): {c.image}",
                                       container=c.name) for c in odd],
            count=len(group),
            details={"project": project or "-", **{f"{c.name} ({c.role})": c.image for c in group}},
        ))
    return findings


def _has_flag(container: ContainerInfo, flags: list[str]) -> bool:
    return any(arg.split("=", 1)[0] in flags for arg in container.cmd)


def required_settings(rule: Rule, ctx: CheckContext) -> list[Finding]:
    findings = []
    settings: dict[str, dict] = rule.params.get("settings", {})
    for container in aztec_containers(ctx.facts):
        if not container.env:
            continue  # no inspect data: nothing can be said
        missing = []
        for key, spec in settings.items():
            if container.role not in spec.get("roles", []):
                continue
            if key == "PROVER_BROKER_HOST" and "--prover-broker" in container.cmd:
                continue  # the node runs its own broker
            names = [key, *spec.get("aliases", [])]
            if any(container.env.get(n, "").strip() for n in names) or _has_flag(container, spec.get("flags", [])):
                continue
            missing.append(key)
        if missing:
            findings.append(
                make_finding(
                    rule,
                    container=container.name,
                    title=f"{container.role} {container.name} lacks {', '.join(missing)}",
                    evidence=[locate(ctx.inp, inspect_path(container.name), ['"Env"'], container=container.name,
                                     note=f"its environment has no {', '.join(missing)}")
                              or fact_evidence(inspect_path(container.name),
                                               f"Config.Env has no {', '.join(missing)}", container=container.name)],
                    count=len(missing),
                    details={"missing": ", ".join(missing), "role": container.role},
                )
            )
    return findings


def invalid_log_levels(value: str) -> list[str]:
    """The level names in a LOG_LEVEL value (``info;debug:prover-client,archiver``) that do not
    exist; [] when it is valid."""
    bad = []
    for part in value.strip().strip("'\"").split(";"):
        level = part.split(":", 1)[0].strip()
        if level and level.lower() not in LOG_LEVEL_NAMES:
            bad.append(level)
    return bad


def log_level_env(rule: Rule, ctx: CheckContext) -> list[Finding]:
    findings = []
    for container, env, _ in _setting_sources(ctx, AZTEC_ROLES):
        value = env.get("LOG_LEVEL")
        if not value or value.startswith("[REDACTED"):
            continue
        bad = invalid_log_levels(value)
        if bad:
            findings.append(
                make_finding(
                    rule,
                    container=container,
                    title=f"LOG_LEVEL={value!r} names unknown level(s) {', '.join(bad)}",
                    evidence=[_setting_evidence(ctx, container, "LOG_LEVEL")],
                    details={"LOG_LEVEL": value},
                )
            )
    return findings


# the params each check reads (validated when the rules load: registry.py)
FACT_CHECK_PARAMS: dict[str, dict[str, str]] = {
    "agent_poll_interval": {"default_job_timeout_ms": "int", "default_poll_interval_ms": "int"},
    "required_settings": {"settings": "mapping"},
}

FACT_CHECKS: dict[str, Callable[[Rule, CheckContext], list[Finding]]] = {
    "data_gaps": data_gaps,
    "agent_poll_interval": agent_poll_interval,
    "image_tags": image_tags,
    "required_settings": required_settings,
    "log_level_env": log_level_env,
}
