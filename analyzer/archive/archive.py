"""The postmortem archive: bundles kept by content, their analyses, findings and verdict history,
in one SQLAlchemy Core code path for SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Connection, Engine, create_engine, event, exists, insert, select, update
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError

from nodediag.analyzer.archive import records
from nodediag.analyzer.archive.location import ArchiveError, Location, resolve
from nodediag.analyzer.archive.schema import analyses, bundles, findings, migrate, now_utc
from nodediag.analyzer.archive.search import SearchIndex, query_words, search_index_for
from nodediag.analyzer.archive.store import ContentStore, pack_folder, sha256_of
from nodediag.analyzer.model import SEVERITY_RANK

AddStatus = Literal["added", "duplicate", "refused"]
# analyze(path, name) -> the JSON report as a dict; raises InputError for an input it cannot read
Analyze = Callable[[Path, str], dict[str, Any]]

_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


@dataclass(frozen=True)
class AddOutcome:
    source: str
    status: AddStatus
    id: int | None = None
    damaged: bool = False
    message: str = ""


@dataclass(frozen=True)
class Filters:
    rule: str | None = None
    severity: str | None = None  # this severity or worse
    role: str | None = None
    host: str | None = None
    since: datetime | None = None  # naive UTC
    until: datetime | None = None
    text: str | None = None
    limit: int | None = None


@dataclass(frozen=True)
class Entry:
    """One archived bundle with its current analysis (what ``list`` shows)."""

    id: int
    occurred_at: datetime
    collected_at: datetime | None
    added_at: datetime
    host: str
    deployment: str
    kind: str
    original_name: str
    sha256: str
    damaged: bool
    case_id: str
    note: str
    verdict_rule: str | None
    headline: str
    max_severity: str
    analyzer_version: str
    error: str
    rules: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        def iso(moment: datetime | None) -> str | None:
            return None if moment is None else moment.isoformat(timespec="seconds") + "Z"

        return {"id": self.id, "occurred_at": iso(self.occurred_at), "collected_at": iso(self.collected_at),
                "added_at": iso(self.added_at), "host": self.host, "deployment": self.deployment,
                "kind": self.kind, "name": self.original_name, "sha256": self.sha256, "damaged": self.damaged,
                "case_id": self.case_id, "note": self.note, "verdict_rule": self.verdict_rule,
                "headline": self.headline, "max_severity": self.max_severity,
                "analyzer_version": self.analyzer_version, "analysis_error": self.error, "rules": self.rules}


@dataclass(frozen=True)
class HistoryEntry:
    analysis_id: int
    analyzer_version: str
    analyzed_at: datetime
    verdict_rule: str | None
    headline: str
    current: bool
    error: str


def _one_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    text = " ".join(str(orig).split())
    return text[:300]


SQLITE_LOCKED_RETRY_S = 60.0  # as long as the busy timeout: an open or BEGIN refused at once is tried again


def _sqlite_engine(location: Location) -> Engine:
    path = Path(location.url.split(":///", 1)[1])
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ArchiveError(f"cannot create the archive folder {path.parent}: {exc.strerror or exc}") from None
    engine = create_engine(location.url, connect_args={"timeout": 60})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # transactions are begun below, not by the driver
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA busy_timeout = 60000")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")  # the write lock first: no upgrade deadlock between adders

    return engine


def _postgres_engine(location: Location) -> Engine:
    try:
        import psycopg  # noqa: F401
    except ImportError:
        raise ArchiveError("a PostgreSQL archive needs psycopg 3: pip install 'nodediag[postgres]'") from None
    return create_engine(location.url, pool_size=2, connect_args={"connect_timeout": 10})


def _entry_columns() -> list[Any]:
    """The columns of an Entry, in its field order, then the current analysis id."""
    b, a = bundles, analyses
    return [b.c.id, b.c.occurred_at, b.c.collected_at, b.c.added_at, b.c.host, b.c.deployment, b.c.kind,
            b.c.original_name, b.c.sha256, b.c.damaged, b.c.case_id, b.c.note, a.c.verdict_rule,
            a.c.verdict_headline, a.c.max_severity, a.c.analyzer_version, a.c.error, b.c.current_analysis_id]


class Archive:
    def __init__(self, location: Location, engine: Engine) -> None:
        self.location = location
        self.engine = engine
        self.store = ContentStore(location.store)
        self.search: SearchIndex = search_index_for(engine.dialect.name)

    @classmethod
    def open(cls, db: str | None = None, store: str | Path | None = None) -> Archive:
        """Connect and migrate the schema; ArchiveError (one line) when that cannot be done."""
        location = resolve(db, store)
        engine = _sqlite_engine(location) if location.backend == "sqlite" else _postgres_engine(location)
        archive = cls(location, engine)
        with archive._transaction() as conn:
            migrate(conn)
        return archive

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Archive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _begin(self, stack: ExitStack) -> Connection:
        """``engine.begin()``, entered on ``stack``. SQLite in WAL mode answers "database is locked"
        at once, without its busy timeout, to a connection opened while another process's last
        connection cleans up the WAL on close (sqlite.org/wal.html): at connect or BEGIN that is
        tried again for up to SQLITE_LOCKED_RETRY_S, with a growing pause."""
        deadline = time.monotonic() + SQLITE_LOCKED_RETRY_S
        pause = 0.02
        while True:
            try:
                return stack.enter_context(self.engine.begin())
            except OperationalError as exc:
                if self.location.backend != "sqlite" or "database is locked" not in str(exc.orig) \
                        or time.monotonic() + pause > deadline:
                    raise
            time.sleep(pause)
            pause = min(pause * 2, 1.0)

    @contextmanager
    def _transaction(self) -> Iterator[Connection]:
        try:
            with ExitStack() as stack:
                yield self._begin(stack)
        except DBAPIError as exc:
            if exc.connection_invalidated or "connect" in type(exc.orig).__name__.lower() or \
                    isinstance(exc.orig, ConnectionError) or "connection" in str(exc.orig).lower()[:200]:
                raise ArchiveError(f"cannot reach the archive database {self.location.shown}: "
                                   f"{_one_line(exc)}") from None
            raise ArchiveError(f"archive database {self.location.shown}: {_one_line(exc)}") from None
        except SQLAlchemyError as exc:
            raise ArchiveError(f"archive database {self.location.shown}: {_one_line(exc)}") from None

    # --- add ------------------------------------------------------------------------------------

    def add(self, source: Path, analyze: Analyze, *, case_id: str = "", note: str = "",
            force: bool = False) -> AddOutcome:
        from nodediag.analyzer.inputs import InputError
        from nodediag.bundle.verify import VerifyError, verify_bundle

        shown = str(source)
        if not source.exists():
            return AddOutcome(shown, "refused", message=f"{shown} does not exist")
        if source.is_dir():  # stored as a tar of the folder, which analyze reads as it reads the folder
            with tempfile.TemporaryDirectory(prefix="nodediag-archive-") as work:
                packed = Path(work) / f"{source.resolve().name or 'folder'}.tar"
                try:
                    pack_folder(source, packed)
                except OSError as exc:
                    return AddOutcome(shown, "refused", message=f"{shown} cannot be read: {exc.strerror or exc}")
                except ArchiveError as exc:
                    return AddOutcome(shown, "refused", message=str(exc))
                outcome = self.add(packed, analyze, case_id=case_id, note=note, force=force)
                return dataclasses.replace(outcome, source=shown, message=outcome.message.replace(str(packed), shown))
        if not source.is_file():
            return AddOutcome(shown, "refused", message=f"{shown} is neither a file nor a folder")
        try:
            sha256, size = sha256_of(source)
            with source.open("rb") as fh:
                head = fh.read(4)
        except OSError as exc:
            return AddOutcome(shown, "refused", message=f"{shown} cannot be read: {exc.strerror or exc}")
        known = self._id_for(sha256)
        if known is not None:
            return AddOutcome(shown, "duplicate", known, message=f"{shown} is already archived as #{known}")
        problems: list[str] = []
        verify_error = ""
        if head == _ZSTD_MAGIC:
            try:
                verified = verify_bundle(source)
                problems.extend(verified.problems)
            except VerifyError as exc:
                verify_error = str(exc)
        report: dict[str, Any] | None = None
        error = ""
        try:
            report = analyze(source, source.name)
        except InputError as exc:
            error = str(exc)
        kind = str(((report or {}).get("input") or {}).get("kind") or "")
        if report is not None and kind == "bundle-v1" and verify_error:
            problems.append(verify_error)
        if report is None:
            problems.append(error or verify_error)
        elif not problems:  # files that do not match the manifest, in a packed folder or a plain tar too
            gaps = (report.get("input") or {}).get("gaps") or []
            problems.extend(f"{', '.join(gap.get('files') or []) or gap.get('source')}: {gap.get('detail')}"
                            for gap in gaps if gap.get("status") == "checksum-mismatch")
        damaged = bool(problems)
        if damaged and not force:
            more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
            return AddOutcome(shown, "refused", message=f"{shown} fails verification, nothing stored: "
                              f"{problems[0]}{more}; --force stores it marked as damaged")
        stored_name = self.store.put(source, sha256)
        meta = records.bundle_meta(report) if report is not None else None
        added_at = now_utc()
        occurred = (meta.collected_at if meta else None) or (records.incident_start(report) if report else None) \
            or added_at
        row = {
            "sha256": sha256, "stored_name": stored_name, "original_name": source.name, "size": size,
            "kind": (meta.kind if meta else "") or "unreadable", "damaged": damaged,
            "problems": "\n".join(problems), "case_id": case_id[:200], "note": note,
            "host": meta.host if meta else "", "deployment": meta.deployment if meta else "",
            "collected_at": meta.collected_at if meta else None, "occurred_at": occurred,
            "collector_version": meta.collector_version if meta else "",
            "format_version": meta.format_version if meta else None, "added_at": added_at,
        }
        with self._transaction() as conn:
            bundle_id = self._insert_bundle(conn, row)
            if bundle_id is None:  # another process added the same content meanwhile
                known = self._id_for(sha256, conn)
                return AddOutcome(shown, "duplicate", known, message=f"{shown} is already archived as #{known}")
            self._store_analysis(conn, bundle_id, report, error)
        return AddOutcome(shown, "added", bundle_id, damaged,
                          message=(report or {}).get("verdict", {}).get("headline", "") or error)

    def _insert_bundle(self, conn: Connection, row: dict[str, Any]) -> int | None:
        dialect = pg_dialect if conn.dialect.name == "postgresql" else sqlite_dialect
        statement = dialect.insert(bundles).values(**row).on_conflict_do_nothing(
            index_elements=[bundles.c.sha256]).returning(bundles.c.id)
        found = conn.execute(statement).scalar()
        return None if found is None else int(found)

    def _store_analysis(self, conn: Connection, bundle_id: int, report: dict[str, Any] | None, error: str) -> int:
        if report is not None:
            values = records.analysis_row(report)
        else:
            values = {"analyzer_version": "", "analyzed_at": now_utc(), "verdict_rule": None,
                      "verdict_headline": "", "verdict_container": "", "verdict_confidence": "",
                      "started_at": None, "max_severity": "", "findings_count": 0, "report": None, "error": error}
        analysis_id = int(conn.execute(insert(analyses).values(bundle_id=bundle_id, **values)
                                       .returning(analyses.c.id)).scalar_one())
        previous = conn.execute(select(bundles.c.current_analysis_id).where(bundles.c.id == bundle_id)).scalar()
        if previous is not None:  # findings and search words are those of the current analysis only
            conn.execute(findings.delete().where(findings.c.analysis_id == previous))
            self.search.remove(conn, int(previous))
        if report is not None:
            rows = records.finding_rows(report)
            if rows:
                conn.execute(insert(findings), [{"analysis_id": analysis_id, **r} for r in rows])
            self.search.put(conn, analysis_id, records.search_document(report))
        conn.execute(update(bundles).where(bundles.c.id == bundle_id).values(current_analysis_id=analysis_id))
        return analysis_id

    def _id_for(self, sha256: str, conn: Connection | None = None) -> int | None:
        if conn is None:
            with self._transaction() as own:
                return self._id_for(sha256, own)
        found = conn.execute(select(bundles.c.id).where(bundles.c.sha256 == sha256)).scalar()
        return None if found is None else int(found)

    def store_report(self, report: dict[str, Any], *, sha256: str, name: str, size: int = 0,
                     case_id: str = "", note: str = "") -> int | None:
        """Record an analysis whose file is not in the store (benchmarks and imports)."""
        meta = records.bundle_meta(report)
        added_at = now_utc()
        row = {"sha256": sha256, "stored_name": "", "original_name": name, "size": size, "kind": meta.kind,
               "damaged": False, "problems": "", "case_id": case_id, "note": note, "host": meta.host,
               "deployment": meta.deployment, "collected_at": meta.collected_at,
               "occurred_at": meta.collected_at or records.incident_start(report) or added_at,
               "collector_version": meta.collector_version, "format_version": meta.format_version,
               "added_at": added_at}
        with self._transaction() as conn:
            bundle_id = self._insert_bundle(conn, row)
            if bundle_id is not None:
                self._store_analysis(conn, bundle_id, report, "")
        return bundle_id

    # --- read -----------------------------------------------------------------------------------

    def find(self, filters: Filters = Filters(), *, with_rules: bool = True) -> list[Entry]:
        """Entries matching ``filters``, newest first; ``with_rules`` fills each entry's rule ids."""
        b, a = bundles, analyses
        query = select(*_entry_columns()).join(a, a.c.id == b.c.current_analysis_id, isouter=True)
        if filters.rule or filters.severity or filters.role:
            f = findings
            condition = f.c.analysis_id == b.c.current_analysis_id
            if filters.rule:
                condition = condition & (f.c.rule_id == filters.rule)
            if filters.severity:
                condition = condition & (f.c.severity_rank >= SEVERITY_RANK[filters.severity])
            if filters.role:
                condition = condition & (f.c.role == filters.role)
            query = query.where(exists().where(condition))
        if filters.host:
            query = query.where(b.c.host == filters.host)
        if filters.since:
            query = query.where(b.c.occurred_at >= filters.since)
        if filters.until:
            query = query.where(b.c.occurred_at <= filters.until)
        if filters.text is not None:
            words = query_words(filters.text)
            if not words:
                raise ArchiveError("--text needs at least one word")
            query = query.where(b.c.current_analysis_id.in_(self.search.matching(words)))
        query = query.order_by(b.c.occurred_at.desc(), b.c.id.desc())
        if filters.limit:
            query = query.limit(filters.limit)
        with self._transaction() as conn:
            rows = conn.execute(query).all()
            wanted = [r[-1] for r in rows if r[-1]] if with_rules else []
            rules = self._rules_of(conn, wanted)
        return [self._entry(r, rules.get(r[-1], [])) for r in rows]

    def _rules_of(self, conn: Connection, analysis_ids: list[int]) -> dict[int, list[str]]:
        found: dict[int, list[str]] = {i: [] for i in analysis_ids}
        for start in range(0, len(analysis_ids), 5000):
            chunk = analysis_ids[start:start + 5000]
            query = select(findings.c.analysis_id, findings.c.rule_id).where(findings.c.analysis_id.in_(chunk))
            for analysis_id, rule_id in conn.execute(query.order_by(findings.c.id)):
                found[analysis_id].append(rule_id)
        return found

    @staticmethod
    def _entry(row: Any, rules: list[str]) -> Entry:
        (id_, occurred, collected, added, host, deployment, kind, name, sha, damaged, case_id, note, rule,
         headline, severity, version, error, _current) = row
        return Entry(int(id_), occurred, collected, added, host, deployment, kind, name, sha, bool(damaged), case_id,
                     note, rule, headline or "", severity or "", version or "", error or "", rules)

    def entry(self, bundle_id: int) -> Entry:
        with self._transaction() as conn:
            row = conn.execute(select(*_entry_columns())
                               .join(analyses, analyses.c.id == bundles.c.current_analysis_id, isouter=True)
                               .where(bundles.c.id == bundle_id)).first()
            if row is None:
                raise ArchiveError(f"no archive entry #{bundle_id}: `nodediag archive list` shows the ids")
            rules = self._rules_of(conn, [row[-1]] if row[-1] else [])
        return self._entry(row, rules.get(row[-1], []))

    def report(self, bundle_id: int) -> dict[str, Any]:
        """The current analysis's JSON report of an entry."""
        entry = self.entry(bundle_id)
        with self._transaction() as conn:
            packed = conn.execute(select(analyses.c.report)
                                  .join(bundles, bundles.c.current_analysis_id == analyses.c.id)
                                  .where(bundles.c.id == bundle_id)).scalar()
        if packed is None:
            raise ArchiveError(f"archive entry #{bundle_id} has no analysis ({entry.error or 'not analyzed'}); "
                               "`nodediag archive reanalyze` tries again")
        return records.unpack_report(packed)

    def history(self, bundle_id: int) -> list[HistoryEntry]:
        current = self.entry(bundle_id)
        with self._transaction() as conn:
            rows = conn.execute(select(analyses.c.id, analyses.c.analyzer_version, analyses.c.analyzed_at,
                                       analyses.c.verdict_rule, analyses.c.verdict_headline, analyses.c.error,
                                       bundles.c.current_analysis_id)
                                .join(bundles, bundles.c.id == analyses.c.bundle_id)
                                .where(analyses.c.bundle_id == current.id).order_by(analyses.c.id)).all()
        return [HistoryEntry(int(r[0]), r[1], r[2], r[3], r[4], r[0] == r[6], r[5]) for r in rows]

    def ids(self) -> list[int]:
        with self._transaction() as conn:
            return [int(i) for i in conn.execute(select(bundles.c.id).order_by(bundles.c.id)).scalars()]

    # --- reanalyze ------------------------------------------------------------------------------

    def reanalyze(self, bundle_ids: Iterable[int], analyze: Analyze) -> Iterator[tuple[int, str | None, str | None,
                                                                                      str]]:
        """Run the current rules over stored bundles; yields (id, verdict before, verdict after,
        error). Every analysis is kept: the entry's history shows which version said what."""
        from nodediag.analyzer.inputs import InputError

        for bundle_id in bundle_ids:
            entry = self.entry(bundle_id)
            with self._transaction() as conn:
                stored_name = conn.execute(select(bundles.c.stored_name).where(bundles.c.id == bundle_id)).scalar()
            path = self.store.path(stored_name) if stored_name else None
            if path is None or not path.is_file():
                yield bundle_id, entry.verdict_rule, entry.verdict_rule, \
                    f"the stored file is missing from {self.store.root}"
                continue
            try:
                report: dict[str, Any] | None = analyze(path, entry.original_name)
                error = ""
            except InputError as exc:
                report, error = None, str(exc)
            with self._transaction() as conn:
                self._store_analysis(conn, bundle_id, report, error)
            after = (report or {}).get("verdict", {}).get("rule_id")
            yield bundle_id, entry.verdict_rule, after, error

    # --- trends ---------------------------------------------------------------------------------

    def incidents(self, since: datetime | None = None, until: datetime | None = None) -> list[Entry]:
        return self.find(Filters(since=since, until=until))
