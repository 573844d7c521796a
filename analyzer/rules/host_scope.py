"""One host at a time for the host-level rules: each host's resources, kernel OOM records and
filesystems are judged against the containers that run on it, never another host's.

One input is one host: its facts and every container (the results it always gave). Several
hosts (merge.py) give one scope each: the host's own HostFacts, the containers it holds and where
its files lie in the merged input (``<label>/host/...``); a finding made in such a scope names
its host (``details["host"]``, and its title)."""

from __future__ import annotations

from dataclasses import dataclass

from nodediag.analyzer.model import ContainerInfo, Facts, Finding, HostFacts


@dataclass(frozen=True, slots=True)
class HostScope:
    label: str  # the host's label when the input holds several hosts; "" for one
    facts: HostFacts
    containers: list[ContainerInfo]
    files: str = ""  # prefix of the host's own files (host/summary.json ...) in the input

    def path(self, rel: str) -> str:
        return self.files + rel

    def on(self, text: str) -> str:
        """``text`` with the host named, when there are several."""
        return f"{text} on host {self.label}" if self.label else text

    def name(self, finding: Finding) -> Finding:
        """``finding`` tagged with its host (several hosts only; one host's findings are unchanged)."""
        if self.label:
            finding.details["host"] = self.label
        return finding


def host_scopes(facts: Facts) -> list[HostScope]:
    """The hosts to judge one by one."""
    if len(facts.hosts) <= 1:
        return [HostScope("", facts.host, facts.containers)]
    scopes = []
    for host in facts.hosts:
        held = set(host.containers)
        scopes.append(HostScope(host.label, host.facts, [c for c in facts.containers if c.name in held],
                                f"{host.label}/"))
    return scopes


def finding_place(finding: Finding) -> str:
    """Where a finding happened, for the grace between host clocks: its container, else its host."""
    return finding.container or str(finding.details.get("host") or "")
