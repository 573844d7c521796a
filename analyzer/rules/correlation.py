"""Link causes to their symptoms: a cause finding is linked to a symptom finding when the rules
say it can cause it and one of its hits precedes an episode (burst) of the symptom within the
symptom rule's window. Facts (OOM kills, exit codes) are dated too: a dated fact links only when
it precedes the symptom (a cause never comes after what it explains); an undated one (a setting)
links whenever the rules allow. Findings of different compose projects never explain each other."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from nodediag.analyzer.model import Finding
from nodediag.analyzer.rules.catalog import Rule
from nodediag.analyzer.rules.engine import Episode
from nodediag.analyzer.rules.host_scope import finding_place

# Docker stamps every container's lines with one host clock: a cause may be logged a moment
# after the first line of what it explains only by the interleaving of two writers.
ORDER_GRACE = timedelta(seconds=2)


@dataclass(slots=True)
class CauseLink:
    """What one cause finding explains."""

    symptom_episodes: int = 0
    symptoms: list[Finding] = field(default_factory=list)
    earliest: datetime | None = None  # its earliest hit that precedes a linked symptom
    ordered: bool = False  # True when a dated hit precedes the symptom (not only an undated fact)


@dataclass(frozen=True, slots=True)
class Scope:
    """Where containers belong: their role and their compose project ("" when unknown)."""

    roles: dict[str, str] = field(default_factory=dict)
    projects: dict[str, str] = field(default_factory=dict)


def containers_of(finding: Finding) -> list[str]:
    return finding.containers or ([finding.container] if finding.container else [])


def involved(finding: Finding) -> set[str]:
    """The containers a finding is about and those that reported it (see diagnosis.attribute_blame)."""
    reporters = str(finding.details.get("reported by") or "")
    return set(containers_of(finding)) | {r for r in reporters.split(", ") if r}


def finding_episodes(finding: Finding, engine_episodes: dict[tuple[str, str], list[Episode]]) -> list[Episode]:
    found = engine_episodes.get((finding.rule_id, finding.container))
    if found:
        return found
    if finding.first_seen is None:
        return []
    return [Episode(start=finding.first_seen, end=finding.last_seen or finding.first_seen, count=finding.count)]


def same_deployment(a: Finding, b: Finding, scope: Scope) -> bool:
    """False when the two findings are about containers of different compose projects only
    (host-wide findings, and containers of unknown project, belong to every deployment)."""
    projects_a = {scope.projects.get(c, "") for c in containers_of(a)} - {""}
    projects_b = {scope.projects.get(c, "") for c in containers_of(b)} - {""}
    return not projects_a or not projects_b or bool(projects_a & projects_b)


def _link_holds(cause: Finding, symptom: Finding, role: str | None, scope: Scope) -> bool:
    if not same_deployment(cause, symptom, scope):
        return False
    if role is None:
        return True
    if role == "self":
        return bool(involved(cause) & involved(symptom))
    return any(scope.roles.get(c) == role for c in containers_of(cause))


def link_causes(
    findings: list[Finding],
    rules: dict[str, Rule],
    links: dict[str, dict[str, str | None]],
    episodes_of: dict[int, list[Episode]],
    scope: Scope | None = None,
    grace: Callable[[str, str], timedelta] | None = None,
) -> dict[int, CauseLink]:
    """Fill each symptom's ``caused_by``; return id(cause finding) -> CauseLink.
    ``episodes_of``: id(finding) -> its episodes (see finding_episodes); ``scope``: the roles
    and projects of the containers, for links that hold only from one role, and to keep
    deployments apart. ``grace`` (cause's container, symptom's container) says how long after a
    symptom began a cause may still be dated and linked (ORDER_GRACE when not given; across hosts,
    ORDER_GRACE plus the two host clocks' estimated errors)."""
    scope = scope or Scope()
    result: dict[int, CauseLink] = {}
    for symptom in findings:
        possible = links.get(symptom.rule_id)
        if not possible:
            continue
        window = timedelta(seconds=rules[symptom.rule_id].window_s)
        candidates = [f for f in findings if f.rule_id in possible and f is not symptom
                      and _link_holds(f, symptom, possible[f.rule_id], scope)]
        for episode in episodes_of.get(id(symptom), []):
            best: tuple[tuple[bool, float], datetime | None, Finding, bool] | None = None
            for cause in candidates:
                cause_episodes = episodes_of.get(id(cause), [])
                slack = grace(finding_place(cause), finding_place(symptom)) if grace else ORDER_GRACE
                options: list[tuple[datetime | None, bool]] = []
                if not cause_episodes and rules[cause.rule_id].check is not None:
                    options.append((None, False))  # a setting, a resource: no time of its own
                for ce in cause_episodes:
                    if episode.start - window <= ce.start <= episode.start + slack:
                        options.append((ce.start, True))
                for when, preceded in options:
                    # prefer a hit that precedes the symptom, then the closest one before it
                    score = (preceded, when.timestamp() if when else float("-inf"))
                    if best is None or score > best[0]:
                        best = (score, when, cause, preceded)
            if best is None:
                continue
            _, when, cause, preceded = best
            if cause.rule_id not in symptom.caused_by:
                symptom.caused_by.append(cause.rule_id)
            link = result.setdefault(id(cause), CauseLink())
            link.symptom_episodes += 1
            link.ordered = link.ordered or preceded
            if all(s is not symptom for s in link.symptoms):
                link.symptoms.append(symptom)
            if when is not None and (link.earliest is None or when < link.earliest):
                link.earliest = when
    return result
