"""The archive suite runs twice: on a SQLite file and on a real PostgreSQL server.

The server is the one ``NODEDIAG_TEST_PG_URL`` names when it answers, else a private one that
``tests/engine/postgres.sh`` starts for the session (Debian's postgresql, a cluster in a temporary
folder, a unix socket only) and stops after it. Each test gets a database of its own.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from archive_targets import REPO_ROOT, ArchiveTarget

PG_SCRIPT = REPO_ROOT / "tests" / "engine" / "postgres.sh"


def _pg_script(action: str, state_dir: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(PG_SCRIPT), action], capture_output=True, text=True, timeout=90,
                          check=False, env={**os.environ, "NODEDIAG_PG_DIR": state_dir})


def _answers(url: str) -> bool:
    import psycopg

    try:
        with psycopg.connect(url, connect_timeout=5):
            return True
    except psycopg.Error:
        return False


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A libpq URL of a server where the tests may create databases."""
    given = os.environ.get("NODEDIAG_TEST_PG_URL", "")
    if given and _answers(given):
        yield given
        return
    state_dir = f"/tmp/nodediag-pg-pytest-{os.getpid()}"
    started = _pg_script("start", state_dir)
    if started.returncode != 0:
        _pg_script("stop", state_dir)
        pytest.fail(f"tests/engine/postgres.sh start failed: {started.stderr.strip()} (run bash .ci/setup)",
                    pytrace=False)
    url = started.stdout.strip().splitlines()[-1].split("NODEDIAG_TEST_PG_URL=", 1)[1]
    try:
        yield url
    finally:
        _pg_script("stop", state_dir)


def _database_url(server: str, name: str) -> str:
    base, _, query = server.partition("?")
    base = base.rsplit("/", 1)[0]
    return f"{base}/{name}" + (f"?{query}" if query else "")


@pytest.fixture(params=["sqlite", "postgresql"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ArchiveTarget]:
    if request.param == "sqlite":
        yield ArchiveTarget("sqlite", str(tmp_path / "archive.db"), tmp_path / "store")
        return
    import psycopg

    server = request.getfixturevalue("postgres_server")
    name = f"archive_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield ArchiveTarget("postgresql", _database_url(server, name), tmp_path / "store")
    finally:
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
