"""Turn a loaded input and its facts into an AnalysisResult: stream every log file through the
log rules, run the logic rules, link causes to symptoms, order the findings and word the
verdict. Records are never kept: the rules and the timeline keep only matches and counts."""

from __future__ import annotations

import gc
import json
import os
import pickle
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timezone
from pathlib import Path

from nodediag.analyzer.facts import container_from_inspect
from nodediag.analyzer.inputs import InputError
from nodediag.analyzer.inputs.bundle_manifest import verify_read
from nodediag.analyzer.model import AnalysisResult, Facts, Finding, LoadedInput, LogFile, ParseStats, Record
from nodediag.analyzer.parsing.logs import Repeats, parse_log_stream
from nodediag.analyzer.parsing.skipping import SkipPlan
from nodediag.analyzer.rules.catalog import Rule, cause_links, load_rules
from nodediag.analyzer.rules.correlation import link_causes
from nodediag.analyzer.rules.engine import LogRuleEngine, RuleHits
from nodediag.analyzer.rules.fact_checks import FACT_CHECKS, CheckContext
from nodediag.analyzer.rules.runtime_checks import RUNTIME_CHECKS
from nodediag.analyzer.rules.verdict import assign_confidence, build_verdict, order_findings, rank_causes
from nodediag.analyzer.timeline import TimelineCollector
from nodediag.bundle.frames import FrameMemberReader, OwnFrame
from nodediag.bundle.safe_archive import ArchiveError

CHECKS = {**FACT_CHECKS, **RUNTIME_CHECKS}
V8_OOM_RULES = ("v8-heap-oom", "container-exit-134", "container-oom-killed")


PARALLEL_MIN_BYTES = 48 * 2**20  # less log than this: a second process costs more than it saves
SCAN_GC_THRESHOLD = 50_000  # allocations between young-generation collections while scanning logs
WORKER_CODE = "import sys; from nodediag.analyzer.analysis import _worker_main; _worker_main(sys.argv[1], sys.argv[2])"
MAX_PROCESSES = 4  # this one and its workers (each holds its own engine and buffers: ~40 MB)
# A worker allocates and frees blocks of several MB all the time (each block of log, its lower-case
# copy): glibc would hand each back to the kernel and fault it in again (a tenth of the worker's
# time). These keep them in the heap; the peak memory is the same. (Other C libraries ignore them.)
WORKER_MALLOC = {"MALLOC_MMAP_THRESHOLD_": str(64 * 2**20), "MALLOC_TRIM_THRESHOLD_": str(64 * 2**20)}
EARLY_MIN_BYTES = 16 * 2**20  # a smaller log is scanned with the others, after extraction
# a container's files in a bundle, under the bundle's top folder
_EARLY_FILE = re.compile(r"(?:(.+)/)?containers/([^/]+)/(inspect\.json|logs\.txt)")


def _role_of(roles: dict[str, str]) -> Callable[[str], str]:

    def role_of(name: str) -> str:
        if name in roles:
            return roles[name]
        for full, role in roles.items():  # compose prefixes carry the service name: "prover-node-1"
            if full.endswith(name) or name in full:
                return role
        return "other"

    return role_of


Digests = dict[str, tuple[int, str]]  # log path -> (size, sha256 hex) measured as it was read


def _records(root: str, log: LogFile, stats: ParseStats, role_of: Callable[[str], str], skip: SkipPlan | None,
             own: dict[str, OwnFrame], digests: Digests) -> Iterator[Record | Repeats]:
    """The records of ``log`` (repeats in bulk: Repeats): from its file under ``root``, or
    straight from the bundle when it is in ``own`` (then its measured size and sha256 go to
    ``digests``)."""
    frame = own.get(log.path)
    with FrameMemberReader(frame) if frame else open(Path(root) / log.path, "rb") as reader:
        yield from parse_log_stream(reader, file=log.path, container=log.container, role=log.role,  # type: ignore[arg-type]
                                    stats=stats, role_of=role_of, skip=skip, repeats=True)
        if frame:
            digests[log.path] = reader.finish()  # type: ignore[union-attr]


def consume(records: Iterable[Record | Repeats], engine: LogRuleEngine, timeline: TimelineCollector) -> None:
    """Feed records (and Repeats) to the rule engine and the timeline, in order."""
    feed, add = engine.feed_ids, timeline.add_record
    for record in records:
        if type(record) is Repeats:
            timeline.add_repeats(record, engine.feed_repeats(record))
        else:
            add(record, feed(record)[1])  # type: ignore[arg-type]


def _scan_logs(root: str, logs: list[LogFile], engine: LogRuleEngine, timeline: TimelineCollector,
               role_of: Callable[[str], str], own: dict[str, OwnFrame] | None = None,
               digests: Digests | None = None) -> list[ParseStats]:
    """Stream ``logs`` through the engine and the timeline, in order; their parse statistics.
    Logs in ``own`` are read from the bundle, and their measured digests put in ``digests``."""
    skip = engine.skip_plan()  # lines that can match no rule and that the timeline ignores
    parse_stats: list[ParseStats] = []
    own = own or {}
    digests = digests if digests is not None else {}
    # Records die young and hold no cycles: collecting every 700 allocations (the default) cost
    # more than half the time of a record that a rule matched. Collect less often while scanning.
    threshold = gc.get_threshold()
    gc.set_threshold(max(threshold[0], SCAN_GC_THRESHOLD), *threshold[1:])
    try:
        for log in logs:
            stats = ParseStats(file=log.path)
            parse_stats.append(stats)
            consume(_records(root, log, stats, role_of, skip, own, digests), engine, timeline)
    finally:
        gc.set_threshold(*threshold)
    return parse_stats


# what one log file gave: its rule hits, timeline and statistics; its digest when read from the bundle
LogPart = tuple[dict[tuple[str, str], RuleHits], TimelineCollector, ParseStats, tuple[int, str] | None]


def _scan_each(root: str, logs: list[LogFile], rules: list[Rule], roles: dict[str, str],
               own: dict[str, OwnFrame] | None = None) -> list[LogPart]:
    """Each log file on its own (fresh engine and timeline): what it gave. Runs in a worker too."""
    parts = []
    for log in logs:
        engine, timeline = LogRuleEngine(rules), TimelineCollector()
        digests: Digests = {}
        (stats,) = _scan_logs(root, [log], engine, timeline, _role_of(roles), own, digests)
        parts.append((engine.hits_by_key(), timeline, stats, digests.get(log.path)))
    return parts


def _mergeable(logs: list[LogFile]) -> bool:
    """Whether the parts of ``logs`` scanned apart can be merged exactly: their containers are
    named and distinct (the engine's hits and the timeline's pieces are kept per container)."""
    containers = [log.container for log in logs]
    if "" in containers or len(set(containers)) != len(containers):
        return False
    return not any(c.startswith("rule:") for c in containers)  # the timeline's hourly quotas key on "rule:" + name


def _parallel_split(root: str, logs: list[LogFile], min_bytes: int,
                    own: dict[str, OwnFrame] | None = None) -> list[list[int]] | None:
    """Indexes of the log files for this process (the first list) and for each worker, balanced
    by size; None when one process is the better choice: one core, little log, or files whose
    containers are not distinct (their hits and timeline pieces could then not be merged exactly).
    With more files than cores, one process more than cores: whole files cannot be split evenly."""
    if len(logs) < 2 or not _mergeable(logs):
        return None
    cores = _cores()
    if cores < 2:
        return None
    own = own or {}
    sizes = [own[log.path].size if log.path in own else (Path(root) / log.path).stat().st_size for log in logs]
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


def _start_worker(base: Path, root: str, logs: list[LogFile], rules: list[Rule], roles: dict[str, str],
                  own: dict[str, OwnFrame] | None = None) -> Worker:
    """A fresh interpreter that runs _scan_each on ``logs`` (arguments and result pickled in
    files next to ``base``). A plain subprocess, not multiprocessing: that would run the
    caller's main module again in the worker, which is unsafe for a script without a guard."""
    args, result = base.with_suffix(".args"), base.with_suffix(".result")
    mine = {log.path: own[log.path] for log in logs if own and log.path in own}
    args.write_bytes(pickle.dumps((root, logs, rules, roles, mine), protocol=pickle.HIGHEST_PROTOCOL))
    try:  # the same interpreter imports the same installed nodediag
        proc = subprocess.Popen([sys.executable, "-c", WORKER_CODE, str(args), str(result)],
                                env={**os.environ, **WORKER_MALLOC}, stdin=subprocess.DEVNULL,
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
    root, logs, rules, roles, own = pickle.loads(Path(args).read_bytes())
    parts = _scan_each(root, logs, rules, roles, own)
    Path(result).write_bytes(pickle.dumps(parts, protocol=pickle.HIGHEST_PROTOCOL))


def _stop(workers: list[Worker]) -> None:
    for proc, _ in workers:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()


class EarlyScans:
    """Container logs scanned by worker processes while the rest of a bundle is still being
    extracted: ``on_file`` and ``on_frame`` (given to ``open_input``) start a worker on a
    container's logs.txt as soon as it (on disk, or in a frame of its own in the bundle) and the
    container's inspect.json (which names the container and its role) are both at hand.
    ``scan_logs`` takes a part only for the file, container and role the facts give it; anything
    else is scanned as usual. Use as a context manager: leftover workers are stopped."""

    def __init__(self, rules: list[Rule], *, min_bytes: int = EARLY_MIN_BYTES) -> None:
        self.rules = rules
        self.min_bytes = min_bytes
        self._names: dict[tuple[Path, str], tuple[str, str]] = {}  # (root, dir) -> (container, role)
        # logs.txt on disk or in the bundle, its inspect.json not yet
        self._waiting: dict[tuple[Path, str], Path | OwnFrame] = {}
        # (root, path) -> the log file as it was scanned, and its worker
        self._started: dict[tuple[str, str], tuple[LogFile, Worker]] = {}
        self._count = 0  # workers started: names their argument and result files
        self._tmp: tempfile.TemporaryDirectory | None = None

    def __enter__(self) -> EarlyScans:
        return self

    def __exit__(self, *exc: object) -> None:
        _stop([worker for _, worker in self._started.values()])
        self._started.clear()
        if self._tmp is not None:
            self._tmp.cleanup()

    def on_frame(self, folder: Path, frame: OwnFrame) -> None:
        self.on_file(folder, frame.name, frame)

    def on_file(self, folder: Path, member: str, frame: OwnFrame | None = None) -> None:
        match = _EARLY_FILE.fullmatch(member)
        if match is None or self._count >= MAX_PROCESSES - 1 or _cores() < 2:
            return
        root = folder / match.group(1) if match.group(1) else folder
        key = (root, match.group(2))
        if match.group(3) == "inspect.json":
            try:
                info = container_from_inspect(json.loads((folder / member).read_bytes()), match.group(2))
            except (OSError, ValueError, RecursionError):
                return
            if info is None:
                return
            self._names[key] = (info.name, info.role)
            logs = self._waiting.pop(key, None)
            if logs is None:
                return
        else:
            logs = frame or folder / member
            if key not in self._names:
                self._waiting[key] = logs
                return
        try:
            if (logs.size if isinstance(logs, OwnFrame) else logs.stat().st_size) < self.min_bytes:
                return
        except OSError:
            return
        name, role = self._names[key]
        log = LogFile(path=f"containers/{match.group(2)}/logs.txt", container=name, role=role)
        if self._tmp is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="nodediag-scan-")
        base = Path(self._tmp.name) / str(self._count)
        self._count += 1
        own = {log.path: logs} if isinstance(logs, OwnFrame) else {}
        self._started[(str(root), log.path)] = (log, _start_worker(base, str(root), [log], self.rules, {}, own))

    def take(self, root: str, log: LogFile, rules: list[Rule]) -> LogPart | None:
        """The part of ``log`` under ``root``, when a worker scanned that file for that container
        and role with these rules; None otherwise (or when the worker failed)."""
        found = self._started.pop((root, log.path), None)
        if found is None:
            return None
        scanned, worker = found
        if scanned != log or rules is not self.rules:
            _stop([worker])
            return None
        got = _finish_worker(worker)
        return got[0] if got else None


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def scan_logs(
    root: str, logs: list[LogFile], rules: list[Rule], roles: dict[str, str], *,
    parallel_min_bytes: int = PARALLEL_MIN_BYTES, early: EarlyScans | None = None,
    own: dict[str, OwnFrame] | None = None, digests: Digests | None = None,
) -> tuple[LogRuleEngine, TimelineCollector, list[ParseStats]]:
    """Every log file through the log rules and the timeline. Files of distinct containers
    adding up to ``parallel_min_bytes`` or more are shared with worker processes (and those
    ``early`` scanned already are taken from it); the parts are merged in file order, which
    gives exactly what one process gives. Logs in ``own`` are read straight from the bundle;
    ``digests`` receives what was measured of them."""
    engine, timeline = LogRuleEngine(rules), TimelineCollector()
    digests = digests if digests is not None else {}
    parts: dict[int, LogPart] = {}
    if early is not None and _mergeable(logs):
        for index, log in enumerate(logs):
            got = early.take(root, log, rules)
            if got is not None:
                parts[index] = got
    rest = [i for i in range(len(logs)) if i not in parts]
    split = _parallel_split(root, [logs[i] for i in rest], parallel_min_bytes, own)
    if split is None and not parts:
        return engine, timeline, _scan_logs(root, logs, engine, timeline, _role_of(roles), own, digests)
    here, *theirs = [[rest[i] for i in share] for share in split] if split else [rest]
    with tempfile.TemporaryDirectory(prefix="nodediag-scan-") as tmp:
        workers = [_start_worker(Path(tmp) / str(n), root, [logs[i] for i in there], rules, roles, own)
                   for n, there in enumerate(theirs)]
        try:
            parts.update(zip(here, _scan_each(root, [logs[i] for i in here], rules, roles, own), strict=True))
            for there, worker in zip(theirs, workers, strict=True):
                finished = _finish_worker(worker)
                if finished is None:  # the worker could not run or failed: its files are scanned here
                    finished = _scan_each(root, [logs[i] for i in there], rules, roles, own)
                parts.update(zip(there, finished, strict=True))
        finally:
            _stop(workers)
    parse_stats = []
    for index in range(len(logs)):
        hits, piece, stats, digest = parts[index]
        engine.absorb(hits)
        timeline.absorb(piece)
        parse_stats.append(stats)
        if digest is not None:
            digests[logs[index].path] = digest
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
                  rules: list[Rule] | None = None, parallel_min_bytes: int = PARALLEL_MIN_BYTES,
                  early: EarlyScans | None = None) -> AnalysisResult:
    rules = rules if rules is not None else early.rules if early is not None else load_rules()
    by_id = {r.id: r for r in rules}
    roles = {c.name.lstrip("/"): c.role for c in facts.containers}
    digests: Digests = {}
    try:
        engine, timeline, parse_stats = scan_logs(str(inp.root), facts.log_files, rules, roles,
                                                  parallel_min_bytes=parallel_min_bytes, early=early,
                                                  own=inp.own_frames, digests=digests)
    except ArchiveError as exc:  # a log read straight from the bundle is damaged
        raise InputError(" ".join(f"{inp.name} {exc}".split())) from None
    if inp.manifest is not None:
        for path, measured in sorted(digests.items()):
            gap = verify_read(inp.manifest, path, measured)
            if gap is not None:
                inp.gaps.append(gap)

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
