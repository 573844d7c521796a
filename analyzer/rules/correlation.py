"""Link causes to their symptoms: a cause finding is linked to a symptom finding when the rules
say it can cause it and one of its hits precedes an episode (burst) of the symptom within the
symptom rule's window. Facts (OOM kills, exit codes) have no log order, so they are linked when
they fall within the window on either side of the symptom, or carry no time at all."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from nodediag.analyzer.model import Finding
from nodediag.analyzer.rules.catalog import Rule
from nodediag.analyzer.rules.engine import Episode

ORDER_GRACE = timedelta(seconds=60)  # clocks and interleaving of different containers' logs


@dataclass(slots=True)
class CauseLink:
    """What one cause finding explains."""

    symptom_episodes: int = 0
    symptoms: list[Finding] = field(default_factory=list)
    earliest: datetime | None = None  # its earliest hit that precedes a linked symptom
    ordered: bool = False  # True when a dated hit precedes the symptom (not only a fact nearby)


def finding_episodes(finding: Finding, engine_episodes: dict[tuple[str, str], list[Episode]]) -> list[Episode]:
    found = engine_episodes.get((finding.rule_id, finding.container))
    if found:
        return found
    if finding.first_seen is None:
        return []
    return [Episode(start=finding.first_seen, end=finding.last_seen or finding.first_seen, count=finding.count)]


def link_causes(
    findings: list[Finding],
    rules: dict[str, Rule],
    links: dict[str, dict[str, str | None]],
    engine_episodes: dict[tuple[str, str], list[Episode]],
    roles: dict[str, str] | None = None,
    grace: Callable[[str, str], timedelta] | None = None,
) -> dict[int, CauseLink]:
    """Fill each symptom's ``caused_by``; return id(cause finding) -> CauseLink. ``roles`` maps
    container names to roles, for links that hold only from a container of one role. ``grace``
    (cause's container, symptom's container) says how long after a symptom began a logged cause
    may still be linked (ORDER_GRACE when not given; hosts' clock errors across hosts)."""
    roles = roles or {}
    result: dict[int, CauseLink] = {}
    episodes = {id(f): finding_episodes(f, engine_episodes) for f in findings}
    for symptom in findings:
        possible = links.get(symptom.rule_id)
        if not possible:
            continue
        window = timedelta(seconds=rules[symptom.rule_id].window_s)
        candidates = [f for f in findings if f.rule_id in possible and f is not symptom
                      and (possible[f.rule_id] is None or roles.get(f.container) == possible[f.rule_id])]
        for episode in episodes[id(symptom)]:
            best: tuple[tuple[bool, float], datetime | None, Finding, bool] | None = None
            for cause in candidates:
                is_fact = rules[cause.rule_id].check is not None
                cause_episodes = episodes[id(cause)]
                slack = grace(cause.container, symptom.container) if grace else ORDER_GRACE
                options: list[tuple[datetime | None, bool]] = []
                if not cause_episodes and is_fact:
                    options.append((None, False))
                for ce in cause_episodes:
                    late_limit = episode.end + window if is_fact else episode.start + slack
                    if episode.start - window <= ce.start <= late_limit:
                        options.append((ce.start, ce.start <= episode.start + slack))
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
