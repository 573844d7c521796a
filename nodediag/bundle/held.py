"""Redacted members held on disk until every output of a bundle is redacted, then written.

A secret may be learnt from the middle of a log (a header value, a key in a URL) after other
files, or the head of that log, were already redacted without it. So nothing goes into the
archive while redaction may still learn: each member waits, as the spool file (or log spool
segments) it was redacted into, with the redactor's generation from when its redaction started.
:meth:`HeldMembers.commit_all` then writes them in the order they were held: a member that holds
a literal learnt after its generation is rewritten first with everything known (and gated again
as it is rewritten); any other goes in as it is. Memory stays flat (blocks of whole lines); the
disk holds the redacted members until the end, as the writer's spools did while they were written.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, cast

from nodediag.bundle.writer import BundleWriter, FileRecord, FileSpool, SegmentsReader, safe_member_path
from nodediag.redaction import RedactionCounts, Redactor
from nodediag.redaction.late import fix_stream, needs_fix


class LateLeak(Exception):
    """A rewritten member still holds a secret (the message names the file and line, never the
    value): no bundle may be written."""


class HoldClosed(Exception):
    """The held members were already written: nothing more can be added to this bundle."""


@dataclass
class HeldMember:
    path: str
    source: str
    counts: RedactionCounts
    since: int  # the redactor's generation when this member's redaction started
    spool: FileSpool | None = None
    parts: list[tuple[Path, int]] = field(default_factory=list)
    on_commit: Callable[[FileRecord, RedactionCounts], None] | None = None
    rewritten: bool = False  # a literal learnt later was found in it and replaced

    def open(self) -> BinaryIO:
        if self.spool is not None:
            return open(self.spool.temp_path, "rb")
        return cast(BinaryIO, SegmentsReader(list(self.parts), hashlib.sha256()))

    def discard(self) -> None:
        if self.spool is not None:
            self.spool.discard()
        for seg, _ in self.parts:
            seg.unlink(missing_ok=True)


class HeldMembers:
    def __init__(self, writer: BundleWriter, redactor: Redactor) -> None:
        self.writer = writer
        self.redactor = redactor
        self._members: list[HeldMember] = []
        self._paths: set[str] = set()
        self._lock = threading.Lock()
        self.closed = False
        self.rewritten = 0  # members a late literal was found in
        self.dropped: list[HeldMember] = []  # members commit_all did not reach (it was stopped)

    def __len__(self) -> int:
        return len(self._members)

    def _add(self, member: HeldMember) -> None:
        with self._lock:
            if self.closed:
                member.discard()
                raise HoldClosed(f"{member.path}: the bundle's members were already written")
            if member.path in self._paths:
                member.discard()
                raise ValueError(f"duplicate bundle path {member.path}")
            self._paths.add(member.path)
            self._members.append(member)

    def hold_bytes(self, path: str, source: str, data: bytes, counts: RedactionCounts, since: int,
                   on_commit: Callable[[FileRecord, RedactionCounts], None] | None = None) -> str:
        """Hold redacted bytes; return the member's normalised path."""
        spool = self.writer.spool(path, source)
        try:
            spool.write(data)
            spool.close()
        except BaseException:
            spool.discard()
            raise
        return self.hold_spool(spool, counts, since, on_commit)

    def hold_spool(self, spool: FileSpool, counts: RedactionCounts, since: int,
                   on_commit: Callable[[FileRecord, RedactionCounts], None] | None = None) -> str:
        spool.close()
        self._add(HeldMember(spool.path, spool.source, counts, since, spool=spool, on_commit=on_commit))
        return spool.path

    def hold_segments(self, path: str, source: str, parts: list[tuple[Path, int]], counts: RedactionCounts,
                      since: int, on_commit: Callable[[FileRecord, RedactionCounts], None] | None = None) -> str:
        """Hold a streamed file made of the tails of several temp files (a log spool's parts)."""
        try:
            path = safe_member_path(path)
        except ValueError:
            for seg, _ in parts:
                seg.unlink(missing_ok=True)
            raise
        self._add(HeldMember(path, source, counts, since, parts=list(parts), on_commit=on_commit))
        return path

    def discard_all(self) -> None:
        with self._lock:
            self.closed = True
            members, self._members = self._members, []
        for member in members:
            member.discard()

    def commit_all(self, on_error: Callable[[HeldMember, Exception], None] | None = None) -> None:
        """Write every held member into the bundle, in order, each fixed first when it holds a
        literal learnt after its redaction started (its new text through both leak gates:
        :class:`LateLeak`, and nothing more is written). ``on_error``: a member that cannot be
        read or rewritten (not a leak, not a full disk) is left out and reported there; without
        it the error is raised."""
        with self._lock:
            self.closed = True
            members, self._members = self._members, []
        done = 0  # members[:done] were written or reported
        try:
            for member in members:
                try:
                    record = self._commit(member)
                except LateLeak:
                    raise
                except Exception as exc:
                    if on_error is None or self.writer.is_disk_full(exc):
                        raise
                    member.discard()
                    on_error(member, exc)
                    done += 1
                    continue
                done += 1
                if member.on_commit is not None:
                    member.on_commit(record, member.counts)
        finally:
            self.dropped.extend(members[done:])
            for member in members[done:]:
                member.discard()

    def _gate(self, text: str, path: str, line: int) -> None:
        reason = self.redactor.output_leak(text, path, line)
        if reason is not None:
            raise LateLeak(reason)

    def _commit(self, member: HeldMember) -> FileRecord:
        fix = self.redactor.late_fix(member.since)
        if fix is not None:
            with member.open() as src:
                stale = needs_fix(src, fix)
            if stale:
                spool = self.writer.spool(member.path, member.source)
                try:
                    with member.open() as src:
                        fix_stream(src, cast(BinaryIO, spool), fix, member.counts,
                                   lambda text, line: self._gate(text, member.path, line))
                except BaseException:
                    spool.discard()
                    raise
                member.discard()
                member.rewritten = True
                self.rewritten += 1
                return self.writer.commit(spool, member.counts.by_kind)
        if member.spool is not None:
            return self.writer.commit(member.spool, member.counts.by_kind)
        return self.writer.commit_segments(member.path, member.source, member.parts, member.counts.by_kind)
