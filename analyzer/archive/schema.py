"""The archive's tables (SQLAlchemy Core, the same for SQLite and PostgreSQL) and their migrations.

The schema is versioned by a small table, ``archive_schema``, with one row per applied step; every
open runs the steps the database lacks, in one transaction under a lock (SQLite: the write lock
taken by ``BEGIN IMMEDIATE``; PostgreSQL: a transaction-level advisory lock), so two processes
opening a new archive at once migrate it once. A numbered list of steps in code, not Alembic: the
store has four tables, every step must run on both backends from the same process that opens the
archive, and Alembic would add a dependency, an ``env.py`` and a script folder to ship for that.
A database written by a newer nodediag (a version above ``LATEST``) is refused, never altered.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    func,
    insert,
    select,
    text,
)

from nodediag.analyzer.archive.location import ArchiveError
from nodediag.analyzer.archive.search import search_index_for

metadata = MetaData()

archive_schema = Table(
    "archive_schema", metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("applied_at", DateTime, nullable=False),
)

bundles = Table(
    "bundles", metadata,
    Column("id", Integer, primary_key=True),
    Column("sha256", String(64), nullable=False, unique=True),
    Column("stored_name", String(300), nullable=False),  # path inside the store
    Column("original_name", Text, nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("kind", String(32), nullable=False),  # bundle-v1, manual-guide, single-log, ...
    Column("damaged", Boolean, nullable=False),
    Column("problems", Text, nullable=False),
    Column("case_id", String(200), nullable=False),
    Column("note", Text, nullable=False),
    Column("host", String(255), nullable=False),
    Column("deployment", String(255), nullable=False),
    Column("collected_at", DateTime, nullable=True),
    Column("occurred_at", DateTime, nullable=False),  # collected_at, else incident start, else added_at
    Column("collector_version", String(64), nullable=False),
    Column("format_version", Integer, nullable=True),
    Column("added_at", DateTime, nullable=False),
    Column("current_analysis_id", Integer, nullable=True),
)
Index("bundles_occurred_at", bundles.c.occurred_at)
Index("bundles_host", bundles.c.host)

analyses = Table(
    "analyses", metadata,
    Column("id", Integer, primary_key=True),
    Column("bundle_id", Integer, ForeignKey("bundles.id", ondelete="CASCADE"), nullable=False),
    Column("analyzer_version", String(64), nullable=False),
    Column("analyzed_at", DateTime, nullable=False),
    Column("verdict_rule", String(120), nullable=True),
    Column("verdict_headline", Text, nullable=False),
    Column("verdict_container", String(255), nullable=False),
    Column("verdict_confidence", String(16), nullable=False),
    Column("started_at", DateTime, nullable=True),
    Column("max_severity", String(16), nullable=False),
    Column("findings_count", Integer, nullable=False),
    Column("report", LargeBinary, nullable=True),  # the JSON report, zstd-compressed; NULL when it failed
    Column("error", Text, nullable=False),  # why the analysis failed ("" when it did not)
)
Index("analyses_bundle", analyses.c.bundle_id)

findings = Table(
    "findings", metadata,
    Column("id", Integer, primary_key=True),
    Column("analysis_id", Integer, ForeignKey("analyses.id", ondelete="CASCADE"), nullable=False),
    Column("rule_id", String(120), nullable=False),
    Column("title", Text, nullable=False),
    Column("severity", String(16), nullable=False),
    Column("severity_rank", Integer, nullable=False),
    Column("category", String(16), nullable=False),
    Column("container", String(255), nullable=False),
    Column("role", String(32), nullable=False),
    Column("first_seen", DateTime, nullable=True),
    Column("last_seen", DateTime, nullable=True),
    Column("count", Integer, nullable=False),
)
Index("findings_rule", findings.c.rule_id, findings.c.analysis_id)
Index("findings_analysis", findings.c.analysis_id)

V1_TABLES = (bundles, analyses, findings)


def _v1_tables(conn: Connection) -> None:
    for table in V1_TABLES:
        table.create(conn)


def _v2_search(conn: Connection) -> None:
    """Full-text search over findings and verdicts, filled from the reports already stored."""
    from nodediag.analyzer.archive.records import search_document, unpack_report

    index = search_index_for(conn.dialect.name)
    index.create(conn)
    rows = conn.execute(select(analyses.c.id, analyses.c.report)
                        .where(analyses.c.id == bundles.c.current_analysis_id, analyses.c.report.is_not(None)))
    for analysis_id, packed in rows.all():
        index.put(conn, analysis_id, search_document(unpack_report(packed)))


Step = Callable[[Connection], None]
MIGRATIONS: list[tuple[int, Step]] = [(1, _v1_tables), (2, _v2_search)]
LATEST = MIGRATIONS[-1][0]
_PG_LOCK_KEY = 0x6E6F6465  # "node": the advisory lock taken while migrating


def now_utc() -> datetime:
    """Times are stored as naive UTC (the same on both backends)."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def schema_version(conn: Connection) -> int:
    if not conn.dialect.has_table(conn, archive_schema.name):
        return 0
    return int(conn.execute(select(func.max(archive_schema.c.version))).scalar() or 0)


def migrate(conn: Connection, upto: int = LATEST) -> int:
    """Bring the schema to ``upto`` inside the caller's transaction; returns the version found."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
    found = schema_version(conn)
    if found > LATEST:
        raise ArchiveError(f"the archive's schema is version {found}, newer than this nodediag knows ({LATEST}): "
                           "upgrade nodediag to use it")
    if found == 0:
        archive_schema.create(conn, checkfirst=True)
    for version, step in MIGRATIONS:
        if found < version <= upto:
            step(conn)
            conn.execute(insert(archive_schema).values(version=version, applied_at=now_utc()))
    return found
