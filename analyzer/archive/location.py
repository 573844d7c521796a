"""Where the archive lives: the database URL and the content-addressed store beside it.

Default: a SQLite file in the user's data folder, ``$XDG_DATA_HOME/nodediag/archive.db`` (XDG's
default ``~/.local/share``), the store in ``store/`` beside it. A support team points every
member at one PostgreSQL server with ``--db postgresql://...`` or ``NODEDIAG_ARCHIVE_DB``, and the
store at a shared path with ``--store`` or ``NODEDIAG_ARCHIVE_STORE``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

DB_ENV = "NODEDIAG_ARCHIVE_DB"
STORE_ENV = "NODEDIAG_ARCHIVE_STORE"

Backend = Literal["sqlite", "postgresql"]


class ArchiveError(Exception):
    """Something the user can fix: ``str(e)`` is one plain line saying what and what to do."""


@dataclass(frozen=True)
class Location:
    url: str  # SQLAlchemy URL, driver included
    backend: Backend
    store: Path
    shown: str  # the URL as it may be printed (password hidden)


def data_home() -> Path:
    xdg = os.environ.get("XDG_DATA_HOME", "")
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".local" / "share"
    return base / "nodediag"


def hide_password(url: str) -> str:
    return re.sub(r"(://[^/:@]*:)[^@/]*@", r"\1***@", url)


def resolve(db: str | None = None, store: str | Path | None = None) -> Location:
    """The archive named by ``db`` (a URL or a SQLite file path), else ``$NODEDIAG_ARCHIVE_DB``,
    else the default SQLite file; the store from ``store``, ``$NODEDIAG_ARCHIVE_STORE``, or beside
    a SQLite file (for PostgreSQL without one: ``store/`` in the data folder)."""
    given = db or os.environ.get(DB_ENV, "") or ""
    store_given = store or os.environ.get(STORE_ENV, "") or None
    if not given:
        path = data_home() / "archive.db"
        return _sqlite(path, store_given)
    scheme = given.split("://", 1)[0].lower() if "://" in given else ""
    if scheme in ("postgresql", "postgres", "postgresql+psycopg"):
        rest = given.split("://", 1)[1]
        url = f"postgresql+psycopg://{rest}"
        return Location(url, "postgresql", Path(store_given) if store_given else data_home() / "store",
                        hide_password(given))
    if scheme in ("sqlite", "sqlite+pysqlite"):
        from sqlalchemy.engine import make_url

        database = make_url(given).database or ""
        if database in ("", ":memory:"):
            raise ArchiveError(f"--db {given}: give a SQLite file (sqlite:///relative.db, sqlite:////absolute.db "
                               "or a plain path)")
        return _sqlite(Path(database), store_given)
    if scheme:
        raise ArchiveError(f"--db {hide_password(given)}: unsupported database ({scheme}); "
                           "use a SQLite file path or postgresql://user@host/dbname")
    return _sqlite(Path(given), store_given)


def _sqlite(path: Path, store: str | Path | None) -> Location:
    path = path.expanduser().absolute()
    return Location(f"sqlite+pysqlite:///{path}", "sqlite", Path(store) if store else path.parent / "store",
                    str(path))
