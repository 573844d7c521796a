"""The archive the widespread manual guide produces (``aztec_diagnostics/``): its fixed file names.

Shared by ``nodediag redact`` (which converts such an archive into a bundle) and the analyzer
(which reads one directly); neither side owns it.
"""

from __future__ import annotations

GUIDE_LOGS = ("prover-node.log", "broker.log", "agent.log")
GUIDE_FILES = (*GUIDE_LOGS, "containers.txt", "memory.txt", "disk.txt", "config.env")
GUIDE_FOLDER = "aztec_diagnostics"


def is_compose_file(rel: str) -> bool:
    return rel.endswith((".yml", ".yaml"))


def is_env_file(rel: str) -> bool:
    name = rel.rsplit("/", 1)[-1]
    return name.endswith(".env") or name == ".env" or name.startswith(".env.")
