"""A configuration file the deployment names but collect may not read is a failed source (a gap in
the evidence the report shows), not one quietly skipped; a file that is not there is skipped."""

from __future__ import annotations

from pathlib import Path

import pytest

import nodediag.collector.sources.config as config
from nodediag.collector.discovery import ConfigFile
from nodediag.collector.engine import SourceSkipped


def run(cf: ConfigFile) -> None:
    config._config(cf)(None)  # type: ignore[arg-type]  # (it fails before it writes anything)


def test_a_config_file_that_cannot_be_read_is_a_failure_with_the_reason(monkeypatch: pytest.MonkeyPatch,
                                                                         tmp_path: Path) -> None:
    def denied(path: Path, cap: int) -> bytes:  # root reads every file: the refusal is simulated
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(config, "open_regular", denied)
    cf = ConfigFile(tmp_path / ".env", "env", "aztec-prover", "config/aztec-prover/.env")
    with pytest.raises(RuntimeError, match="permission denied; run collect as root"):
        run(cf)


def test_a_config_file_that_is_gone_is_skipped(tmp_path: Path) -> None:
    cf = ConfigFile(tmp_path / "missing.env", "env", "aztec-prover", "config/aztec-prover/missing.env")
    with pytest.raises(SourceSkipped, match="does not exist"):
        run(cf)
