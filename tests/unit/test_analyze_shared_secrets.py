"""Several raw inputs in one `analyze`: a secret learnt in one is removed from the others."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from nodediag.analyzer.inputs.shared import share_learnt
from nodediag.analyzer.model import LoadedInput
from nodediag.cli import main
from nodediag.redaction import Redactor

BEARER = "Xy7Qw2Er9Ty4Ui8Op3As6Df1Gh5Jk"
RPC_KEY = "Zm4Nb8Vc2Xl6Kj9Hg3Fd7Sa1Qp"
TX = "0x7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b"
PROVER_ID = "0x2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c"

# a: the values with nothing around them that says they are secrets
LOG_A = (
    "2026-11-27T18:30:00.000000000Z [18:30:00.000] INFO: prover-node Starting\n"
    f"2026-11-27T18:30:01.000000000Z [18:30:01.000] ERROR: prover-node Upstream refused {BEARER} (code 7)\n"
    f"2026-11-27T18:30:02.000000000Z [18:30:02.000] ERROR: prover-node Retry failed for {RPC_KEY.upper()}\n"
    "2026-11-27T18:30:03.000000000Z [18:30:03.000] ERROR: prover-node Job context "
    + json.dumps(json.dumps({"attempt": 3, "ref": BEARER, "node": PROVER_ID})) + "\n"
    f"2026-11-27T18:30:04.000000000Z [18:30:04.000] ERROR: prover-node Proof tx {TX} reverted\n"
    f"2026-11-27T18:30:05.000000000Z [18:30:05.000] ERROR: prover-node Broker facade stopped {RPC_KEY}\n"
)
# b: where they are learnt
LOG_B = (
    "2026-11-27T18:30:00.500000000Z [18:30:00.500] INFO: prover-broker Starting\n"
    f"2026-11-27T18:30:01.500000000Z [18:30:01.500] WARN: prover-broker http request "
    f"Authorization: Bearer {BEARER}\n"
    f"2026-11-27T18:30:02.500000000Z [18:30:02.500] ERROR: prover-broker Error fetching from "
    f"https://eth-mainnet.g.alchemy.com/v2/{RPC_KEY}: fetch failed\n"
)


def _forms(value: str) -> list[str]:
    return [value, value.upper(), value.lower(), json.dumps(value)[1:-1]]


@pytest.mark.parametrize("fmt", ["html", "json", "md"])
@pytest.mark.parametrize("order", ["learnt-last", "learnt-first"])
def test_a_secret_learnt_in_one_raw_log_is_removed_from_the_other(tmp_path: Path, fmt: str, order: str) -> None:
    a, b = tmp_path / "a.log", tmp_path / "b.log"
    a.write_text(LOG_A)
    b.write_text(LOG_B)
    out = tmp_path / f"report.{fmt}"
    sources = [a, b] if order == "learnt-last" else [b, a]
    result = CliRunner().invoke(main, ["analyze", *map(str, sources), "-f", fmt, "-o", str(out)])
    assert result.exit_code in (0, 1, 2), result.output
    report = out.read_text()
    for value in (BEARER, RPC_KEY):
        for form in _forms(value):
            assert form not in report and form not in result.output
    assert "Upstream refused [REDACTED:token#" in report
    assert TX in report and PROVER_ID in report  # near-misses: evidence stays
    assert "removed from this one" in report


def test_every_learnt_form_is_shared_and_near_misses_stay(tmp_path: Path) -> None:
    secret = 'pa"ss\\word&Kq83Lm2'  # JSON-escaped and Go-HTML-escaped forms differ from the value
    teacher = Redactor()
    teacher.add_secret(secret, "password")
    copy = tmp_path / "a" / "node.log"
    copy.parent.mkdir()
    escaped = json.dumps(secret)[1:-1]
    text = (f"one {secret} two {escaped.upper()} three {escaped.replace('&', chr(92) + 'u0026')}\n"
            f"tx {TX} prover {PROVER_ID} sha256:{TX[2:]}\n")
    copy.write_text(text)
    fixed = LoadedInput(kind="single-log", root=copy.parent, files=["node.log"], manifest=None, learnt=[])
    other = LoadedInput(kind="single-log", root=tmp_path, files=[], manifest=None, learnt=teacher.learnt())
    share_learnt([fixed, other])
    out = copy.read_text()
    assert secret.lower() not in out.lower() and escaped.lower() not in out.lower() and "u0026kq83" not in out.lower()
    assert out.count("[REDACTED:password#") == 3
    assert out.splitlines()[1] == text.splitlines()[1]
    assert any("removed from this one" in w for w in fixed.warnings)


@pytest.mark.parametrize("fmt", ["json", "md"])
def test_the_guide_folder_and_a_log_share_their_secrets(tmp_path: Path, fmt: str) -> None:
    guide = tmp_path / "aztec_diagnostics"
    guide.mkdir()
    (guide / "prover-node.log").write_text(LOG_A)
    b = tmp_path / "b.log"
    b.write_text(LOG_B)
    out = tmp_path / f"report.{fmt}"
    result = CliRunner().invoke(main, ["analyze", str(guide), str(b), "-f", fmt, "-o", str(out)])
    assert result.exit_code in (0, 1, 2), result.output
    report = out.read_text()
    for value in (BEARER, RPC_KEY):
        for form in _forms(value):
            assert form not in report
    assert "Upstream refused [REDACTED:token#" in report and TX in report


@pytest.mark.parametrize("fmt", ["html", "json", "md"])
def test_what_the_report_shows_of_a_bundle_loses_a_secret_learnt_from_a_raw_log(tmp_path: Path, fmt: str) -> None:
    from tests.bundle_tools import write_bundle_folder

    host = write_bundle_folder(tmp_path / "host", {"containers/aztec-prover-prover-node-1/logs.txt": LOG_A.encode()},
                               hostname="prover-1", host_id="h1",
                               containers=[{"name": "aztec-prover-prover-node-1", "role": "prover-node",
                                            "service": "prover-node"}])
    before = (host / "containers/aztec-prover-prover-node-1/logs.txt").read_bytes()
    b = tmp_path / "b.log"
    b.write_text(LOG_B)
    out = tmp_path / f"report.{fmt}"
    result = CliRunner().invoke(main, ["analyze", str(host), str(b), "-f", fmt, "-o", str(out)])
    assert result.exit_code in (0, 1, 2), result.output
    report = out.read_text()
    assert "Upstream refused" in report  # the bundle's line is shown ...
    for value in (BEARER, RPC_KEY):
        for form in _forms(value):
            assert form not in report  # ... without the secret
    assert TX in report and PROVER_ID in report
    assert (host / "containers/aztec-prover-prover-node-1/logs.txt").read_bytes() == before  # not rewritten


def test_a_log_redacted_ahead_by_a_child_hands_back_what_it_learnt(tmp_path: Path) -> None:
    from nodediag.analyzer.inputs.redact_ahead import RedactAhead, finish_growing

    b = tmp_path / "b.log"
    b.write_text(LOG_B)
    (tmp_path / "copy").mkdir()
    ahead = RedactAhead(b, tmp_path / "copy" / "b.log", 1 << 20, b.stat().st_size)
    inp = LoadedInput(kind="single-log", root=tmp_path / "copy", files=["b.log"], manifest=None,
                      growing={"b.log": ahead}, learnt=[])
    try:
        finish_growing(inp)
    finally:
        ahead.stop()
    needles = {lit.needle for lit in inp.learnt or ()}
    assert BEARER.lower() in needles and RPC_KEY.lower() in needles
    copy = tmp_path / "a.log"
    copy.write_text(LOG_A)
    share_learnt([LoadedInput(kind="single-log", root=tmp_path, files=["a.log"], manifest=None, learnt=[]), inp])
    fixed = copy.read_text()
    for value in (BEARER, RPC_KEY):
        for form in _forms(value):
            assert form not in fixed
