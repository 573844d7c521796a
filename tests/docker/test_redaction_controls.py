"""Operator controls of `nodediag collect` against the real Docker engine: --secret, --exclude,
--no-logs, --redact-ips, secrets behind *_FILE variables, docker secrets and keystores, --dry-run."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

import pytest
from waiting import wait_until

from tests.docker.test_collect import all_bytes, extract, nodediag

pytestmark = pytest.mark.docker

OPERATOR_SECRET = "corp-relay-Zq81vX4kLm"
PUBLISHER_KEY = "0x" + secrets.token_hex(32)
ATTESTER_KEY = "0x" + secrets.token_hex(32)
KEYSTORE_PUBLISHER = "0x" + secrets.token_hex(32)
DB_PASSWORD = "pw-" + secrets.token_hex(12)


@pytest.fixture(scope="module")
def chatty(docker_client, test_image, tmp_path_factory):
    """A container whose log holds an operator secret, IP addresses and the values of the secret
    files it reads: a *_FILE key, a keystore and a docker secret (all bind-mounted from the host)."""
    files = tmp_path_factory.mktemp("secret-files")
    (files / "keys").mkdir()
    (files / "keys" / "publisher.key").write_text(PUBLISHER_KEY + "\n")
    (files / "keystore").mkdir()
    (files / "keystore" / "keystore.json").write_text(json.dumps(
        {"schemaVersion": 1, "validators": [{"attester": {"eth": ATTESTER_KEY}, "publisher": [KEYSTORE_PUBLISHER],
                                             "feeRecipient": "0x" + "ab" * 20}]}))
    (files / "db_password").write_text(DB_PASSWORD)
    script = ("echo \"relay $RELAY ready\" >&2; echo 'peer 8.8.8.8:40400 and broker 10.0.0.5:8080' >&2; "
              "echo \"publisher key $(cat /keys/publisher.key)\" >&2; "
              "echo \"attester $(grep -o '0x[0-9a-f]\\{64\\}' /keystore/keystore.json "
              "| tr a-f A-F | tr '\\n' ' ')\" >&2; "
              "echo \"db connect password $(cat /run/secrets/db_password)\" >&2; sleep 300")
    name = f"nodediag-controls-{os.getpid()}"
    container = docker_client.containers.run(
        test_image, ["sh", "-c", script], name=name, network_mode="none", detach=True,
        environment={"RELAY": OPERATOR_SECRET, "PROVER_PUBLISHER_PRIVATE_KEY_FILE": "/keys/publisher.key",
                     "KEY_STORE_DIRECTORY": "/keystore"},
        volumes={str(files / "keys"): {"bind": "/keys", "mode": "ro"},
                 str(files / "keystore"): {"bind": "/keystore", "mode": "ro"},
                 str(files / "db_password"): {"bind": "/run/secrets/db_password", "mode": "ro"}})
    try:
        # every planted line in the log before collection, or "no leak" would prove nothing
        wait_until(lambda: b"db connect" in container.logs(), 90, "the chatty container's last line")
        yield name
    finally:
        container.remove(force=True)


def collect(tmp_path: Path, name: str, *extra: str) -> tuple[Path, dict, object]:
    out = tmp_path / "b.tar.zst"
    proc = nodediag("collect", "--container", name, "--since", "10m", "-o", str(out), *extra)
    assert proc.returncode == 0, proc.stderr
    root = extract(out, tmp_path / "x")
    return root, json.loads((root / "manifest.json").read_text()), proc


def test_operator_secret_and_secret_files_are_propagated_out_of_the_log(chatty, tmp_path):
    root, manifest, _ = collect(tmp_path, chatty, "--secret", OPERATOR_SECRET)
    log = (root / "containers" / chatty / "logs.txt").read_text()
    blob = all_bytes(root).lower()
    for value in (OPERATOR_SECRET, PUBLISHER_KEY, ATTESTER_KEY, KEYSTORE_PUBLISHER, DB_PASSWORD):
        assert value.lower().removeprefix("0x").encode() not in blob, value
    assert "relay [REDACTED:literal#" in log and "publisher key [REDACTED:" in log
    assert log.count("[REDACTED:private_key#") >= 3 and "db connect password [REDACTED:" in log
    assert b'"validators"' not in blob  # the keystore file itself is never bundled
    notes = " ".join(manifest["redaction"]["secret_files"])
    assert "PROVER_PUBLISHER_PRIVATE_KEY_FILE" in notes and "KEY_STORE_DIRECTORY" in notes and "/run/secrets" in notes
    assert manifest["redaction"]["operator_secrets"] == 1
    lines = manifest["redaction"]["redacted_lines"][f"containers/{chatty}/logs.txt"]
    assert lines["literal"] == [1]
    shown = nodediag("inspect", str(tmp_path / "b.tar.zst"))
    assert shown.returncode == 0 and "redacted literal x1 (line 1)" in shown.stdout


def test_exclude_drops_sources_and_says_why(chatty, tmp_path):
    root, manifest, _ = collect(tmp_path, chatty, "--exclude", "container_logs", "--exclude", "host_processes")
    assert not (root / "containers" / chatty / "logs.txt").exists()
    assert not (root / "host" / "processes.json").exists()
    src = {s["name"]: s for s in manifest["sources"]}
    assert src[f"container_logs:{chatty}"]["status"] == "skipped"
    assert src[f"container_logs:{chatty}"]["error"] == "excluded with --exclude container_logs"
    assert src["host_processes"]["error"] == "excluded with --exclude host_processes"
    assert (root / "containers" / chatty / "inspect.json").is_file()
    assert manifest["options"]["excluded"] == ["container_logs", "host_processes"]


def test_no_logs(chatty, tmp_path):
    root, manifest, _ = collect(tmp_path, chatty, "--no-logs")
    assert not list(root.rglob("logs.txt"))
    src = {s["name"]: s for s in manifest["sources"]}
    assert src[f"container_logs:{chatty}"]["error"] == "excluded with --no-logs"
    assert manifest["options"]["no_logs"] is True


def test_redact_ips_keeps_private_ranges(chatty, tmp_path):
    root, manifest, _ = collect(tmp_path, chatty, "--redact-ips")
    log = (root / "containers" / chatty / "logs.txt").read_text()
    assert "8.8.8.8" not in log and "[REDACTED:ip#" in log and "10.0.0.5:8080" in log
    assert manifest["redaction"]["redact_ips"] is True


def test_dry_run_writes_nothing_and_lists_the_containers(chatty, tmp_path):
    work = tmp_path / "cwd"
    work.mkdir()
    out = work / "would-be.tar.zst"
    proc = nodediag("collect", "--container", chatty, "--dry-run", "--exclude", "host_processes", "-o", str(out),
                    cwd=work)
    assert proc.returncode == 0, proc.stderr
    assert list(work.iterdir()) == []
    assert chatty in proc.stdout and f"container_logs:{chatty}" in proc.stdout
    assert "excluded  host_processes" in proc.stdout
    as_json = json.loads(nodediag("collect", "--container", chatty, "--dry-run", "--json", cwd=work).stdout)
    assert [c["name"] for c in as_json["containers"]] == [chatty]
    planned = {s["name"]: s for s in as_json["sources"]}
    assert planned[f"container_logs:{chatty}"]["status"] == "will run"
    assert list(work.iterdir()) == []


@pytest.mark.parametrize("args", [["--secrets-file", "/nonexistent/secrets.txt"], ["--pattern", "(["],
                                  ["--secret", "abc"]])
def test_bad_operator_rules_are_refused_in_one_line(tmp_path, args):
    out = tmp_path / "b.tar.zst"
    proc = nodediag("collect", "-o", str(out), *args, env={"DOCKER_HOST": f"unix://{tmp_path}/nope.sock"})
    assert proc.returncode != 0 and not out.exists()
    assert proc.stderr.strip().startswith("nodediag: error:") and len(proc.stderr.strip().splitlines()) == 1
