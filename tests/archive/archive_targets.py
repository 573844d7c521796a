"""What the archive tests share (a module of its own: test modules must not import conftest, whose
name every test folder's conftest.py shares)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
SAMPLES = REPO_ROOT / "samples"


@dataclass(frozen=True)
class ArchiveTarget:
    backend: str
    db: str  # what the user passes to --db
    store: Path

    def args(self) -> list[str]:
        return ["--db", self.db, "--store", str(self.store)]
