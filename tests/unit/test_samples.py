"""The committed samples (samples/, made by tests/lab/make-samples.sh from real lab runs) still
verify and still analyze to the diagnosis samples/expected.json promises. No Docker needed.

A sample whose entry carries `analyzer_gap` documents a diagnosis the analyzer does not give yet:
its test is expected to fail (strict xfail), so fixing the analyzer turns it into a reminder to
delete the gap note."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import zstandard

from nodediag.analyzer.analysis import analyze_input
from nodediag.analyzer.facts import load_facts
from nodediag.analyzer.inputs import open_input

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "samples"
EXPECTED = json.loads((SAMPLES / "expected.json").read_text())["samples"]
MAX_SAMPLE_BYTES = 500 * 1024
LAB_ENV_FILES = sorted((REPO / "tests" / "lab" / "scenarios").glob("*/.env"))
SECRET_KEYS = ("PROVER_PUBLISHER_PRIVATE_KEY", "ETHEREUM_HOSTS", "L1_CONSENSUS_HOST_URLS")


def _params() -> list:
    params = []
    for name, entry in sorted(EXPECTED.items()):
        marks = [pytest.mark.xfail(strict=True, reason=f"analyzer gap: {entry['analyzer_gap']}")] \
            if entry.get("analyzer_gap") else []
        params.append(pytest.param(name, entry, id=name, marks=marks))
    return params


def _lab_secrets() -> set[str]:
    """The fake secrets of the lab's .env files: the API key in a URL, the private key."""
    secrets: set[str] = set()
    for env_file in LAB_ENV_FILES:
        for line in env_file.read_text().splitlines():
            key, _, value = line.partition("=")
            if key in SECRET_KEYS:
                for url in value.split(","):
                    secrets.add(url.rstrip("/").rsplit("/", 1)[-1].split("apikey=")[-1])
    return {s for s in secrets if len(s) >= 16}


def _bundle_bytes(path: Path) -> bytes:
    raw = zstandard.ZstdDecompressor().stream_reader(path.open("rb")).read()
    with tarfile.open(fileobj=io.BytesIO(raw)) as archive:
        return b"\n".join(archive.extractfile(m).read() for m in archive.getmembers() if m.isfile())


def test_every_sample_in_expected_json_is_committed_and_small() -> None:
    committed = sorted(p.name for p in SAMPLES.iterdir() if p.name.endswith((".tar.zst", ".tar.gz")))
    assert committed == sorted(e["file"] for e in EXPECTED.values())
    for entry in EXPECTED.values():
        size = (SAMPLES / entry["file"]).stat().st_size
        assert 0 < size < MAX_SAMPLE_BYTES, f"{entry['file']} is {size} bytes"


def test_readme_mirrors_expected_json() -> None:
    readme = (SAMPLES / "README.md").read_text()
    for entry in EXPECTED.values():
        row = next((line for line in readme.splitlines() if f"`{entry['file']}`" in line), None)
        assert row is not None, f"samples/README.md does not list {entry['file']}"
        assert f"`{entry['rule_id']}`" in row if entry["rule_id"] else "none" in row, row
        assert entry["container"] in row, row


@pytest.mark.parametrize("name, entry", _params())
def test_sample_analyzes_to_its_expected_diagnosis(name: str, entry: dict, tmp_path: Path) -> None:
    inp = open_input(SAMPLES / entry["file"], workdir=tmp_path)
    result = analyze_input(inp, load_facts(inp), tool_version="test")
    # when node and agent both show the cause, which one comes first is a matter of timing
    containers = [entry["container"], *(f"aztec-prover-{s}-1" for s in entry.get("also_services", []))]
    assert result.verdict.rule_id == entry["rule_id"], f"{name}: {result.verdict.headline}"
    assert result.verdict.container in containers, f"{name}: {result.verdict.headline}"
    assert entry.get("headline_contains", "") in result.verdict.headline, result.verdict.headline


@pytest.mark.parametrize("name", sorted(n for n, e in EXPECTED.items() if e.get("unexplained")))
def test_sample_lists_the_errors_no_rule_explains(name: str, tmp_path: Path) -> None:
    entry = EXPECTED[name]
    inp = open_input(SAMPLES / entry["file"], workdir=tmp_path)
    result = analyze_input(inp, load_facts(inp), tool_version="test")
    shown = {group.message: group for group in result.unexplained}
    for message in entry["unexplained"]:
        assert message in shown, f"{name}: {message!r} not in {sorted(shown)}"
        group = shown[message]
        assert group.count >= 2 and group.containers and group.file and group.line > 0, group


@pytest.mark.parametrize("name", sorted(n for n, e in EXPECTED.items() if e["file"].endswith(".tar.zst")))
def test_sample_bundle_verifies(name: str) -> None:
    done = subprocess.run([sys.executable, "-m", "nodediag", "verify", str(SAMPLES / EXPECTED[name]["file"])],
                          capture_output=True, text=True, cwd=REPO, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("OK: ")


@pytest.mark.parametrize("name", sorted(n for n, e in EXPECTED.items() if e["file"].endswith(".tar.zst")))
def test_sample_bundle_holds_no_lab_secret(name: str) -> None:
    secrets = _lab_secrets()
    assert secrets, "the lab .env files hold no secrets to look for"
    stored = _bundle_bytes(SAMPLES / EXPECTED[name]["file"]).lower()
    leaked = sorted(s for s in secrets if s.lower().removeprefix("0x").encode() in stored)
    assert not leaked, f"{name} carries lab secrets in clear: {leaked}"


def test_manual_guide_archive_has_the_guides_shape() -> None:
    entry = EXPECTED["manual-guide-archive"]
    with tarfile.open(SAMPLES / entry["file"], "r:gz") as archive:
        files = {m.name: archive.extractfile(m).read() for m in archive.getmembers() if m.isfile()}
    names = {n.removeprefix("aztec_diagnostics/") for n in files}
    assert names == {"prover-node.log", "broker.log", "agent.log", "containers.txt", "memory.txt", "disk.txt",
                     "config.env"}
    logs = {n.removeprefix("aztec_diagnostics/"): data for n, data in files.items() if n.endswith(".log")}
    assert logs["broker.log"] == b""  # `docker logs X > file` keeps stdout only
    assert b"No such container: aztec-prover-agent-1" in logs["agent.log"]
    assert b"INFO:" not in logs["prover-node.log"]  # pino writes to stderr, which the guide drops
    assert b"PROVER_PUBLISHER_PRIVATE_KEY=0x" in files["aztec_diagnostics/config.env"]  # raw, as the guide ships it
