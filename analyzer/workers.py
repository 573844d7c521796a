"""Worker processes that scan log files while this one scans others (or while the rest of a
bundle is still being extracted): each runs ``log_scan.scan_each`` on its files in a fresh
interpreter, and ``scan_logs`` merges what every file gave in file order, which gives exactly
what one process gives."""

from __future__ import annotations

import json
import os
import pickle
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from nodediag.analyzer.facts import container_from_inspect
from nodediag.analyzer.inputs.redact_ahead import RedactAhead
from nodediag.analyzer.log_scan import (
    Digests,
    LogPart,
    Progress,
    ScanProgress,
    log_size,
    role_lookup,
    scan_each,
    scan_files,
)
from nodediag.analyzer.model import LogFile, ParseStats
from nodediag.analyzer.rules.catalog import Rule
from nodediag.analyzer.rules.engine import LogRuleEngine
from nodediag.analyzer.timeline import TimelineCollector
from nodediag.bundle.frames import OwnFrame

PARALLEL_MIN_BYTES = 48 * 2**20  # less log than this: a second process costs more than it saves
WORKER_CODE = "import sys; from nodediag.analyzer.workers import _worker_main; _worker_main(sys.argv[1], sys.argv[2])"
MAX_PROCESSES = 4  # this one and its workers (each holds its own engine and buffers: ~40 MB)
# A worker allocates and frees blocks of several MB all the time (each block of log, its lower-case
# copy): glibc would hand each back to the kernel and fault it in again (a tenth of the worker's
# time). These keep them in the heap; the peak memory is the same. (Other C libraries ignore them.)
WORKER_MALLOC = {"MALLOC_MMAP_THRESHOLD_": str(64 * 2**20), "MALLOC_TRIM_THRESHOLD_": str(64 * 2**20)}
EARLY_MIN_BYTES = 16 * 2**20  # a smaller log is scanned with the others, after extraction
# a container's files in a bundle, under the bundle's top folder
_EARLY_FILE = re.compile(r"(?:(.+)/)?containers/([^/]+)/(inspect\.json|logs\.txt)")


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
    sizes = [log_size(root, log, own) for log in logs]
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
    parts = scan_each(root, logs, rules, roles, own)
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
    own: dict[str, OwnFrame] | None = None, digests: Digests | None = None, progress: Progress | None = None,
    growing: dict[str, RedactAhead] | None = None,
) -> tuple[LogRuleEngine, TimelineCollector, list[ParseStats]]:
    """Every log file through the log rules and the timeline. Files of distinct containers
    adding up to ``parallel_min_bytes`` or more are shared with worker processes (and those
    ``early`` scanned already are taken from it); the parts are merged in file order, which
    gives exactly what one process gives. Logs in ``own`` are read straight from the bundle;
    ``digests`` receives what was measured of them. ``progress`` is told the log bytes read as
    this process reads them, and a worker's files' bytes when it is done. Logs in ``growing``
    (being redacted by a child process) are read here, as they are written."""
    engine, timeline = LogRuleEngine(rules), TimelineCollector()
    digests = digests if digests is not None else {}
    scan = ScanProgress(progress, sum(log_size(root, log, own, growing) for log in logs)) if progress else None
    tick = scan.add if scan is not None else None

    def scanned_elsewhere(indexes: list[int]) -> None:
        if scan is not None:
            scan.add(sum(log_size(root, logs[i], own) for i in indexes))

    parts: dict[int, LogPart] = {}
    if early is not None and _mergeable(logs):
        for index, log in enumerate(logs):
            got = early.take(root, log, rules)
            if got is not None:
                parts[index] = got
                scanned_elsewhere([index])
    rest = [i for i in range(len(logs)) if i not in parts]
    split = _parallel_split(root, [logs[i] for i in rest], parallel_min_bytes, own) if not growing else None
    if split is None and not parts:
        return engine, timeline, scan_files(root, logs, engine, timeline, role_lookup(roles), own, digests, tick,
                                            growing)
    here, *theirs = [[rest[i] for i in share] for share in split] if split else [rest]
    with tempfile.TemporaryDirectory(prefix="nodediag-scan-") as tmp:
        workers = [_start_worker(Path(tmp) / str(n), root, [logs[i] for i in there], rules, roles, own)
                   for n, there in enumerate(theirs)]
        try:
            parts.update(zip(here, scan_each(root, [logs[i] for i in here], rules, roles, own, tick), strict=True))
            for there, worker in zip(theirs, workers, strict=True):
                gave = _finish_worker(worker)
                if gave is None:  # the worker could not run or failed: its files are scanned here
                    gave = scan_each(root, [logs[i] for i in there], rules, roles, own, tick)
                else:
                    scanned_elsewhere(there)
                parts.update(zip(there, gave, strict=True))
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
