"""Full-text search of findings and verdicts: one interface, one implementation per backend.

SQLite: an FTS5 table keyed by the analysis id. PostgreSQL: a ``tsvector`` column with a GIN
index. Both tokenize without stemming (FTS5 ``unicode61``, PostgreSQL's ``simple`` configuration),
and a query is the words the user typed, all of which must occur (in any order).
"""

from __future__ import annotations

import re
from typing import Any, Protocol

from sqlalchemy import ColumnElement, Connection, Integer, column, literal_column, text
from sqlalchemy.sql import Select, select

_WORD = re.compile(r"\w+", re.UNICODE)


def query_words(words: str) -> list[str]:
    """The words of a ``--text`` query (punctuation separates words, as in the index)."""
    return [w.lower() for w in _WORD.findall(words)]


class SearchIndex(Protocol):
    def create(self, conn: Connection) -> None: ...

    def put(self, conn: Connection, analysis_id: int, document: str) -> None: ...

    def remove(self, conn: Connection, analysis_id: int) -> None: ...

    def matching(self, words: list[str]) -> Select[Any]:
        """SELECT of the analysis ids whose document holds every word."""
        ...


class Fts5Index:
    def create(self, conn: Connection) -> None:
        conn.exec_driver_sql("CREATE VIRTUAL TABLE analysis_search USING fts5(document, tokenize='unicode61')")

    def put(self, conn: Connection, analysis_id: int, document: str) -> None:
        self.remove(conn, analysis_id)
        conn.execute(text("INSERT INTO analysis_search (rowid, document) VALUES (:id, :doc)"),
                     {"id": analysis_id, "doc": document})

    def remove(self, conn: Connection, analysis_id: int) -> None:
        conn.execute(text("DELETE FROM analysis_search WHERE rowid = :id"), {"id": analysis_id})

    def matching(self, words: list[str]) -> Select[Any]:
        phrase = " ".join('"' + w.replace('"', '""') + '"' for w in words)  # each word quoted: no FTS syntax
        condition: ColumnElement[bool] = literal_column("analysis_search").op("MATCH")(phrase)
        return select(column("rowid", Integer)).select_from(text("analysis_search")).where(condition)


class TsvectorIndex:
    def create(self, conn: Connection) -> None:
        conn.exec_driver_sql("CREATE TABLE analysis_search (analysis_id INTEGER PRIMARY KEY "
                             "REFERENCES analyses(id) ON DELETE CASCADE, document TSVECTOR NOT NULL)")
        conn.exec_driver_sql("CREATE INDEX analysis_search_document ON analysis_search USING GIN (document)")

    def put(self, conn: Connection, analysis_id: int, document: str) -> None:
        conn.execute(text("INSERT INTO analysis_search (analysis_id, document) "
                          "VALUES (:id, to_tsvector('simple', :doc)) "
                          "ON CONFLICT (analysis_id) DO UPDATE SET document = EXCLUDED.document"),
                     {"id": analysis_id, "doc": document.replace("\x00", "")})

    def remove(self, conn: Connection, analysis_id: int) -> None:
        conn.execute(text("DELETE FROM analysis_search WHERE analysis_id = :id"), {"id": analysis_id})

    def matching(self, words: list[str]) -> Select[Any]:
        condition: ColumnElement[bool] = text("document @@ plainto_tsquery('simple', :words)").bindparams(
            words=" ".join(words))  # type: ignore[assignment]
        return select(column("analysis_id", Integer)).select_from(text("analysis_search")).where(condition)


def search_index_for(dialect: str) -> SearchIndex:
    if dialect == "sqlite":
        return Fts5Index()
    if dialect == "postgresql":
        return TsvectorIndex()
    raise ValueError(f"no full-text search for {dialect}")
