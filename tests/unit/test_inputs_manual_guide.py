"""The manual guide's aztec_diagnostics/ folder and .tar.gz: detected, redacted on read, warned
about, and turned into facts."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from nodediag.analyzer.facts import load_facts
from nodediag.analyzer.inputs import open_input
from nodediag.analyzer.inputs.guide_tables import parse_df, parse_docker_ps, parse_free, parse_human_size, parse_status

PRIVATE_KEY = "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"
API_KEY = "AbCdEf1234567890XyZaBcDeF0987654"
RPC_URL = f"https://eth-mainnet.g.alchemy.com/v2/{API_KEY}"
GIB, TIB = 1024**3, 1024**4

CONFIG_ENV = f"""# Aztec prover
ETHEREUM_HOSTS={RPC_URL}
L1_CONSENSUS_HOST_URLS=https://beacon.example.org
PROVER_PUBLISHER_PRIVATE_KEY=0x{PRIVATE_KEY}
PROVER_ID=0x1234567890abcdef1234567890abcdef12345678
P2P_IP=203.0.113.7
PROVER_AGENT_POLL_INTERVAL_MS=30000
"""


def docker_ps(rows: list[tuple[str, ...]]) -> str:
    """Format like ``docker ps -a`` (a tabwriter: columns padded to the widest cell + 3 spaces)."""
    header = ("CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES")
    table = [header, *rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    return "".join("   ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() + "\n"
                   for r in table)


CONTAINERS_TXT = docker_ps([
    ("3f2a1b9c8d7e", "aztecprotocol/aztec:2.1.2", '"node --no-warnings …"', "2 days ago", "Up 2 hours",
     "0.0.0.0:8080->8080/tcp, :::8080->8080/tcp, 0.0.0.0:40400->40400/tcp", "aztec-prover-prover-node-1"),
    ("9b8c7d6e5f4a", "aztecprotocol/aztec:2.1.2", '"node --no-warnings …"', "2 days ago",
     "Exited (137) 5 minutes ago", "", "aztec-prover-prover-agent-1"),
    ("1a2b3c4d5e6f", "aztecprotocol/aztec:2.1.2", '"node --no-warnings …"', "2 days ago",
     "Restarting (1) 3 seconds ago", "", "aztec-prover-prover-broker-1"),
])
MEMORY_TXT = """               total        used        free      shared  buff/cache   available
Mem:            31Gi        27Gi       512Mi       1.0Mi       3.2Gi       3.4Gi
Swap:          2.0Gi       2.0Gi          0B
"""
DISK_TXT = """Filesystem      Size  Used Avail Use% Mounted on
udev             16G     0   16G   0% /dev
tmpfs           3.2G  1.9M  3.2G   1% /run
/dev/nvme0n1p2  1.8T  1.7T   47G  98% /
tmpfs            16G     0   16G   0% /dev/shm
"""
NODE_LOG = (f"[18:00:01.123] INFO: archiver Connected to L1 at {RPC_URL}\n"
            f"[18:00:02.000] INFO: prover-node Publisher 0x{PRIVATE_KEY.upper()} ready\n"
            "[18:02:11.000] ERROR: prover-client:orchestrator Error thrown when proving job: "
            "Error: Broker facade stopped\n")
GUIDE = {
    "prover-node.log": NODE_LOG,
    "broker.log": "",
    "agent.log": "Error response from daemon: No such container: aztec-prover-agent-1\n",
    "containers.txt": CONTAINERS_TXT, "memory.txt": MEMORY_TXT, "disk.txt": DISK_TXT,
    "config.env": CONFIG_ENV,
}


def write_guide_folder(parent: Path) -> Path:
    folder = parent / "aztec_diagnostics"
    folder.mkdir(parents=True)
    for name, text in GUIDE.items():
        (folder / name).write_text(text)
    return folder


def write_guide_tgz(path: Path) -> Path:
    with tarfile.open(path, "w:gz") as archive:  # what `tar czf aztec_diagnostics.tar.gz aztec_diagnostics`
        info = tarfile.TarInfo("aztec_diagnostics")
        info.type, info.mode = tarfile.DIRTYPE, 0o755
        archive.addfile(info)
        for name, text in GUIDE.items():
            data = text.encode()
            info = tarfile.TarInfo(f"aztec_diagnostics/{name}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def secrets_under(folder: Path) -> list[str]:
    found = []
    for path in folder.rglob("*"):
        if path.is_file():
            data = path.read_bytes().lower()
            found += [f"{path}: {s}" for s in (PRIVATE_KEY, API_KEY.lower()) if s.encode() in data]
    return found


@pytest.mark.parametrize("as_archive", [False, True], ids=["folder", "tar.gz"])
def test_guide_input_is_redacted_and_warned_about(tmp_path: Path, as_archive: bool) -> None:
    given = write_guide_tgz(tmp_path / "aztec_diagnostics.tgz") if as_archive else write_guide_folder(tmp_path)
    workdir = tmp_path / "work"
    loaded = open_input(given, workdir=workdir)
    assert loaded.kind == "manual-guide" and loaded.manifest is None
    assert loaded.files == sorted(GUIDE)
    root = Path(loaded.root)
    assert root.is_relative_to(workdir)
    assert secrets_under(workdir) == []  # not in the redacted copies, nor in a leftover extraction
    config = (root / "config.env").read_text()
    assert "PROVER_PUBLISHER_PRIVATE_KEY=[REDACTED:" in config and "[REDACTED:" in config.split("\n")[1]
    assert "PROVER_ID=0x1234567890abcdef1234567890abcdef12345678" in config  # public values stay
    node_log = (root / "prover-node.log").read_text()
    assert "Broker facade stopped" in node_log and node_log.count("[REDACTED:") == 2
    warnings = " | ".join(loaded.warnings)
    assert "UNREDACTED" in warnings and "delete it from wherever it was shared" in warnings
    assert "broker.log is empty" in warnings and "stderr" in warnings
    assert "agent.log says 'No such container'" in warnings
    assert all("\n" not in w for w in loaded.warnings)


def test_guide_facts(tmp_path: Path) -> None:
    loaded = open_input(write_guide_folder(tmp_path), workdir=tmp_path / "work")
    facts = load_facts(loaded)
    assert [(c.name, c.role, c.state, c.exit_code) for c in facts.containers] == [
        ("aztec-prover-prover-node-1", "prover-node", "running", None),
        ("aztec-prover-prover-agent-1", "prover-agent", "exited", 137),
        ("aztec-prover-prover-broker-1", "prover-broker", "restarting", 1)]
    assert {(lf.path, lf.container, lf.role) for lf in facts.log_files} == {
        ("prover-node.log", "aztec-prover-prover-node-1", "prover-node"),
        ("broker.log", "aztec-prover-prover-broker-1", "prover-broker"),
        ("agent.log", "aztec-prover-prover-agent-1", "prover-agent")}
    assert facts.containers[0].log_file == "prover-node.log"
    host = facts.host
    assert (host.memory_total, host.memory_available, host.swap_total, host.swap_used) == (
        31 * GIB, int(3.4 * GIB), 2 * GIB, 2 * GIB)
    root_fs = next(f for f in host.filesystems if f.mountpoint == "/")
    assert (root_fs.device, root_fs.total, root_fs.free, root_fs.percent) == (
        "/dev/nvme0n1p2", int(1.8 * TIB), 47 * GIB, 98.0)
    (config,) = facts.config_files
    assert config.path == "config.env" and config.env["PROVER_AGENT_POLL_INTERVAL_MS"] == "30000"
    assert config.env["PROVER_PUBLISHER_PRIVATE_KEY"].startswith("[REDACTED:")


def test_guide_folder_given_one_level_up(tmp_path: Path) -> None:
    write_guide_folder(tmp_path / "download")
    assert open_input(tmp_path / "download", workdir=tmp_path / "work").kind == "manual-guide"


def test_guide_archive_of_an_absolute_path(tmp_path: Path) -> None:
    """`tar czf x.tgz /root/aztec_diagnostics` stores root/aztec_diagnostics/..."""
    archive = tmp_path / "x.tar"
    with tarfile.open(archive, "w") as tar:
        for name, text in GUIDE.items():
            info = tarfile.TarInfo(f"root/aztec_diagnostics/{name}")
            info.size = len(text.encode())
            tar.addfile(info, io.BytesIO(text.encode()))
    loaded = open_input(archive, workdir=tmp_path / "work")
    assert loaded.kind == "manual-guide" and "prover-node.log" in loaded.files
    assert secrets_under(tmp_path / "work") == []


def test_secret_split_across_read_blocks_is_still_redacted(tmp_path: Path) -> None:
    folder = tmp_path / "aztec_diagnostics"
    folder.mkdir()
    (folder / "config.env").write_text(CONFIG_ENV)
    padding = "x" * (1024 * 1024 - 20) + "\n"  # puts the URL across the 1 MiB read boundary
    (folder / "prover-node.log").write_text(padding + "rpc " + RPC_URL + "\n")
    loaded = open_input(folder, workdir=tmp_path / "work")
    assert secrets_under(Path(loaded.root)) == []


def test_human_sizes_and_tables() -> None:
    assert [parse_human_size(s) for s in ("31Gi", "1.8T", "512M", "0B", "0", "4.0K", "10GB", "n/a")] == [
        31 * GIB, int(1.8 * TIB), 512 * 1024**2, 0, 0, 4096, 10 * 1000**3, None]
    assert parse_status("Exited (137) 5 minutes ago") == ("exited", 137, "")
    assert parse_status("Up 2 hours (unhealthy)") == ("running", None, "unhealthy")
    assert parse_status("Up 3 minutes (Paused)") == ("paused", None, "")
    assert parse_status("Created") == ("created", None, "")
    rows = parse_docker_ps(CONTAINERS_TXT)
    assert rows[0].ports.startswith("0.0.0.0:8080") and rows[0].command == "node --no-warnings …"
    assert parse_docker_ps("Cannot connect to the Docker daemon") == []
    assert parse_free("garbage").total is None
    wrapped = ("Filesystem                                   Size  Used Avail Use% Mounted on\n"
               "/dev/mapper/ubuntu--vg-ubuntu--lv--very--long\n"
               "                                             98G   91G  2.1G  98% /\n")
    (fs,) = parse_df(wrapped)
    assert (fs.device, fs.mountpoint, fs.percent) == ("/dev/mapper/ubuntu--vg-ubuntu--lv--very--long", "/", 98.0)
