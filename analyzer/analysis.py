"""Turn a loaded input and its facts into an AnalysisResult: stream every log file through the
log rules (``workers.scan_logs``: in this process, ``log_scan``, and in worker processes), run the
logic rules, group what no rule explains, diagnose (link causes to symptoms, rank them, word the
verdict), and build the timeline with its evidence."""

from __future__ import annotations

from datetime import datetime, timezone

from nodediag.analyzer.clocks import order_grace
from nodediag.analyzer.context_lines import add_context, add_last_lines, anchor_evidence
from nodediag.analyzer.coverage import coverage_gaps
from nodediag.analyzer.inputs import InputError, refuse_unknown_text
from nodediag.analyzer.inputs.bundle_manifest import verify_read
from nodediag.analyzer.inputs.redact_ahead import finish_growing
from nodediag.analyzer.log_scan import Digests, Progress, consume
from nodediag.analyzer.model import AnalysisResult, Facts, Finding, LoadedInput
from nodediag.analyzer.resource_series import add_memory_context
from nodediag.analyzer.rules.catalog import Rule, load_rules, rules_tagged
from nodediag.analyzer.rules.diagnosis import diagnose
from nodediag.analyzer.rules.fact_checks import CheckContext
from nodediag.analyzer.rules.registry import CHECKS
from nodediag.analyzer.workers import PARALLEL_MIN_BYTES, EarlyScans, scan_logs
from nodediag.bundle.safe_archive import ArchiveError


def run_logic_rules(rules: list[Rule], facts: Facts, inp: LoadedInput | None,
                    log_hits: dict[str, dict[str, int]],
                    last_seen: dict[str, dict[str, datetime]] | None = None) -> list[Finding]:
    """Every check rule's findings. An unknown check name is a bug in a rule file: it raises."""
    ctx = CheckContext(facts=facts, inp=inp, log_hits=log_hits, rules=rules, last_seen=last_seen or {})
    findings: list[Finding] = []
    for rule in rules:
        if rule.check is None:
            continue
        if rule.check not in CHECKS:
            raise ValueError(f"{rule.source} rule {rule.id!r}: no check named {rule.check!r}")
        findings += CHECKS[rule.check](rule, ctx)
    return findings


def analyze_input(inp: LoadedInput, facts: Facts, *, tool_version: str = "",
                  rules: list[Rule] | None = None, parallel_min_bytes: int = PARALLEL_MIN_BYTES,
                  early: EarlyScans | None = None, progress: Progress | None = None) -> AnalysisResult:
    """The analysis of ``inp``; ``progress`` is told what it is doing and the log bytes read
    (``log_scan.Progress``)."""
    rules = rules if rules is not None else early.rules if early is not None else load_rules()
    roles = {c.name.lstrip("/"): c.role for c in facts.containers}
    digests: Digests = {}
    try:
        engine, timeline, parse_stats = scan_logs(str(inp.root), facts.log_files, rules, roles,
                                                  parallel_min_bytes=parallel_min_bytes, early=early,
                                                  own=inp.own_frames, digests=digests, progress=progress,
                                                  growing=inp.growing)
        finish_growing(inp)  # (a raw log redacted while it was read: complete now)
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
    if inp.kind == "single-log" and not engine.hits_by_key():  # (a rule that matched knows the text)
        refuse_unknown_text(inp, parse_stats)
    log_hits = {r.id: engine.hit_counts(r.id) for r in rules if r.match is not None}
    findings = engine.findings() + run_logic_rules(rules, facts, inp, log_hits, engine.last_seen())
    # what memory did before a kill (watch's samples)
    add_memory_context(findings, facts.resources, {r.id for r in rules_tagged(rules, "memory-kill")})
    # errors no finding explains (before the verdict: a stack with such errors is not "healthy")
    unexplained = engine.unexplained.build({f.rule_id for f in findings})
    # across hosts, a cause may be dated after its symptom by the two host clocks' errors (merge.py)
    grace = order_grace(facts.hosts) if facts.hosts else None
    diagnosis = diagnose(findings, rules, facts, inp, engine.episodes(), log_hits, records, unexplained=unexplained,
                         grace=grace)
    verdict, window, ordered = diagnosis.verdict, diagnosis.window, diagnosis.findings
    inp.gaps += coverage_gaps(inp, facts, parse_stats, timeline.containers(), verdict.started_at)
    built = timeline.build(facts.events, facts.containers, ordered, window, facts.host.kernel_oom)
    anchor_evidence(ordered, built.entries, inp)
    add_context(ordered, inp)
    add_last_lines(built.entries, facts, inp)
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
        unexplained=unexplained,
        unexplained_left_out=engine.unexplained.overflow,
    )


__all__ = ["CHECKS", "PARALLEL_MIN_BYTES", "EarlyScans", "analyze_input", "consume", "run_logic_rules", "scan_logs"]
