"""Turn a loaded input and its facts into an AnalysisResult: stream every log file through the
log rules, run the logic rules, link causes to symptoms, order the findings and word the
verdict. Records are never kept: the rules and the timeline keep only matches and counts."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from analyzer.model import AnalysisResult, Facts, Finding, LoadedInput, ParseStats
from analyzer.parsing import parse_log_file
from analyzer.rules.catalog import Rule, cause_links, load_rules
from analyzer.rules.correlation import link_causes
from analyzer.rules.engine import LogRuleEngine
from analyzer.rules.fact_checks import FACT_CHECKS, CheckContext
from analyzer.rules.runtime_checks import RUNTIME_CHECKS
from analyzer.rules.verdict import assign_confidence, build_verdict, order_findings, rank_causes
from analyzer.timeline import TimelineCollector

CHECKS = {**FACT_CHECKS, **RUNTIME_CHECKS}
V8_OOM_RULES = ("v8-heap-oom", "container-exit-134", "container-oom-killed")


def _role_lookup(facts: Facts):  # -> Callable[[str], str]
    roles = {c.name.lstrip("/"): c.role for c in facts.containers}

    def role_of(name: str) -> str:
        if name in roles:
            return roles[name]
        for full, role in roles.items():  # compose prefixes carry the service name: "prover-node-1"
            if full.endswith(name) or name in full:
                return role
        return "other"

    return role_of


def run_logic_rules(rules: list[Rule], facts: Facts, inp: LoadedInput | None,
                    log_hits: dict[str, dict[str, int]]) -> list[Finding]:
    """Every check rule's findings. An unknown check name is a bug in a rule file: it raises."""
    ctx = CheckContext(facts=facts, inp=inp, log_hits=log_hits)
    findings: list[Finding] = []
    for rule in rules:
        if rule.check is None:
            continue
        if rule.check not in CHECKS:
            raise ValueError(f"{rule.source} rule {rule.id!r}: no check named {rule.check!r}")
        findings += CHECKS[rule.check](rule, ctx)
    return findings


def _add_heap_context(findings: list[Finding], facts: Facts) -> None:
    """Say which heap limit NODE_OPTIONS gave the containers that ran out of memory."""
    env_of = {c.name: c.env for c in facts.containers}
    for finding in findings:
        if finding.rule_id not in V8_OOM_RULES:
            continue
        options = env_of.get(finding.container, {}).get("NODE_OPTIONS", "")
        size = next((part.split("=", 1)[1] for part in options.split()
                     if part.startswith("--max-old-space-size=")), None)
        if size:
            finding.details["NODE_OPTIONS heap limit"] = f"--max-old-space-size={size} ({size} MB)"
        elif finding.container in env_of:
            finding.details["NODE_OPTIONS heap limit"] = "not set: Node's default limit (a few GB) applies"


def analyze_input(inp: LoadedInput, facts: Facts, *, tool_version: str = "",
                  rules: list[Rule] | None = None) -> AnalysisResult:
    rules = rules if rules is not None else load_rules()
    by_id = {r.id: r for r in rules}
    engine = LogRuleEngine(rules)
    timeline = TimelineCollector()
    parse_stats: list[ParseStats] = []
    role_of = _role_lookup(facts)
    skip = engine.skip_plan()  # lines that can match no rule and that the timeline ignores
    for log in facts.log_files:
        stats = ParseStats(file=log.path)
        parse_stats.append(stats)
        path = Path(inp.root) / log.path
        for record in parse_log_file(path, file=log.path, container=log.container, role=log.role,
                                     stats=stats, role_of=role_of, skip=skip):
            matched = engine.feed(record)
            timeline.add_record(record, [r.id for r in matched])

    records = sum(s.records for s in parse_stats)  # every record parsed, skipped ones included
    log_hits = {r.id: engine.hit_counts(r.id) for r in rules if r.match is not None}
    findings = engine.findings() + run_logic_rules(rules, facts, inp, log_hits)
    _add_heap_context(findings, facts)
    roles = {c.name: c.role for c in facts.containers}
    links = link_causes(findings, by_id, cause_links(rules), engine.episodes(), roles)
    assign_confidence(findings, by_id, links)
    ranked = rank_causes(findings, links)
    verdict, window = build_verdict(findings, ranked, links, records)
    ordered = order_findings(findings, ranked)
    built = timeline.build(facts.events, facts.containers, ordered, window)
    if built.note:
        ordered.append(Finding(
            rule_id="timeline-sampled", title="The timeline is abridged", severity="info", category="info",
            meaning=f"To stay readable the timeline shows a selection: {built.note}.",
            action="Every record is in the bundle's log files; the findings count all hits.",
            count=timeline.significant, confidence="high"))
    return AnalysisResult(
        input=inp,
        facts=facts,
        verdict=verdict,
        findings=ordered,
        timeline=built.entries,
        incident_window=window,
        parse_stats=parse_stats,
        level_series=timeline.level_series(),
        analyzed_at=datetime.now(timezone.utc),
        tool_version=tool_version,
    )
