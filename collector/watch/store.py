"""The sample ring: a small SQLite database in the watch folder (``samples.sqlite``).

One row per sampled subject per tick: ``(t, kind, name, data)`` where ``kind`` is ``container``,
``host``, ``fs`` or ``status`` and ``data`` the sample as JSON. Bounded twice: rows older than
``retain_s`` are deleted, and when the file passes ``max_bytes`` the oldest rows go until it is
back under the cap (pages are returned to the file system with incremental vacuum). The database
survives restarts of the watcher: a watcher started again goes on appending to it.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

SampleKind = Literal["container", "host", "fs", "status"]
SAMPLE_KINDS: tuple[SampleKind, ...] = ("container", "host", "fs", "status")
DEFAULT_MAX_BYTES = 64 * 1024 * 1024
_SCHEMA_VERSION = 1


class StoreError(Exception):
    """The sample database cannot be opened or written; the message says which file and why."""


@dataclass(frozen=True, slots=True)
class Sample:
    t: float  # Unix time, seconds
    kind: SampleKind
    name: str  # container name, mount point, or "" for the host
    data: dict[str, Any]

    def as_row(self) -> dict[str, Any]:
        """The sample as the bundle's ``watch/samples.jsonl`` writes it (one object per line)."""
        return {"t": round(self.t, 3), "kind": self.kind, "name": self.name, **self.data}


class SampleStore:
    """Append samples, read a time range back, prune by age and size. Thread-safe."""

    def __init__(self, path: Path, *, retain_s: float = 7 * 86400.0, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.path = path
        self.retain_s = retain_s
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA auto_vacuum=INCREMENTAL")  # only takes effect on a new file
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS samples (id INTEGER PRIMARY KEY, t REAL NOT NULL, "
                "kind TEXT NOT NULL, name TEXT NOT NULL, data TEXT NOT NULL)")
            self._db.execute("CREATE INDEX IF NOT EXISTS samples_t ON samples (t)")
            self._db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
            self._db.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(_SCHEMA_VERSION),))
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"cannot open the sample database {path}: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def add(self, samples: Iterable[Sample]) -> None:
        rows = [(s.t, s.kind, s.name, json.dumps(s.data, separators=(",", ":"), default=str)) for s in samples]
        if not rows:
            return
        with self._lock:
            try:
                self._db.execute("BEGIN")
                self._db.executemany("INSERT INTO samples (t, kind, name, data) VALUES (?, ?, ?, ?)", rows)
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise StoreError(f"cannot write to the sample database {self.path}: {exc}") from exc

    def between(self, since: float, until: float | None = None, newest: int | None = None) -> Iterator[Sample]:
        """Samples with ``since <= t <= until``, oldest first; with ``newest``, only the newest that many."""
        until = time.time() + 1e9 if until is None else until
        with self._lock:
            if newest is None:
                rows = self._db.execute("SELECT t, kind, name, data FROM samples WHERE t >= ? AND t <= ? "
                                        "ORDER BY t, id", (since, until)).fetchall()
            else:
                rows = self._db.execute("SELECT t, kind, name, data FROM samples WHERE t >= ? AND t <= ? "
                                        "ORDER BY t DESC, id DESC LIMIT ?", (since, until, newest)).fetchall()
                rows.reverse()
        for t, kind, name, data in rows:
            try:
                payload = json.loads(data)
            except ValueError:
                continue
            if kind in SAMPLE_KINDS and isinstance(payload, dict):
                yield Sample(t, kind, name, payload)

    def count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM samples").fetchone()[0])

    def oldest(self) -> float | None:
        with self._lock:
            row = self._db.execute("SELECT min(t) FROM samples").fetchone()
        return float(row[0]) if row and row[0] is not None else None

    def size_bytes(self) -> int:
        """Bytes the database holds (pages in use), WAL excluded."""
        with self._lock:
            pages = self._db.execute("PRAGMA page_count").fetchone()[0]
            free = self._db.execute("PRAGMA freelist_count").fetchone()[0]
            size = self._db.execute("PRAGMA page_size").fetchone()[0]
        return int((pages - free) * size)

    def prune(self, now: float | None = None) -> int:
        """Delete rows older than ``retain_s``, then the oldest until under ``max_bytes``; the
        number of rows deleted."""
        now = time.time() if now is None else now
        deleted = 0
        with self._lock:
            try:
                cur = self._db.execute("DELETE FROM samples WHERE t < ?", (now - self.retain_s,))
                deleted += cur.rowcount
                for _ in range(20):
                    pages = self._db.execute("PRAGMA page_count").fetchone()[0]
                    free = self._db.execute("PRAGMA freelist_count").fetchone()[0]
                    size = self._db.execute("PRAGMA page_size").fetchone()[0]
                    if (pages - free) * size <= self.max_bytes:
                        break
                    total = self._db.execute("SELECT count(*) FROM samples").fetchone()[0]
                    if not total:
                        break
                    # the oldest tenth (at least one row) at a time
                    cut = self._db.execute("SELECT t FROM samples ORDER BY t, id LIMIT 1 OFFSET ?",
                                           (max(1, total // 10) - 1,)).fetchone()[0]
                    cur = self._db.execute("DELETE FROM samples WHERE t <= ?", (cut,))
                    deleted += cur.rowcount
                if deleted:
                    self._db.executescript("PRAGMA incremental_vacuum;")  # run to completion (execute frees one page)
                    self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error as exc:
                raise StoreError(f"cannot prune the sample database {self.path}: {exc}") from exc
        return deleted
