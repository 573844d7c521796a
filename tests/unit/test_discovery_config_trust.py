"""Config files chosen by container labels: read only what the deployment's compose configuration
names, as regular files within a size cap; a FIFO never hangs collect."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from nodediag.collector.discovery import MAX_CONFIG_BYTES, ConfigFile, config_files, open_regular, to_target
from nodediag.collector.sources.config import read_config


def _target(labels: dict[str, str]) -> object:
    return to_target({"Id": "abc", "Name": "/aztec-prover-prover-node-1",
                      "Config": {"Image": "aztecprotocol/aztec:2.1.2", "Labels": labels, "Env": []},
                      "State": {"Status": "running"}})


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "aztec-prover"
    folder.mkdir()
    (folder / "docker-compose.yml").write_text(
        "services:\n  prover-node:\n    image: aztecprotocol/aztec:2.1.2\n    env_file: [prover.env]\n")
    (folder / ".env").write_text("PROVER_PUBLISHER_PRIVATE_KEY=0x01\n")
    (folder / "prover.env").write_text("LOG_LEVEL=info\n")
    return folder


def _labels(project: Path, env_file: str) -> dict[str, str]:
    return {"com.docker.compose.project": "aztec-prover", "com.docker.compose.service": "prover-node",
            "com.docker.compose.project.working_dir": str(project),
            "com.docker.compose.project.config_files": str(project / "docker-compose.yml"),
            "com.docker.compose.project.environment_file": env_file}


def test_a_label_naming_a_file_outside_the_project_is_not_read(project: Path, tmp_path: Path) -> None:
    shadow = tmp_path / "shadow"
    shadow.write_text("root:$6$salt$hash:19000:0:99999:7:::\n")
    shadow.chmod(0o600)
    notes: list[str] = []
    found = config_files([_target(_labels(project, str(shadow)))], notes=notes)  # type: ignore[list-item]
    paths = {cf.path for cf in found}
    assert shadow.resolve() not in paths
    assert {project / "docker-compose.yml", project / ".env", project / "prover.env"} <= paths
    assert any(str(shadow) in note and "not read" in note for note in notes)


def test_a_label_naming_a_non_compose_file_as_compose_is_not_read(tmp_path: Path) -> None:
    shadow = tmp_path / "shadow"
    shadow.write_text("root:x:0:0\n")
    labels = {"com.docker.compose.project": "p", "com.docker.compose.project.working_dir": str(tmp_path),
              "com.docker.compose.project.config_files": str(shadow)}
    notes: list[str] = []
    found = config_files([_target(labels)], notes=notes)  # type: ignore[list-item]
    assert found == [] and any("not a readable compose file" in n for n in notes)


def test_a_symlinked_env_leading_out_of_the_project_is_not_read(project: Path, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere.txt"
    outside.write_text("secret\n")
    (project / ".env").unlink()
    (project / ".env").symlink_to(outside)
    found = config_files([_target(_labels(project, str(project / ".env")))])  # type: ignore[list-item]
    assert outside.resolve() not in {cf.path for cf in found}


def test_a_fifo_is_refused_without_blocking(project: Path) -> None:
    fifo = project / "fifo.env"
    os.mkfifo(fifo)
    result: list[object] = []

    def read() -> None:
        try:
            result.append(read_config(ConfigFile(fifo, "env", "p", "config/p/fifo.env")))
        except OSError as exc:
            result.append(exc)

    worker = threading.Thread(target=read, daemon=True)
    worker.start()
    worker.join(5)
    assert not worker.is_alive(), "reading a FIFO blocked"
    assert isinstance(result[0], OSError) and "not a regular file" in str(result[0])


def test_size_cap_and_operator_files(project: Path, tmp_path: Path) -> None:
    big = tmp_path / "big.env"
    big.write_bytes(b"A=" + b"x" * MAX_CONFIG_BYTES)
    with pytest.raises(OSError, match="larger than"):
        open_regular(big)
    given = tmp_path / "given.env"
    given.write_text("X=1\n")
    assert given.resolve() in {cf.path for cf in config_files([], env_files=(given,))}
