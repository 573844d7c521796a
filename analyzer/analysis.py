"""Turn a loaded input and its facts into an AnalysisResult: stream every log file through the
log rules (``workers.scan_logs``: in this process, ``log_scan``, and in worker processes), run the
logic rules, link causes to symptoms, order the findings and word the verdict."""

from __future__ import annotations

from datetime import datetime, timezone

from nodediag.analyzer.inputs import InputError
from nodediag.analyzer.inputs.bundle_manifest import verify_read
from nodediag.analyzer.log_scan import Digests, Progress, consume
from nodediag.analyzer.model import AnalysisResult, Facts, Finding, LoadedInput
from nodediag.analyzer.rules.catalog import Rule, cause_links, load_rules
from nodediag.analyzer.rules.correlation import link_causes
from nodediag.analyzer.rules.fact_checks import FACT_CHECKS, CheckContext
from nodediag.analyzer.rules.runtime_checks import RUNTIME_CHECKS
from nodediag.analyzer.rules.verdict import assign_confidence, build_verdict, order_findings, rank_causes
from nodediag.analyzer.workers import PARALLEL_MIN_BYTES, EarlyScans, scan_logs
from nodediag.bundle.safe_archive import ArchiveError

CHECKS = {**FACT_CHECKS, **RUNTIME_CHECKS}
V8_OOM_RULES = ("v8-heap-oom", "container-exit-134", "container-oom-killed")


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
                  rules: list[Rule] | None = None, parallel_min_bytes: int = PARALLEL_MIN_BYTES,
                  early: EarlyScans | None = None, progress: Progress | None = None) -> AnalysisResult:
    """The analysis of ``inp``; ``progress`` is told what it is doing and the log bytes read
    (``log_scan.Progress``)."""
    rules = rules if rules is not None else early.rules if early is not None else load_rules()
    by_id = {r.id: r for r in rules}
    roles = {c.name.lstrip("/"): c.role for c in facts.containers}
    digests: Digests = {}
    try:
        engine, timeline, parse_stats = scan_logs(str(inp.root), facts.log_files, rules, roles,
                                                  parallel_min_bytes=parallel_min_bytes, early=early,
                                                  own=inp.own_frames, digests=digests, progress=progress)
    except ArchiveError as exc:  # a log read straight from the bundle is damaged
        raise InputError(" ".join(f"{inp.name} {exc}".split())) from None
    if inp.manifest is not None:
        for path, measured in sorted(digests.items()):
            gap = verify_read(inp.manifest, path, measured)
            if gap is not None:
                inp.gaps.append(gap)

    if progress is not None:
        progress("matching causes and symptoms", -1, -1)
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


__all__ = ["CHECKS", "PARALLEL_MIN_BYTES", "EarlyScans", "analyze_input", "consume", "run_logic_rules", "scan_logs"]
