"""Which Aztec role a container plays. Pure Python: the analyzer imports it too.

Identify a role by image and role flag first, compose labels second, name last
(see shared/domain/aztec-prover.md).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

AZTEC_IMAGE = "aztecprotocol/aztec"

# start flag -> role
ROLE_FLAGS = {
    "--prover-node": "prover-node",
    "--prover-broker": "prover-broker",
    "--prover-agent": "prover-agent",
}

# compose service names (official and community) -> role
SERVICE_ROLES = {
    "prover-node": "prover-node",
    "node": "prover-node",
    "prover-broker": "prover-broker",
    "broker": "prover-broker",
    "prover-agent": "prover-agent",
    "agent": "prover-agent",
}

_NAME_PATTERNS = (
    (re.compile(r"(^|[-_])(prover[-_])?broker([-_]\d+)?$"), "prover-broker"),
    (re.compile(r"(^|[-_])(prover[-_])?agent([-_]\d+)?$"), "prover-agent"),
    (re.compile(r"(^|[-_])(prover[-_])?node([-_]\d+)?$"), "prover-node"),
)


def is_aztec_image(image: str) -> bool:
    """True for ``aztecprotocol/aztec`` with any tag or digest, with or without a registry."""
    repo = image.split("@", 1)[0]
    # strip a tag (a ':' after the last '/'), keep a registry port
    last = repo.rsplit("/", 1)
    if ":" in last[-1]:
        repo = repo[: repo.rfind(":")]
    return repo == AZTEC_IMAGE or repo.endswith("/" + AZTEC_IMAGE)


def role_from_command(args: Iterable[str]) -> str | None:
    for arg in args:
        role = ROLE_FLAGS.get(arg.split("=", 1)[0])
        if role:
            return role
    return None


def detect_role(
    name: str,
    image: str = "",
    command: Iterable[str] = (),
    labels: Mapping[str, str] | None = None,
) -> tuple[str, str]:
    """Return ``(role, how)``: how is ``image+flag``, ``flag``, ``label`` or ``name``; role is
    ``other`` with how ``none`` when nothing identifies it."""
    flag_role = role_from_command(command)
    if flag_role and is_aztec_image(image):
        return flag_role, "image+flag"
    if flag_role:
        return flag_role, "flag"
    service = (labels or {}).get("com.docker.compose.service", "")
    if service in SERVICE_ROLES:
        return SERVICE_ROLES[service], "label"
    bare = name.lstrip("/")
    for pattern, role in _NAME_PATTERNS:
        if pattern.search(bare):
            return role, "name"
    return "other", "none"
