"""Discovery on a real engine: with no Aztec container, `collect` says what it looked for and stops
(exit 1) unless `--all` asks for every container. A module of its own: no fake deployment runs here."""

from __future__ import annotations

import json
import os
import time

import pytest

from tests.docker.test_collect import nodediag

pytestmark = pytest.mark.docker


def test_no_aztec_container_stops_unless_all_is_given(docker_client, test_image, tmp_path):
    web = docker_client.containers.run(test_image, ["sh", "-c", "echo serving >&2; sleep 300"],
                                       name=f"plain-web-{os.getpid()}", network_mode="none", detach=True)
    try:
        time.sleep(0.5)
        proc = nodediag("collect", "-o", str(tmp_path / "none.tar.zst"))
        assert proc.returncode == 1, proc.stderr
        message = proc.stderr.strip().splitlines()[-1]
        assert message.startswith("nodediag: error: found no Aztec prover container among the")
        assert "--project NAME or --container NAME" in message and "--all" in message
        assert "found no Aztec prover containers found" not in proc.stderr
        assert list(tmp_path.iterdir()) == []
        proc = nodediag("collect", "--all", "--since", "10m", "--json", "-o", str(tmp_path / "all.tar.zst"))
        assert proc.returncode in (0, 4), proc.stderr
        summary = json.loads(proc.stdout)
        assert summary["chosen"].startswith("every container on the host")
        assert f"container_logs:{web.name}" in {s["name"] for s in summary["sources"]}
    finally:
        web.remove(force=True)
