"""The archive the widespread manual guide produces, made from a running lab deployment with the
guide's own commands (and its mistakes), for samples/manual-guide-archive.tar.gz:

    docker logs aztec-prover-prover-node-1 > aztec_diagnostics/prover-node.log   # stdout only
    docker logs aztec-prover-broker-1 > aztec_diagnostics/broker.log             # wrong name: empty
    docker logs aztec-prover-agent-1 > aztec_diagnostics/agent.log 2>&1          # wrong name: the error
    docker ps -a > containers.txt;  free -h > memory.txt;  df -h > disk.txt
    cat .env > config.env                                                        # keys in clear (fake here)
    tar czf aztec_diagnostics.tar.gz aztec_diagnostics

Aztec logs go to stderr, so `> file` keeps almost nothing; the guide's container names do not
exist under the official compose. The .env of the lab holds a FAKE private key and a fake RPC
API key: the analyzer must redact them as it reads the archive.
"""

from __future__ import annotations

import io
import subprocess
import tarfile
import time
from pathlib import Path

GUIDE_SOURCE_SCENARIO = "broker-died"
FOLDER = "aztec_diagnostics"
# mounts of this lab machine that say nothing about a prover host (sandbox, engine overlays)
NOISE_MOUNTS = ("/mnt/", "/tmp/", "/run", "/proc", "/sys", "/dev", "/etc/")


def _run(command: list[str], env: dict[str, str], *, with_stderr: bool) -> bytes:
    done = subprocess.run(command, capture_output=True, env=env, timeout=60, check=False)
    return done.stdout + (done.stderr if with_stderr else b"")


def _df_without_noise(text: bytes) -> bytes:
    lines = text.decode("utf-8", errors="replace").splitlines()
    kept = lines[:1] + [line for line in lines[1:] if not line.split()[-1].startswith(NOISE_MOUNTS)]
    return ("\n".join(kept) + "\n").encode()


def guide_files(env: dict[str, str], scenario_dir: Path, project: str) -> dict[str, bytes]:
    """The guide's files, by name, taken from the deployment of compose project `project`."""
    official = f"{project}-prover-node-1"
    return {
        "prover-node.log": _run(["docker", "logs", official], env, with_stderr=False),
        "broker.log": _run(["docker", "logs", "aztec-prover-broker-1"], env, with_stderr=False),
        "agent.log": _run(["docker", "logs", "aztec-prover-agent-1"], env, with_stderr=True),
        "containers.txt": _run(["docker", "ps", "-a"], env, with_stderr=False),
        "memory.txt": _run(["free", "-h"], env, with_stderr=False),
        "disk.txt": _df_without_noise(_run(["df", "-h"], env, with_stderr=False)),
        "config.env": (scenario_dir / ".env").read_bytes(),
    }


def write_guide_archive(env: dict[str, str], scenario_dir: Path, project: str, target: Path) -> None:
    files = guide_files(env, scenario_dir, project)
    now = int(time.time())
    target.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(target, "w:gz") as archive:
        folder = tarfile.TarInfo(FOLDER)
        folder.type, folder.mode, folder.mtime = tarfile.DIRTYPE, 0o755, now
        archive.addfile(folder)
        for name, data in files.items():
            member = tarfile.TarInfo(f"{FOLDER}/{name}")
            member.size, member.mode, member.mtime = len(data), 0o644, now
            archive.addfile(member, io.BytesIO(data))
