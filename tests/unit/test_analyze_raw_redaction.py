"""`analyze` of inputs that did not come from a nodediag bundle redacts them before rendering."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from click.testing import CliRunner

from nodediag.cli import main

RPC_KEY = "Lq8vT3xZp7Rk2Wm9Yn4Bc6Hd"
BEARER = "Tk5pQ9wE2rY7uI3oP8aS4dF6gH1j"
ADMIN_KEY = "a3f1c9e27b4d8f6a0c5e9b2d8f1a7c3e6b0d4f92a8c7e1d3b5f9a2c4e6d8b0f1"
TX = "0x9f8e7d6c5b4a39281706f5e4d3c2b1a0f9e8d7c6b5a4938271605f4e3d2c1b0a"

LOG = (
    "2026-11-27T18:30:00.000000000Z [18:30:00.000] INFO: prover-node Starting\n"
    f"2026-11-27T18:30:01.000000000Z [18:30:01.000] ERROR: archiver Error fetching from "
    f"https://eth-mainnet.g.alchemy.com/v2/{RPC_KEY}: fetch failed\n"
    f"2026-11-27T18:30:02.000000000Z [18:30:02.000] WARN: http request Authorization: Bearer {BEARER}\n"
    "2026-11-27T18:30:03.000000000Z   ADMIN API KEY (save this — it will NOT be shown again)\n"
    "2026-11-27T18:30:03.000000000Z \n"
    f"2026-11-27T18:30:03.000000000Z     {ADMIN_KEY}\n"
    f"2026-11-27T18:30:04.000000000Z [18:30:04.000] INFO: prover-node Submitted proof tx {TX}\n"
    f"2026-11-27T18:30:05.000000000Z [18:30:05.000] ERROR: prover-client:orchestrator Error thrown when "
    f"proving job: Error: Broker facade stopped {RPC_KEY}\n"
)


@pytest.mark.parametrize("fmt", ["html", "json", "md"])
@pytest.mark.parametrize("compressed", [False, True])
def test_no_planted_value_reaches_any_output_format(tmp_path: Path, fmt: str, compressed: bool) -> None:
    if compressed:
        source = tmp_path / "node.log.gz"
        source.write_bytes(gzip.compress(LOG.encode()))
    else:
        source = tmp_path / "node.log"
        source.write_text(LOG)
    out = tmp_path / f"report.{fmt}"
    result = CliRunner().invoke(main, ["analyze", str(source), "-f", fmt, "-o", str(out)])
    assert result.exit_code in (0, 1, 2), result.output
    report = out.read_text()
    for value in (RPC_KEY, BEARER, ADMIN_KEY):
        assert value not in report and value not in result.output
    assert "redacted it as it read it" in report
    assert TX in report or fmt == "html" or "Submitted" not in report  # evidence stays
