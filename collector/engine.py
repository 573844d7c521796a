"""Runs collection sources: each with its own timeout, all under one overall deadline.

A :class:`Source` is small and declarative: a name, the bundle paths it writes (``writes``, shell
patterns), an optional size estimate for ``--dry-run``, and a ``collect(ctx)`` function that uses
the :class:`SourceContext` it is given to write into the bundle. Every write goes through the
redactor and the leak gate first, and a write to a path the source did not declare is refused.
The runner records, for every source, its status (ok / failed / timeout / skipped / truncated),
its true duration, error and files, for the manifest.

Stopping a source (its timeout, the overall deadline, Ctrl-C or SIGTERM) sets its ``cancelled``
event, tells it why (``cancel_reason``) and runs its cancel hooks (a log stream closes its socket),
then gives it ``GRACE_S`` seconds to keep what it already has: a log source writes the lines it
read, marked truncated with the reason. A source still running after that is abandoned and its
later writes are refused.
"""

from __future__ import annotations

import fnmatch
import json
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from nodediag.bundle.held import HeldMembers, HoldClosed, LateLeak
from nodediag.bundle.writer import BundleWriter, DiskFullError, FileRecord
from nodediag.redaction import RedactionCounts, Redactor

if TYPE_CHECKING:
    from nodediag.collector.log_writer import LogWriter

SourceStatus = Literal["pending", "ok", "truncated", "skipped", "timeout", "failed"]
RunStatus = Literal["complete", "interrupted", "deadline", "leak", "disk-full"]
GRACE_S = 5.0


class SourceSkipped(Exception):
    """Raised by a source that has nothing to do here; the message says why (recorded as ``skipped``)."""


class SourceCancelled(Exception):
    """Raised inside a source after its timeout or the overall deadline: stop quietly."""


class LeakDetected(Exception):
    """A secret survived redaction. No bundle may be written."""


class Interrupted(KeyboardInterrupt):
    """Raised in the main thread by a signal handler (SIGTERM): handled like Ctrl-C."""

    def __init__(self, signal_name: str) -> None:
        super().__init__(signal_name)
        self.signal_name = signal_name


@dataclass
class Source:
    name: str
    collect: Callable[[SourceContext], None]
    timeout: float = 30.0
    description: str = ""
    writes: tuple[str, ...] = ()  # bundle paths (shell patterns) this source may write
    estimate: Callable[[], tuple[int | None, str]] | None = None  # (bytes, note) for --dry-run

    @property
    def family(self) -> str:
        """The name without its subject: ``container_logs`` for ``container_logs:prover-node``."""
        return self.name.split(":", 1)[0]

    def may_write(self, path: str) -> bool:
        return any(fnmatch.fnmatchcase(path, pattern) for pattern in self.writes)


@dataclass
class SourceResult:
    name: str
    status: SourceStatus = "pending"
    duration_s: float = 0.0
    error: str | None = None
    files: list[str] = field(default_factory=list)
    bytes: int = 0
    bytes_read: int = 0  # raw bytes received so far (logs), for the progress line
    kept_range: dict[str, str] | None = None  # a log cut by the cap: first and last time kept
    ended_early: bool = False  # truncated by a fault or a stop, not by a cap: the bundle is partial

    def as_manifest(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "status": self.status,
            "duration_s": round(self.duration_s, 3),
            "error": self.error,
            "files": self.files,
        }
        if self.kept_range:
            out["kept_range"] = dict(self.kept_range)
        if self.ended_early:
            out["ended_early"] = True
        return out


ProgressCallback = Callable[[str, "SourceResult | None", list[str]], None]


class SourceContext:
    """What a running source may do: read the plan, write redacted files, report truncation."""

    def __init__(self, source: Source, writer: BundleWriter, redactor: Redactor, plan: Any,
                 result: SourceResult, deadline: float,
                 redacted_lines: dict[str, dict[str, list[int]]] | None = None,
                 progress: ProgressCallback | None = None, line_cap: int = 1 << 20,
                 held: HeldMembers | None = None) -> None:
        """``held``: members wait there until every source has run (see nodediag.bundle.held),
        so that a secret learnt late is removed from them too; without it they are written at once."""
        self.source = source
        self._held = held
        # bundle path -> kind -> line numbers where something was redacted (capped; never a value)
        self.redacted_lines = redacted_lines if redacted_lines is not None else {}
        self.plan = plan
        self.redactor = redactor
        self.line_cap = line_cap
        self._writer = writer
        self._result = result
        self._progress = progress
        self.cancelled = threading.Event()
        self.cancel_reason = ""
        self.abandoned = False
        self._cancel_hooks: list[Callable[[], None]] = []
        self._hooks_lock = threading.Lock()
        self.deadline = deadline  # monotonic time by which the source should wrap up
        self.truncation: str | None = None

    # -- control -----------------------------------------------------------------------------
    def check(self) -> None:
        """Call between units of work: raises :class:`SourceCancelled` once time is up."""
        if self.cancelled.is_set():
            raise SourceCancelled()

    def time_left(self) -> float:
        return self.deadline - time.monotonic()

    def mark_truncated(self, why: str, ended_early: bool = False) -> None:
        """Say what was left out. ``ended_early``: by a fault or a stop (the bundle is partial),
        not by a cap the operator chose."""
        self.truncation = why if self.truncation is None else f"{self.truncation}; {why}"
        if ended_early:
            self._result.ended_early = True

    def on_cancel(self, hook: Callable[[], None]) -> None:
        """Run ``hook`` (from the runner's thread) when this source is stopped, e.g. to close a stream."""
        with self._hooks_lock:
            if not self.cancelled.is_set():
                self._cancel_hooks.append(hook)
                return
        hook()

    def cancel(self, reason: str) -> None:
        with self._hooks_lock:
            if self.cancelled.is_set():
                return
            self.cancel_reason = reason
            self.cancelled.set()
            hooks, self._cancel_hooks = self._cancel_hooks, []
        for hook in hooks:
            try:
                hook()
            except Exception:  # noqa: BLE001 - a hook that fails leaves the grace period to end it
                pass

    def report_read(self, total: int) -> None:
        """Raw bytes read so far by a streaming source (drives the progress line)."""
        self._result.bytes_read = total
        if self._progress is not None:
            self._progress("bytes", self._result, [self.source.name])

    # -- writing -----------------------------------------------------------------------------
    def _gate(self, text: str, path: str, first_line: int = 1, since: int | None = None,
              counts: RedactionCounts | None = None) -> str:
        """Both leak gates: the learnt literals, then the shape detectors over the output; the
        text to write. ``since``: the generation the text was redacted at: what other sources
        learnt meanwhile is replaced first (counted in ``counts``), never taken for a leak."""
        if since is not None:
            text = self.redactor.settle(text, since, counts if counts is not None else RedactionCounts(), first_line)
        reason = self.redactor.output_leak(text, path, first_line)
        if reason is not None:
            raise LeakDetected(reason)
        return text

    def _declared(self, path: str) -> None:
        if not self.source.may_write(path):
            raise RuntimeError(f"source {self.source.name} wrote {path}, which it does not declare in its writes")

    @property
    def generation(self) -> int:
        """The redactor's generation: take it before an output's redaction starts and hand it
        to the commit (literals learnt after it are looked for in the output before it is written)."""
        return self.redactor.generation

    def _committed(self, record: FileRecord, counts: RedactionCounts) -> None:
        self.note_lines(record.path, counts)
        self._result.files.append(record.path)
        self._result.bytes += record.size

    def _commit(self, path: str, text: str, counts: RedactionCounts, since: int) -> None:
        self.check()
        self._declared(path)
        text = self._gate(text, path, since=since, counts=counts)
        data = text.encode("utf-8", errors="replace")
        if self._held is not None:
            try:
                self._held.hold_bytes(path, self.source.name, data, counts, since, self._committed)
            except HoldClosed as exc:
                raise SourceCancelled() from exc
            return
        self._committed(self._writer.add_bytes(path, data, self.source.name, counts.by_kind), counts)

    def commit_segments(self, path: str, parts: list[tuple[Any, int]], counts: RedactionCounts,
                        since: int = 0) -> None:
        """Add a streamed file (a log spool's parts) whose redaction started at generation
        ``since``. Allowed after cancellation, within the grace period, so that what was read is
        kept; refused once the source was abandoned."""
        if self.abandoned:
            for seg, _ in parts:
                seg.unlink(missing_ok=True)
            raise SourceCancelled()
        self._declared(path)
        if self._held is not None:
            try:
                self._held.hold_segments(path, self.source.name, parts, counts, since, self._committed)
            except HoldClosed as exc:
                raise SourceCancelled() from exc
            return
        self._committed(self._writer.commit_segments(path, self.source.name, parts, counts.by_kind), counts)

    def note_lines(self, path: str, counts: RedactionCounts) -> None:
        if counts.lines_by_kind:
            self.redacted_lines[path] = {kind: sorted(set(lines)) for kind, lines in counts.lines_by_kind.items()}

    def write_json(self, path: str, obj: Any) -> None:
        counts, since = RedactionCounts(), self.generation
        clean = self.redactor.redact_json(obj, counts)
        self._commit(path, json.dumps(clean, indent=2, default=str, ensure_ascii=False) + "\n", counts, since)

    def write_jsonl(self, path: str, objs: Iterable[Any]) -> None:
        counts, since = RedactionCounts(), self.generation
        lines = [json.dumps(self.redactor.redact_json(o, counts), default=str, ensure_ascii=False) for o in objs]
        self._commit(path, "".join(line + "\n" for line in lines), counts, since)

    def write_text(self, path: str, text: str, kind: str = "text") -> None:
        """``kind`` picks the structure-aware redaction: ``env``, ``compose`` or plain ``text``."""
        counts, since = RedactionCounts(), self.generation
        if kind == "env":
            clean = self.redactor.redact_env_file(text, counts)
        elif kind == "compose":
            clean = self.redactor.redact_compose(text, counts)
        else:
            clean = self.redactor.redact_text(text, counts)
        self._commit(path, clean, counts, since)

    def log_writer(self, path: str, cap: int) -> LogWriter:
        from nodediag.collector.log_writer import LogWriter

        return LogWriter(self, path, cap, line_cap=self.line_cap)


@dataclass
class _Running:
    source: Source
    ctx: SourceContext
    result: SourceResult
    hard: float  # when its own timeout or the overall deadline stops it
    started: float
    cancelled_at: float | None = None


class Runner:
    """Runs sources in a small thread pool with per-source timeouts and an overall deadline."""

    def __init__(self, writer: BundleWriter, redactor: Redactor, plan: Any, *, deadline: float,
                 workers: int = 4, progress: ProgressCallback | None = None, line_cap: int = 1 << 20,
                 grace: float = GRACE_S) -> None:
        self.writer = writer
        self.redactor = redactor
        self.plan = plan
        self.deadline = deadline
        self.workers = workers
        self.line_cap = line_cap
        self.grace = grace
        self.progress: ProgressCallback = progress or (lambda event, result, running: None)
        self.results: list[SourceResult] = []
        self.redacted_lines: dict[str, dict[str, list[int]]] = {}
        self.leak: LeakDetected | None = None
        self.disk_full: DiskFullError | None = None
        self.status: RunStatus = "complete"
        self.stop_reason = ""
        self._lock = threading.Lock()
        # every member waits here until all sources ran: a secret learnt late is removed from all
        self.held = HeldMembers(writer, redactor)
        self.late_rewritten = 0  # members rewritten because a secret was learnt after them

    def _run_one(self, entry: _Running) -> None:
        source, ctx, result = entry.source, entry.ctx, entry.result
        start = time.monotonic()
        status: SourceStatus = "ok"
        error: str | None = None
        try:
            source.collect(ctx)
            if ctx.truncation:
                status, error = "truncated", ctx.truncation
        except SourceSkipped as exc:
            status, error = "skipped", str(exc)
        except SourceCancelled:
            status, error = "timeout", ctx.cancel_reason or "stopped"
        except LeakDetected as exc:
            status, error = "failed", str(exc)
            self.leak = exc
        except DiskFullError as exc:
            status, error = "failed", str(exc)
            self.disk_full = exc
        except Exception as exc:  # noqa: BLE001 - a source's failure is data, not a crash
            status, error = "failed", _describe(exc)
            if isinstance(exc, OSError) and self.writer.is_disk_full(exc):
                self.disk_full = self.writer.disk_full_error(exc)
        with self._lock:
            if ctx.abandoned:
                return  # the runner already recorded it; this thread was abandoned
            result.status, result.error = status, error
            result.duration_s = time.monotonic() - start

    def _names(self, running: dict[Future[None], _Running]) -> list[str]:
        return [r.source.name for r in running.values()]

    def _stop(self, status: RunStatus, reason: str) -> None:
        if self.status == "complete":
            self.status, self.stop_reason = status, reason

    def run(self, sources: list[Source]) -> list[SourceResult]:
        pending = list(sources)
        running: dict[Future[None], _Running] = {}
        pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="source")
        interrupts = 0
        try:
            while pending or running:
                try:
                    self._step(pool, pending, running)
                except KeyboardInterrupt as exc:
                    interrupts += 1
                    name = exc.signal_name if isinstance(exc, Interrupted) else "Ctrl-C"
                    self._stop("interrupted", f"interrupted ({name})")
                    if interrupts > 1:  # asked twice: keep nothing more, stop waiting
                        self._abandon_all(running, time.monotonic())
                        break
        finally:
            now = time.monotonic()
            for entry in running.values():
                entry.ctx.cancel(self.stop_reason or "stopped")
                self._abandon(entry, now)  # a source still running is recorded stopped, never "pending"
            pool.shutdown(wait=False, cancel_futures=True)
        for source in pending:
            self.results.append(SourceResult(source.name, status="skipped",
                                             error=f"not started: {self.stop_reason or 'stopped'}"))
        with self._lock:  # a signal between a result's creation and its thread's start leaves it pending
            for result in self.results:
                if result.status == "pending":
                    result.status, result.error = "skipped", f"not started: {self.stop_reason or 'stopped'}"
        self._write_held()
        return self.results

    def _write_held(self) -> None:
        """Every source has run (or was stopped): write the held members into the bundle, each
        fixed for the secrets learnt after it was redacted. A leak or a full disk stops the
        bundle; a member that cannot be read is left out and its source marked failed."""
        if self.leak is not None or self.disk_full is not None:
            self.held.discard_all()
            return
        by_source = {r.name: r for r in self.results}

        def failed(member: Any, exc: Exception) -> None:
            result = by_source.get(member.source)
            if result is not None:
                result.status = "failed"
                result.error = f"{member.path} could not be written into the bundle: {_describe(exc)}"

        try:
            self.held.commit_all(on_error=failed)
        except KeyboardInterrupt as exc:  # a stop while writing: what was written (all fixed) is kept
            name = exc.signal_name if isinstance(exc, Interrupted) else "Ctrl-C"
            self._stop("interrupted", f"interrupted ({name})")
            for member in self.held.dropped:
                failed(member, RuntimeError(f"not written: collection was interrupted ({name}) first"))
        except LateLeak as exc:
            self.leak = LeakDetected(str(exc))
            self._stop("leak", "a secret survived redaction")
        except DiskFullError as exc:
            self.disk_full = exc
            self._stop("disk-full", "the disk is full")
        except OSError as exc:
            if not self.writer.is_disk_full(exc):
                raise
            self.disk_full = self.writer.disk_full_error(exc)
            self._stop("disk-full", "the disk is full")
        finally:
            self.late_rewritten = self.held.rewritten
            self.held.discard_all()

    def _step(self, pool: ThreadPoolExecutor, pending: list[Source], running: dict[Future[None], _Running]) -> None:
        now = time.monotonic()
        if now >= self.deadline:
            self._stop("deadline", "the overall --timeout ran out")
        if self.leak:
            self._stop("leak", "a secret survived redaction")
        if self.disk_full:
            self._stop("disk-full", "the disk is full")
        if self.status != "complete":
            for source in pending:
                why = f"not started: {self.stop_reason}"
                self.results.append(SourceResult(source.name, status="skipped", error=why))
            pending.clear()
            for entry in running.values():
                self._cancel(entry, self.stop_reason, now)
        while pending and len(running) < self.workers:
            source = pending.pop(0)
            result = SourceResult(source.name)
            self.results.append(result)
            hard = min(now + source.timeout, self.deadline)
            ctx = SourceContext(source, self.writer, self.redactor, self.plan, result, hard,
                                self.redacted_lines, self.progress, self.line_cap, self.held)
            entry = _Running(source, ctx, result, hard, now)
            running[pool.submit(self._run_one, entry)] = entry
            self.progress("start", result, self._names(running))
        done, _ = wait(list(running), timeout=0.2, return_when=FIRST_COMPLETED)
        now = time.monotonic()
        for fut in done:
            entry = running.pop(fut)
            self.progress("done", entry.result, self._names(running))
        for fut, entry in list(running.items()):
            if entry.cancelled_at is None and now >= entry.hard:
                if entry.hard >= self.deadline:  # cut by the overall deadline, not its own
                    self._stop("deadline", "the overall --timeout ran out")
                    self._cancel(entry, "stopped early: the overall --timeout ran out", now)
                else:
                    self._cancel(entry, f"did not finish within {entry.source.timeout:g}s", now)
            elif entry.cancelled_at is not None and now >= entry.cancelled_at + self.grace:
                self._abandon(entry, now)
                running.pop(fut)
                self.progress("done", entry.result, self._names(running))

    def _cancel(self, entry: _Running, reason: str, now: float) -> None:
        if entry.cancelled_at is None:
            entry.cancelled_at = now
            if not reason.startswith(("stopped", "did not")):
                reason = f"stopped early: {reason}"
            entry.ctx.cancel(reason)

    def _abandon(self, entry: _Running, now: float) -> None:
        with self._lock:
            if entry.result.status != "pending":
                return
            entry.ctx.abandoned = True
            entry.result.status = "timeout"
            entry.result.error = entry.ctx.cancel_reason or "stopped"
            entry.result.duration_s = now - entry.started

    def _abandon_all(self, running: dict[Future[None], _Running], now: float) -> None:
        for fut, entry in list(running.items()):
            if entry.cancelled_at is None:
                self._cancel(entry, self.stop_reason, now)
            self._abandon(entry, now)
            running.pop(fut)
            self.progress("done", entry.result, [])


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if text and type(exc) is RuntimeError:  # the source's own sentence
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
