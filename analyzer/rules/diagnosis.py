"""From the findings of every rule to a diagnosis: say which container broke (not the one that
complained), fold the findings of one rule across the containers it hit, turn a start-up refusal
into the setting it names, link causes to symptoms inside one deployment, order them and word
the verdict, including a healthy one that says what was checked.

``diagnose`` is the analysis pipeline's last step before the timeline."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from nodediag.analyzer.model import (
    SEVERITY_RANK,
    ContainerInfo,
    Evidence,
    Facts,
    Finding,
    LoadedInput,
    UnexplainedGroup,
    Verdict,
)
from nodediag.analyzer.rules.catalog import Rule, cause_links, rules_tagged
from nodediag.analyzer.rules.correlation import CauseLink, Scope, finding_episodes, link_causes
from nodediag.analyzer.rules.engine import Episode, fill_title
from nodediag.analyzer.rules.evidence import env_evidence, fact_evidence, inspect_path, locate
from nodediag.analyzer.rules.fact_checks import AZTEC_ROLES, CheckContext, tag_hits
from nodediag.analyzer.rules.verdict import assign_confidence, build_verdict, order_findings, rank_causes

MAX_EVIDENCE = 5
REQUIRED_SETTINGS_CHECK = "required_settings"  # its findings name the settings a container lacks


@dataclass(slots=True)
class Diagnosis:
    findings: list[Finding]  # ordered: data gaps, causes before their symptoms, the rest
    verdict: Verdict
    window: tuple[datetime, datetime] | None


def scope_of(facts: Facts) -> Scope:
    return Scope(roles={c.name: c.role for c in facts.containers},
                 projects={c.name: c.project for c in facts.containers if c.project})


# --- who broke -----------------------------------------------------------------------------------

def _blamed(complainer: str, role: str, facts: Facts, evidence: list[Evidence]) -> ContainerInfo | None:
    """The container of ``role`` that ``complainer`` was talking to: of its compose project;
    when there are several, the one named in the evidence lines (its URL), else the first."""
    by_name = {c.name: c for c in facts.containers}
    project = by_name[complainer].project if complainer in by_name else ""
    options = [c for c in facts.containers if c.role == role and (not project or c.project in ("", project))]
    if not options:
        return None
    text = "\n".join(line for e in evidence for line in e.lines).lower()
    named = [c for c in options if c.name.lower() in text]
    return (named or options)[0]


def attribute_blame(findings: list[Finding], rules: dict[str, Rule], facts: Facts) -> None:
    """A finding of a rule with ``blame: ROLE`` is about that role's container (a broker
    answering HTTP 500): the container that logged it is kept as the one that reported it."""
    for finding in findings:
        rule = rules.get(finding.rule_id)
        if rule is None or rule.blame is None or not finding.container:
            continue
        target = _blamed(finding.container, rule.blame, facts, finding.evidence)
        if target is None or target.name == finding.container:
            continue
        finding.details["reported by"] = finding.container
        finding.container = target.name


# --- one finding for the containers it hit --------------------------------------------------------

def merge_across_containers(findings: list[Finding], episodes_of: dict[int, list[Episode]],
                            scope: Scope, rules: dict[str, Rule]) -> list[Finding]:
    """One finding per rule and deployment (compose project) naming every container it hit,
    instead of one per container; host-wide findings and findings about one container stay."""
    groups: dict[tuple[str, str, str], list[Finding]] = {}
    order: list[tuple[str, str, str]] = []
    for finding in findings:
        key: tuple[str, str, str] = (finding.rule_id, scope.projects.get(finding.container, ""), finding.category) \
            if finding.container else (finding.rule_id, f"#{id(finding)}", finding.category)
        if key not in groups:
            order.append(key)
        groups.setdefault(key, []).append(finding)
    merged: list[Finding] = []
    for key in order:
        group = groups[key]
        if len(group) < 2:
            merged += group
            continue
        rule = rules.get(key[0])
        merged.append(_merge(group, episodes_of, fill_title(rule.title, {}) if rule else group[0].title))
    return merged


def _first(finding: Finding) -> float:
    return finding.first_seen.timestamp() if finding.first_seen else float("inf")


def _merge(group: list[Finding], episodes_of: dict[int, list[Episode]], generic_title: str) -> Finding:
    group = sorted(group, key=lambda f: (-SEVERITY_RANK[f.severity], _first(f), f.container))
    head = group[0]
    names = list(dict.fromkeys(f.container for f in group))
    reporters = list(dict.fromkeys(str(f.details["reported by"]) for f in group if "reported by" in f.details))
    evidence: list[Evidence] = []
    for index in range(MAX_EVIDENCE):  # the first lines of each container, in turn
        evidence += [f.evidence[index] for f in group if index < len(f.evidence)]
    titles = {f.title for f in group}
    title = head.title if len(titles) == 1 else f"{generic_title} (in {len(names)} containers)"
    details = {**head.details}
    details["containers"] = ", ".join(names)
    if len(titles) > 1:
        details["each"] = "; ".join(dict.fromkeys(f.title for f in group))
    if reporters:
        details["reported by"] = ", ".join(reporters)
    for f in group[1:]:
        for key, value in f.details.items():
            if key not in details:
                details[key] = value
    firsts = [f.first_seen for f in group if f.first_seen]
    lasts = [f.last_seen for f in group if f.last_seen]
    merged = Finding(
        rule_id=head.rule_id, title=title, severity=head.severity, category=head.category, meaning=head.meaning,
        action=head.action, container=head.container, first_seen=min(firsts) if firsts else None,
        last_seen=max(lasts) if lasts else None, count=sum(f.count for f in group),
        evidence=evidence[:MAX_EVIDENCE], details=details, containers=names if len(names) > 1 else [])
    episodes_of[id(merged)] = sorted((e for f in group for e in episodes_of.get(id(f), [])), key=lambda e: e.start)
    return merged


# --- start-up refusals ----------------------------------------------------------------------------

def explain_startup_refusals(findings: list[Finding], rules: list[Rule], facts: Facts,
                             inp: LoadedInput | None) -> list[Finding]:
    """A start-up refusal (a console line, then exit 1 and a restart) names the setting that is
    missing: the finding says which, with the line and the container's environment as evidence.
    A required-setting finding about the same container and setting is folded into it."""
    refusing = {r.id: r for r in rules_tagged(rules, "startup-refusal")}
    required = {r.id for r in rules if r.check == REQUIRED_SETTINGS_CHECK}
    by_name = {c.name: c for c in facts.containers}
    folded: set[int] = set()
    for finding in findings:
        rule = refusing.get(finding.rule_id)
        if rule is None:
            continue
        settings = [str(s) for s in rule.params.get("settings", [])]
        info = by_name.get(finding.container)
        env = info.env if info is not None else {}
        missing = [s for s in settings if not env.get(s, "").strip()]
        who = f"{info.role} {info.name}" if info else finding.container or "a container"
        if env and not missing:  # set, yet refused: its value is what is wrong
            named = ", ".join(f"{s}={env[s]}" for s in settings)
            finding.title = f"{who} refused to start: {named} is not accepted"
            finding.details["refused setting"] = named
        else:
            named = ", ".join(missing or settings)
            state = "is" if len(missing or settings) == 1 else "are"
            finding.title = f"{who} refused to start: {named} {state} {'not set' if env else 'needed'}"
            finding.details["missing setting"] = named
        env_lines: list[Evidence | None] = []
        if info is not None:
            for key in missing or settings:
                env_lines.append(env_evidence(inp, info, key) if info.env.get(key) is not None else None)
            if not any(env_lines):
                env_lines.append(locate(inp, inspect_path(info.name), ['"Env"'], container=info.name,
                                        note=f"its environment has no {named}")
                                 or fact_evidence(inspect_path(info.name), f"Config.Env has no {named}",
                                                  container=info.name))
        kept = [e for e in env_lines if e is not None]
        finding.evidence = [*finding.evidence[:MAX_EVIDENCE - len(kept)], *kept][:MAX_EVIDENCE]
        for other in findings:
            if (other is not finding and other.rule_id in required and other.container == finding.container
                    and set(str(other.details.get("missing", "")).split(", ")) <= set(missing or settings)):
                folded.add(id(other))
    return [f for f in findings if id(f) not in folded]


# --- what a setting explains ---------------------------------------------------------------------

def cite_what_it_explains(findings: list[Finding], rules: dict[str, Rule], links: dict[int, CauseLink]) -> None:
    """A cause read from the deployment (image tags, a setting, an exit code) shows, after its own
    evidence, the first log line of the symptom it explains (a ComponentsVersionsError for roles on
    different releases): the wording in the log is evidence too."""
    for finding in findings:
        rule = rules.get(finding.rule_id)
        link = links.get(id(finding))
        if rule is None or rule.check is None or link is None or len(finding.evidence) >= MAX_EVIDENCE:
            continue
        logged = [s for s in link.symptoms if (r := rules.get(s.rule_id)) is not None and r.match is not None
                  and s.evidence]
        for symptom in sorted(logged, key=_first)[:1]:
            first = symptom.evidence[0]
            finding.evidence.append(replace(first, note=first.note or f"what it explains: {symptom.title}"))


# --- heap limits ----------------------------------------------------------------------------------

def add_heap_context(findings: list[Finding], rules: list[Rule], facts: Facts) -> None:
    """Say which heap limit NODE_OPTIONS gave the containers that ran out of memory."""
    wanted = {r.id for r in rules_tagged(rules, "heap-limit")}
    env_of = {c.name: c.env for c in facts.containers}
    for finding in findings:
        if finding.rule_id not in wanted:
            continue
        options = env_of.get(finding.container, {}).get("NODE_OPTIONS", "")
        size = next((part.split("=", 1)[1] for part in options.split()
                     if part.startswith("--max-old-space-size=")), None)
        if size:
            finding.details["NODE_OPTIONS heap limit"] = f"--max-old-space-size={size} ({size} MB)"
        elif finding.container in env_of:
            finding.details["NODE_OPTIONS heap limit"] = "not set: Node's default limit (a few GB) applies"


# --- a healthy deployment -------------------------------------------------------------------------

def health_checks(findings: list[Finding], rules: list[Rule], facts: Facts,
                  log_hits: dict[str, dict[str, int]], records: int,
                  unexplained: list[UnexplainedGroup]) -> tuple[bool, list[str]]:
    """Whether the deployment looks healthy, and what was checked: every role's container
    runs, node and broker answer GET /status 200, epochs were proven, nothing went wrong (no
    finding, and no ERROR or FATAL message that no rule explains)."""
    ctx = CheckContext(facts=facts, log_hits=log_hits, rules=rules)
    checked: list[str] = []
    healthy = True
    containers = [c for c in facts.containers if c.role in AZTEC_ROLES]
    roles = sorted({c.role for c in containers}, key=AZTEC_ROLES.index)
    if not containers:
        return False, []
    running = [c for c in containers if c.state == "running"]
    if len(running) == len(containers):
        checked.append(f"{len(containers)} container(s) running ({', '.join(roles)})")
    else:
        healthy = False
    probed = [p for p in facts.probes if p.via != "skipped" and p.container in {c.name for c in containers}]
    answered = [p for p in probed if p.status == 200]
    role_of = {c.name: c.role for c in containers}
    for role in ("prover-node", "prover-broker"):
        of_role = [p for p in probed if role_of.get(p.container) == role]
        if any(p.status != 200 for p in of_role):
            healthy = False
    if answered:
        checked.append("GET /status answered 200 on "
                       + ", ".join(sorted({role_of[p.container] for p in answered}, key=AZTEC_ROLES.index)))
    proven = sum(tag_hits(ctx, "epoch-proven").values())
    if proven:
        checked.append(f"{proven} epoch proof line(s) (finalised, submitted)")
    else:
        healthy = False
    jobs = sum(n for c, n in tag_hits(ctx, "role-working").items() if role_of.get(c) == "prover-agent")
    if jobs:
        checked.append(f"{jobs} proving job line(s) from the agents")
    bad = [f for f in findings if (f.category in ("cause", "symptom") and SEVERITY_RANK[f.severity] >= 2)
           or (f.category in ("config", "resource", "data-gap") and SEVERITY_RANK[f.severity] >= 3)]
    if bad:
        healthy = False
    errors = sum(g.count for g in unexplained if g.level in ("ERROR", "FATAL"))
    if errors:
        healthy = False
    checked.append(f"no known failure pattern in {records} log record(s)")
    notes = [f.title for f in findings if f.category in ("info", "config", "resource")]
    if notes:
        checked.append("noted: " + "; ".join(notes))
    return healthy, checked


# --- the whole step -------------------------------------------------------------------------------

def diagnose(findings: list[Finding], rules: list[Rule], facts: Facts, inp: LoadedInput | None,
             engine_episodes: dict[tuple[str, str], list[Episode]], log_hits: dict[str, dict[str, int]],
             records: int, unexplained: list[UnexplainedGroup] | None = None,
             grace: Callable[[str, str], timedelta] | None = None) -> Diagnosis:
    by_id = {r.id: r for r in rules}
    scope = scope_of(facts)
    add_heap_context(findings, rules, facts)
    findings = explain_startup_refusals(findings, rules, facts, inp)
    episodes_of = {id(f): finding_episodes(f, engine_episodes) for f in findings}
    attribute_blame(findings, by_id, facts)
    findings = merge_across_containers(findings, episodes_of, scope, by_id)
    links = link_causes(findings, by_id, cause_links(rules), episodes_of, scope, grace=grace)
    cite_what_it_explains(findings, by_id, links)
    assign_confidence(findings, by_id, links)
    ranked = rank_causes(findings, links)
    healthy, checked = health_checks(findings, rules, facts, log_hits, records, unexplained or [])
    verdict, window = build_verdict(findings, ranked, links, records, healthy=healthy, checked=checked)
    return Diagnosis(order_findings(findings, ranked), verdict, window)
