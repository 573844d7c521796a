"""Runs collection sources: each with its own timeout, none able to lose the others' output.

A :class:`Source` is a name, a timeout and a function that writes files through a
:class:`SourceContext`. The context is the only way to write into the bundle, and every write goes
through the redactor and the leak gate first. The runner records, for every source, its status
(ok / failed / timeout / skipped / truncated), duration, error and files, for the manifest.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from nodediag.bundle.writer import BundleWriter
from nodediag.collector.log_spool import LogSpool
from nodediag.redaction import RedactionCounts, Redactor


class SourceSkipped(Exception):
    """Raised by a source that cannot run here; the message says why (recorded as ``skipped``)."""


class SourceCancelled(Exception):
    """Raised inside a source after its timeout or the overall deadline: stop quietly."""


class LeakDetected(Exception):
    """A secret survived redaction. No bundle may be written."""


@dataclass
class Source:
    name: str
    collect: Callable[[SourceContext], None]
    timeout: float = 30.0
    description: str = ""


@dataclass
class SourceResult:
    name: str
    status: str = "pending"
    duration_s: float = 0.0
    error: str | None = None
    files: list[str] = field(default_factory=list)
    bytes: int = 0

    def as_manifest(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "duration_s": round(self.duration_s, 3),
            "error": self.error,
            "files": self.files,
        }


class SourceContext:
    """What a running source may do: read the plan, write redacted files, report truncation."""

    def __init__(self, source: Source, writer: BundleWriter, redactor: Redactor, plan: Any,
                 result: SourceResult, deadline: float,
                 redacted_lines: dict[str, dict[str, list[int]]] | None = None) -> None:
        self.source = source
        # bundle path -> kind -> line numbers where something was redacted (capped; never a value)
        self.redacted_lines = redacted_lines if redacted_lines is not None else {}
        self.plan = plan
        self.redactor = redactor
        self._writer = writer
        self._result = result
        self.cancelled = threading.Event()
        self.deadline = deadline  # monotonic time by which the source should wrap up
        self.truncation: str | None = None

    # -- control -----------------------------------------------------------------------------
    def check(self) -> None:
        """Call between units of work: raises :class:`SourceCancelled` once time is up."""
        if self.cancelled.is_set():
            raise SourceCancelled()

    def time_left(self) -> float:
        return self.deadline - time.monotonic()

    def mark_truncated(self, why: str) -> None:
        self.truncation = why if self.truncation is None else f"{self.truncation}; {why}"

    # -- writing -----------------------------------------------------------------------------
    def _gate(self, text: str, path: str, first_line: int = 1) -> None:
        """Both leak gates: the learnt literals, then the shape detectors over the output."""
        reason = self.redactor.output_leak(text, path, first_line)
        if reason is not None:
            raise LeakDetected(reason)

    def _commit(self, path: str, text: str, counts: RedactionCounts) -> None:
        self.check()
        self._gate(text, path)
        data = text.encode("utf-8", errors="replace")
        record = self._writer.add_bytes(path, data, self.source.name, counts.by_kind)
        self.note_lines(record.path, counts)
        self._result.files.append(record.path)
        self._result.bytes += record.size

    def note_lines(self, path: str, counts: RedactionCounts) -> None:
        if counts.lines_by_kind:
            self.redacted_lines[path] = {kind: sorted(set(lines)) for kind, lines in counts.lines_by_kind.items()}

    def write_json(self, path: str, obj: Any) -> None:
        counts = RedactionCounts()
        clean = self.redactor.redact_json(obj, counts)
        self._commit(path, json.dumps(clean, indent=2, default=str, ensure_ascii=False) + "\n", counts)

    def write_jsonl(self, path: str, objs: Iterable[Any]) -> None:
        counts = RedactionCounts()
        lines = [json.dumps(self.redactor.redact_json(o, counts), default=str, ensure_ascii=False) for o in objs]
        self._commit(path, "".join(line + "\n" for line in lines), counts)

    def write_text(self, path: str, text: str, kind: str = "text") -> None:
        """``kind`` picks the structure-aware redaction: ``env``, ``compose`` or plain ``text``."""
        counts = RedactionCounts()
        if kind == "env":
            clean = self.redactor.redact_env_file(text, counts)
        elif kind == "compose":
            clean = self.redactor.redact_compose(text, counts)
        else:
            clean = self.redactor.redact_text(text, counts)
        self._commit(path, clean, counts)

    def log_writer(self, path: str, cap: int) -> LogWriter:
        return LogWriter(self, path, cap)


class LogWriter:
    """Streams raw log bytes through redaction into a newest-lines-kept spool, then the bundle."""

    BLOCK = 1 << 20

    def __init__(self, ctx: SourceContext, path: str, cap: int) -> None:
        self._ctx = ctx
        self.path = path
        self.counts = RedactionCounts()
        self._stream = ctx.redactor.stream(self.counts)
        self._spool = LogSpool(ctx._writer.spool_dir, cap)
        self._pending = bytearray()
        self._stream_lines = 0

    def feed(self, data: bytes) -> None:
        self._pending += data
        if len(self._pending) >= self.BLOCK:
            cut = self._pending.rfind(b"\n") + 1
            if cut:
                self._emit(bytes(self._pending[:cut]))
                del self._pending[:cut]

    def _emit(self, raw: bytes, final: bool = False) -> None:
        text = self._stream.feed(raw.decode("utf-8", errors="replace")) if raw else ""
        if final:
            text += self._stream.close()
        if text:
            self._ctx._gate(text, self.path, self._stream_lines + 1)
            self._spool.write(text.encode("utf-8"))
        self._stream_lines += text.count("\n")

    def finish(self) -> None:
        """Flush, then add the newest lines within the cap to the bundle."""
        pending = bytes(self._pending)
        if pending and not pending.endswith(b"\n"):
            pending += b"\n"
        self._emit(pending, final=True)
        self._pending.clear()
        if self._spool.truncated:
            self._ctx.mark_truncated(
                f"{self.path}: {self._spool.bytes_seen} bytes in the window, kept the newest "
                f"{self._spool.cap} (--log-cap)"
            )
        parts = self._spool.finish()
        if self._spool.truncated:  # line numbers count from the first line kept, not the first line seen
            _renumber(self.counts, self._stream_lines - _count_lines(parts))
        self._ctx.check()
        record = self._ctx._writer.commit_segments(self.path, self._ctx.source.name, parts, self.counts.by_kind)
        self._ctx.note_lines(record.path, self.counts)
        self._ctx._result.files.append(record.path)
        self._ctx._result.bytes += record.size

    def discard(self) -> None:
        self._spool.discard()


def _count_lines(parts: list[tuple[Any, int]]) -> int:
    total = 0
    for path, start in parts:
        with open(path, "rb") as fh:
            fh.seek(start)
            while chunk := fh.read(1 << 20):
                total += chunk.count(b"\n")
    return total


def _renumber(counts: RedactionCounts, dropped: int) -> None:
    """Shift recorded line numbers after the oldest ``dropped`` lines were cut by the log cap."""
    if dropped <= 0:
        return
    for kind, lines in list(counts.lines_by_kind.items()):
        counts.lines_by_kind[kind] = [n - dropped for n in lines if n > dropped]
    counts.lines = [n - dropped for n in counts.lines if n > dropped]


ProgressCallback = Callable[[str, SourceResult | None, list[str]], None]


class Runner:
    """Runs sources in a small thread pool with per-source timeouts and an overall deadline."""

    def __init__(self, writer: BundleWriter, redactor: Redactor, plan: Any, *, deadline: float,
                 workers: int = 4, progress: ProgressCallback | None = None) -> None:
        self.writer = writer
        self.redactor = redactor
        self.plan = plan
        self.deadline = deadline
        self.workers = workers
        self.progress = progress or (lambda event, result, running: None)
        self.results: list[SourceResult] = []
        self.redacted_lines: dict[str, dict[str, list[int]]] = {}
        self.leak: LeakDetected | None = None
        self.status = "complete"
        self._lock = threading.Lock()

    def _run_one(self, source: Source, ctx: SourceContext, result: SourceResult) -> None:
        start = time.monotonic()
        status, error = "ok", None
        try:
            source.collect(ctx)
            if ctx.truncation:
                status, error = "truncated", ctx.truncation
        except SourceSkipped as exc:
            status, error = "skipped", str(exc)
        except SourceCancelled:
            status, error = "timeout", "stopped when its time ran out"
        except LeakDetected as exc:
            status, error = "failed", str(exc)
            self.leak = exc
        except Exception as exc:  # noqa: BLE001 - a source's failure is data, not a crash
            status, error = "failed", _describe(exc)
        with self._lock:
            if ctx.cancelled.is_set():
                return  # the runner already recorded the timeout; this thread was abandoned
            result.status, result.error = status, error
            result.duration_s = time.monotonic() - start

    def run(self, sources: list[Source]) -> list[SourceResult]:
        pending = list(sources)
        running: dict[Future[None], tuple[Source, SourceContext, SourceResult, float]] = {}
        with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="source") as pool:
            try:
                while pending or running:
                    now = time.monotonic()
                    if now >= self.deadline and self.status == "complete":
                        self.status = "deadline"
                    if self.status != "complete":
                        self._stop_all(pending, running, now)
                        pending = []
                        if not running:
                            break
                    while pending and len(running) < self.workers and self.status == "complete":
                        source = pending.pop(0)
                        result = SourceResult(source.name)
                        self.results.append(result)
                        hard = min(now + source.timeout, self.deadline)
                        ctx = SourceContext(source, self.writer, self.redactor, self.plan, result, hard,
                                            self.redacted_lines)
                        fut = pool.submit(self._run_one, source, ctx, result)
                        running[fut] = (source, ctx, result, hard)
                        self.progress("start", result, [s.name for s, *_ in running.values()])
                    done, _ = wait(list(running), timeout=0.2, return_when=FIRST_COMPLETED)
                    now = time.monotonic()
                    for fut in done:
                        _, _, result, _ = running.pop(fut)
                        self.progress("done", result, [s.name for s, *_ in running.values()])
                    for fut, (source, ctx, result, hard) in list(running.items()):
                        if now < hard or result.status != "pending":
                            continue
                        with self._lock:
                            if result.status != "pending":
                                continue
                            ctx.cancelled.set()
                            result.status = "timeout"
                            if hard >= self.deadline:  # cut by the overall deadline, not its own
                                result.error = "stopped early: the overall --timeout ran out"
                                if self.status == "complete":
                                    self.status = "deadline"
                            else:
                                result.error = f"did not finish within {source.timeout:g}s"
                            result.duration_s = now - (hard - source.timeout)
                        running.pop(fut)  # abandoned: its later writes are refused
                        self.progress("done", result, [s.name for s, *_ in running.values()])
                    if self.leak:
                        self.status = "leak"
            except KeyboardInterrupt:
                self.status = "interrupted"
                self._stop_all(pending, running, time.monotonic())
                pending = []
            finally:
                for _, ctx, _, _ in running.values():
                    ctx.cancelled.set()
                pool.shutdown(wait=False, cancel_futures=True)
        return self.results

    def _stop_all(self, pending: list[Source], running: dict, now: float) -> None:
        reason = {"deadline": "the overall --timeout ran out", "interrupted": "interrupted (Ctrl-C)",
                  "leak": "stopped: a secret survived redaction"}.get(self.status, self.status)
        for source in pending:
            result = SourceResult(source.name, status="skipped", error=f"not started: {reason}")
            self.results.append(result)
        for fut, (_, ctx, result, _) in list(running.items()):
            with self._lock:
                if result.status != "pending":
                    continue
                ctx.cancelled.set()
                result.status, result.error = "timeout", f"stopped early: {reason}"
            running.pop(fut)
            self.progress("done", result, [])


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
