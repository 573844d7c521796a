"""Turn a loaded input and its facts into an AnalysisResult: stream every log file through the
log rules, run the logic rules, link causes to symptoms, order the findings and word the
verdict. Records are never kept: the rules and the timeline keep only matches and counts."""

from __future__ import annotations

import gc
import os
import pickle
import subprocess
import sys
import tempfile
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from analyzer.model import AnalysisResult, Facts, Finding, LoadedInput, LogFile, ParseStats
from analyzer.parsing import parse_log_file
from analyzer.rules.catalog import Rule, cause_links, load_rules
from analyzer.rules.correlation import link_causes
from analyzer.rules.engine import LogRuleEngine, RuleHits
from analyzer.rules.fact_checks import FACT_CHECKS, CheckContext
from analyzer.rules.runtime_checks import RUNTIME_CHECKS
from analyzer.rules.verdict import assign_confidence, build_verdict, order_findings, rank_causes
from analyzer.timeline import TimelineCollector

CHECKS = {**FACT_CHECKS, **RUNTIME_CHECKS}
V8_OOM_RULES = ("v8-heap-oom", "container-exit-134", "container-oom-killed")


PARALLEL_MIN_BYTES = 48 * 2**20  # less log than this: a second process costs more than it saves
SCAN_GC_THRESHOLD = 50_000  # allocations between young-generation collections while scanning logs
PACKAGE_ROOT = Path(__file__).resolve().parents[1]  # holds the analyzer package: the workers' path
WORKER_CODE = "import sys; from analyzer.analysis import _worker_main; _worker_main(sys.argv[1], sys.argv[2])"
MAX_PROCESSES = 4  # this one and its workers (each holds its own engine and buffers: ~40 MB)


def _role_of(roles: dict[str, str]) -> Callable[[str], str]:

    def role_of(name: str) -> str:
        if name in roles:
            return roles[name]
        for full, role in roles.items():  # compose prefixes carry the service name: "prover-node-1"
            if full.endswith(name) or name in full:
                return role
        return "other"

    return role_of


def _scan_logs(root: str, logs: list[LogFile], engine: LogRuleEngine, timeline: TimelineCollector,
               role_of: Callable[[str], str]) -> list[ParseStats]:
    """Stream ``logs`` through the engine and the timeline, in order; their parse statistics."""
    skip = engine.skip_plan()  # lines that can match no rule and that the timeline ignores
    parse_stats: list[ParseStats] = []
    # Records die young and hold no cycles: collecting every 700 allocations (the default) cost
    # more than half the time of a record that a rule matched. Collect less often while scanning.
    threshold = gc.get_threshold()
    gc.set_threshold(max(threshold[0], SCAN_GC_THRESHOLD), *threshold[1:])
    feed = engine.feed_ids
    try:
        for log in logs:
            stats = ParseStats(file=log.path)
            parse_stats.append(stats)
            for record in parse_log_file(Path(root) / log.path, file=log.path, container=log.container,
                                         role=log.role, stats=stats, role_of=role_of, skip=skip):
                timeline.add_record(record, feed(record)[1])
    finally:
        gc.set_threshold(*threshold)
    return parse_stats


LogPart = tuple[dict[tuple[str, str], RuleHits], TimelineCollector, ParseStats]


def _scan_each(root: str, logs: list[LogFile], rules: list[Rule], roles: dict[str, str]) -> list[LogPart]:
    """Each log file on its own (fresh engine and timeline): what it gave. Runs in a worker too."""
    parts = []
    for log in logs:
        engine, timeline = LogRuleEngine(rules), TimelineCollector()
        (stats,) = _scan_logs(root, [log], engine, timeline, _role_of(roles))
        parts.append((engine.hits_by_key(), timeline, stats))
    return parts


def _parallel_split(root: str, logs: list[LogFile], min_bytes: int) -> list[list[int]] | None:
    """Indexes of the log files for this process (the first list) and for each worker, balanced
    by size; None when one process is the better choice: one core, little log, or files whose
    containers are not distinct (their hits and timeline pieces could then not be merged exactly).
    With more files than cores, one process more than cores: whole files cannot be split evenly."""
    containers = [log.container for log in logs]
    if len(logs) < 2 or "" in containers or len(set(containers)) != len(containers):
        return None
    if any(c.startswith("rule:") for c in containers):  # the timeline's hourly quotas key on "rule:" + name
        return None
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    if cores < 2:
        return None
    sizes = [(Path(root) / log.path).stat().st_size for log in logs]
    if sum(sizes) < min_bytes:
        return None
    shares: list[list[int]] = [[] for _ in range(min(len(logs), cores + 1, MAX_PROCESSES))]
    load = [0] * len(shares)
    for index in sorted(range(len(logs)), key=lambda i: -sizes[i]):
        side = load.index(min(load))
        shares[side].append(index)
        load[side] += sizes[index]
    return [sorted(share) for share in shares]


Worker = tuple[subprocess.Popen | None, Path]


def _start_worker(base: Path, root: str, logs: list[LogFile], rules: list[Rule], roles: dict[str, str]) -> Worker:
    """A fresh interpreter that runs _scan_each on ``logs`` (arguments and result pickled in
    files next to ``base``). A plain subprocess, not multiprocessing: that would run the
    caller's main module again in the worker, which is unsafe for a script without a guard."""
    args, result = base.with_suffix(".args"), base.with_suffix(".result")
    args.write_bytes(pickle.dumps((root, logs, rules, roles), protocol=pickle.HIGHEST_PROTOCOL))
    path = os.pathsep.join(filter(None, (str(PACKAGE_ROOT), os.environ.get("PYTHONPATH"))))
    try:
        proc = subprocess.Popen([sys.executable, "-c", WORKER_CODE, str(args), str(result)],
                                env={**os.environ, "PYTHONPATH": path}, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # a failure is redone here
    except OSError:
        return None, result
    return proc, result


def _finish_worker(worker: Worker) -> list[LogPart] | None:
    proc, result = worker
    if proc is None or proc.wait() != 0 or not result.exists():
        return None
    return pickle.loads(result.read_bytes())


def _worker_main(args: str, result: str) -> None:
    """In a worker process: scan the log files named in the ``args`` file, pickle the parts."""
    root, logs, rules, roles = pickle.loads(Path(args).read_bytes())
    parts = _scan_each(root, logs, rules, roles)
    Path(result).write_bytes(pickle.dumps(parts, protocol=pickle.HIGHEST_PROTOCOL))


def scan_logs(
    root: str, logs: list[LogFile], rules: list[Rule], roles: dict[str, str], *,
    parallel_min_bytes: int = PARALLEL_MIN_BYTES,
) -> tuple[LogRuleEngine, TimelineCollector, list[ParseStats]]:
    """Every log file through the log rules and the timeline. Files of distinct containers
    adding up to ``parallel_min_bytes`` or more are shared with worker processes; the parts are
    merged in file order, which gives exactly what one process gives."""
    engine, timeline = LogRuleEngine(rules), TimelineCollector()
    split = _parallel_split(root, logs, parallel_min_bytes)
    if split is None:
        return engine, timeline, _scan_logs(root, logs, engine, timeline, _role_of(roles))
    here, *theirs = split
    with tempfile.TemporaryDirectory(prefix="nodediag-scan-") as tmp:
        workers = [_start_worker(Path(tmp) / str(n), root, [logs[i] for i in there], rules, roles)
                   for n, there in enumerate(theirs)]
        try:
            parts = dict(zip(here, _scan_each(root, [logs[i] for i in here], rules, roles), strict=True))
            for there, worker in zip(theirs, workers, strict=True):
                got = _finish_worker(worker)
                if got is None:  # the worker could not run or failed: its files are scanned here
                    got = _scan_each(root, [logs[i] for i in there], rules, roles)
                parts.update(zip(there, got, strict=True))
        finally:
            for proc, _ in workers:
                if proc is not None and proc.poll() is None:
                    proc.kill()
                    proc.wait()
    parse_stats = []
    for index in range(len(logs)):
        hits, piece, stats = parts[index]
        engine.absorb(hits)
        timeline.absorb(piece)
        parse_stats.append(stats)
    return engine, timeline, parse_stats


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
                  rules: list[Rule] | None = None, parallel_min_bytes: int = PARALLEL_MIN_BYTES) -> AnalysisResult:
    rules = rules if rules is not None else load_rules()
    by_id = {r.id: r for r in rules}
    roles = {c.name.lstrip("/"): c.role for c in facts.containers}
    engine, timeline, parse_stats = scan_logs(str(inp.root), facts.log_files, rules, roles,
                                              parallel_min_bytes=parallel_min_bytes)

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
