"""Choose the most likely root cause, order findings causally, and word the verdict."""

from __future__ import annotations

from datetime import datetime, timedelta

from nodediag.analyzer.model import SEVERITY_RANK, Finding, Verdict
from nodediag.analyzer.rules.catalog import Rule
from nodediag.analyzer.rules.correlation import CauseLink

CONFIDENCE_RANK = {"low": 0, "medium": 1, "high": 2}
WINDOW_MARGIN = timedelta(minutes=5)


def _ts(when: datetime | None) -> float:
    return when.timestamp() if when else float("inf")


def _when(when: datetime | None) -> str:
    return when.strftime("%Y-%m-%d %H:%M:%S UTC") if when else "an unknown time"


def _where(finding: Finding) -> str:
    if not finding.container:
        return "the host"
    where = f"container {finding.container}"
    others = [c for c in finding.containers if c != finding.container]
    if others:
        where += f" (and {', '.join(others)})"
    if finding.details.get("reported by"):
        where += f", as reported by {finding.details['reported by']}"
    return where


def assign_confidence(findings: list[Finding], rules: dict[str, Rule], links: dict[int, CauseLink]) -> None:
    """high: a dated cause precedes a linked symptom, or a fact (OOMKilled, exit code, kernel
    OOM record) corroborates; medium: a cause seen on its own; low: everything else."""
    for finding in findings:
        link = links.get(id(finding))
        is_fact = rules[finding.rule_id].check is not None if finding.rule_id in rules else False
        if finding.category == "cause" and (is_fact or (link and link.ordered)):
            finding.confidence = "high"
        elif finding.category in ("config", "resource") and link:
            finding.confidence = "high"  # read from the deployment, and it explains what was seen
        elif finding.category == "cause" or link:
            finding.confidence = "medium"
        elif finding.category == "symptom" and finding.caused_by:
            finding.confidence = "high"  # seen, and explained by a cause
        elif finding.category in ("config", "resource", "data-gap"):
            finding.confidence = "high"  # read from the deployment itself
        else:
            finding.confidence = "low"
        if link:
            finding.details["explains"] = ", ".join(
                f"{s.title} ({s.container or 'host'})" for s in link.symptoms
            )


def rank_causes(findings: list[Finding], links: dict[int, CauseLink]) -> list[Finding]:
    """Candidate root causes, most likely first: cause findings, and configuration or resource
    findings that explain something seen (a poll interval behind job time-outs); ranked by not
    being explained by another finding, explaining something, confidence, time and severity."""
    causes = [f for f in findings if f.category == "cause"
              or (f.category in ("config", "resource") and links.get(id(f)))]

    def key(f: Finding) -> tuple:
        link = links.get(id(f))
        started = link.earliest if link and link.earliest else f.first_seen
        return (bool(f.caused_by), not link, -CONFIDENCE_RANK[f.confidence], _ts(started),
                -SEVERITY_RANK[f.severity])

    return sorted(causes, key=key)


def order_findings(findings: list[Finding], ranked_causes: list[Finding]) -> list[Finding]:
    """Data gaps first; then each root cause followed by what it caused; then unexplained
    symptoms; then configuration and resource findings; then the rest; each by severity, time."""
    def by_weight(f: Finding) -> tuple:
        return (-SEVERITY_RANK[f.severity], _ts(f.first_seen), f.rule_id, f.container)

    ordered: list[Finding] = []
    placed: set[int] = set()

    def place(finding: Finding) -> None:
        if id(finding) in placed:
            return
        placed.add(id(finding))
        ordered.append(finding)
        for child in sorted((f for f in findings if finding.rule_id in f.caused_by), key=by_weight):
            place(child)

    for finding in sorted((f for f in findings if f.category == "data-gap"), key=by_weight):
        place(finding)
    present = {f.rule_id for f in findings}
    parents = {r for f in findings for r in f.caused_by}
    roots = [f for f in ranked_causes if not (set(f.caused_by) & present)]
    roots += sorted((f for f in findings if f.rule_id in parents and f.category != "cause"
                     and not (set(f.caused_by) & present)), key=by_weight)
    for finding in roots:
        place(finding)
    for category in ("cause", "symptom", "config", "resource"):
        for finding in sorted((f for f in findings if f.category == category), key=by_weight):
            place(finding)
    for finding in sorted(findings, key=by_weight):
        place(finding)
    return ordered


def build_verdict(
    findings: list[Finding], ranked_causes: list[Finding], links: dict[int, CauseLink], records: int,
    *, healthy: bool = False, checked: list[str] | None = None,
) -> tuple[Verdict, tuple[datetime, datetime] | None]:
    """The verdict and the incident window. ``healthy``: every health check passed (see
    diagnosis.health_checks), ``checked`` says what was looked at."""
    symptoms = [f for f in findings if f.category == "symptom"]
    if ranked_causes:
        cause = ranked_causes[0]
        link = links.get(id(cause))
        started = (link.earliest if link and link.earliest else None) or cause.first_seen
        if started is None and link:  # a setting has no time: say when what it explains began
            started = min((s.first_seen for s in link.symptoms if s.first_seen), default=None)
        since = f"starting {_when(started)}" if started else "at a time the input does not record"
        headline = (f"Most likely root cause: {cause.title.rstrip('.')}, in {_where(cause)}, {since} "
                    f"({cause.confidence} confidence).")
        if link:
            names = sorted({s.title for s in link.symptoms})
            headline += f" It preceded {link.symptom_episodes} episode(s) of: {'; '.join(names)}."
        elif cause.confidence != "high":
            headline += " No symptom it explains was seen after it, so it may be incidental."
        verdict = Verdict(headline, cause.rule_id, cause.container, started, cause.confidence)
        related = [cause, *(link.symptoms if link else [])]
        return verdict, _window(related, started)
    serious = sorted((f for f in findings if f.category in ("config", "resource")
                      and SEVERITY_RANK[f.severity] >= SEVERITY_RANK["high"]),
                     key=lambda f: -SEVERITY_RANK[f.severity])
    if symptoms:
        first = min(symptoms, key=lambda f: _ts(f.first_seen))
        total = sum(s.count for s in symptoms)
        headline = (f"Evidence is thin: {total} symptom record(s) ({'; '.join(sorted({s.title for s in symptoms}))}) "
                    f"from {_when(first.first_seen)} in {_where(first)}, but nothing seen before them names "
                    "a cause.")
        if serious:
            headline += f" The most serious other finding is: {serious[0].title}."
        return Verdict(headline, None, first.container, first.first_seen, "low"), _window(symptoms, first.first_seen)
    if serious:
        top = serious[0]
        headline = (f"No failure was seen in {records} log records; the most serious problem found is "
                    f"{top.title.rstrip('.')} ({_where(top)}), which can cause failures under load.")
        return Verdict(headline, top.rule_id, top.container, top.first_seen, "medium"), None
    if healthy:
        headline = "The deployment looks healthy. Checked: " + "; ".join(checked or []) + "."
        return Verdict(headline, None, "", None, "high"), None
    headline = (f"No known failure pattern was found in {records} log records; evidence is thin: "
                "the logs may not cover the incident (check the data gaps and the window collected).")
    if checked:
        headline += " Checked: " + "; ".join(checked) + "."
    return Verdict(headline, None, "", None, "low"), None


def _window(related: list[Finding], started: datetime | None) -> tuple[datetime, datetime] | None:
    times = [t for f in related for t in (f.first_seen, f.last_seen) if t]
    if started:
        times.append(started)
    if not times:
        return None
    return min(times) - WINDOW_MARGIN, max(times) + timedelta(minutes=1)
