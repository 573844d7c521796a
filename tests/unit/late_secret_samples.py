"""Secrets a redactor can only learn from a log line (no config names them), generated fresh for
each run, with the forms in which a log or a file prints them BEFORE the line that teaches them.
Shared by the late-secret tests (unit: redact, analyze, the collect engine; docker: collect)."""

from __future__ import annotations

import base64
import json
import secrets
import string
from dataclasses import dataclass, field
from urllib.parse import quote


def _mixed(n: int, alphabet: str = string.ascii_letters + string.digits) -> str:
    while True:
        value = "".join(secrets.choice(alphabet) for _ in range(n))
        if sum(c.isdigit() for c in value) >= 3 and sum(c.isalpha() for c in value) >= 3:
            return value


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


@dataclass
class LateSecrets:
    jwt: str
    opaque: str  # a base64 bearer token with + / =
    hex_key: str  # a key in an RPC URL path
    urlsafe: str  # an x-api-key value (URL-safe alphabet: - and _)
    password: str  # a password with punctuation, in a URL's user:password@
    user: str = "op"
    near_misses: list[str] = field(default_factory=list)

    @property
    def basic(self) -> str:
        return base64.b64encode(f"{self.user}:{self.password}".encode()).decode()

    def learning_lines(self, ts: str = "2026-11-27T18:40:00.000000000Z ") -> list[str]:
        """Lines that teach the redactor each value (a header, a URL)."""
        return [
            f"{ts}[18:40:00.000] INFO: http request Authorization: Bearer {self.jwt}",
            f"{ts}[18:40:00.100] INFO: beacon request Authorization: Bearer {self.opaque}",
            f"{ts}[18:40:00.200] INFO: admin call x-api-key: {self.urlsafe}",
            f"{ts}[18:40:00.300] ERROR: archiver Error fetching from https://eth-mainnet.g.alchemy.com/v2/"
            f"{self.hex_key}: fetch failed",
            f"{ts}[18:40:00.400] INFO: l1 client https://{self.user}:{quote(self.password, safe='')}"
            "@rpc.example.org/ connected",
        ]

    def early_lines(self, ts: str = "2026-11-27T18:30:00.000000000Z ") -> list[str]:
        """Lines printing each value in another form, with nothing that names it a secret."""
        escaped = json.dumps(json.dumps({"cfg": self.password}))[1:-1]  # JSON inside a JSON string
        return [
            f"{ts}[18:30:00.000] INFO: session restored {self.jwt} ok",
            f"{ts}[18:30:00.100] INFO: upstream said {self.opaque} twice",
            f"{ts}[18:30:00.200] DEBUG: cache entry {json.dumps({'v': self.opaque})}",
            f"{ts}[18:30:00.300] INFO: provider {self.hex_key.upper()} selected",
            f"{ts}[18:30:00.400] INFO: provider 0x{self.hex_key} in use",
            f"{ts}[18:30:00.500] INFO: admin client {self.urlsafe} registered",
            f"{ts}[18:30:00.600] INFO: forwarded {quote(self.urlsafe + '/x', safe='')}",
            f"{ts}[18:30:00.700] INFO: dial as {self.password} now",
            f"{ts}[18:30:00.800] INFO: config {escaped}",
            f"{ts}[18:30:00.900] INFO: proxy said {quote(self.password, safe='')} back",
            f"{ts}[18:30:01.000] INFO: upstream header {self.basic} seen",
            f"{ts}[18:30:01.100] INFO: near misses {' '.join(self.near_misses)} Authorization x-api-key "
            "the Authorization header was missing",
        ]

    def forms(self) -> dict[str, str]:
        """What must not be found anywhere in the output (name -> text, compared case-insensitively)."""
        return {
            "jwt": self.jwt, "opaque token": self.opaque, "hex key": self.hex_key, "x-api-key": self.urlsafe,
            "password": self.password, "password url-encoded": quote(self.password, safe=""),
            "password json-escaped": json.dumps(self.password)[1:-1], "basic credential": self.basic,
        }


def make_late_secrets() -> LateSecrets:
    header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = _b64url(json.dumps({"sub": _mixed(12), "iat": secrets.randbelow(10**9)}).encode())
    jwt = f"{header}.{payload}.{_b64url(secrets.token_bytes(32))}"
    while True:
        opaque = base64.b64encode(secrets.token_bytes(30)).decode()
        if "+" in opaque or "/" in opaque:
            break
    opaque = opaque + "=="  # padding, as base64 tokens often carry
    urlsafe = _mixed(14) + "-" + _mixed(10, string.ascii_letters + string.digits + "_")
    password = _mixed(10) + '"&/!' + _mixed(6) + "+x"
    near = [
        "0x" + secrets.token_hex(32),  # a tx hash
        "0x" + secrets.token_hex(20),  # an address
        secrets.token_hex(32),  # a container id
        "sha256:" + secrets.token_hex(32),  # an image digest
    ]
    return LateSecrets(jwt, opaque, secrets.token_hex(32), urlsafe, password, near_misses=near)


def leaked(text: str, values: LateSecrets) -> list[str]:
    low = text.lower()
    return [name for name, form in values.forms().items() if form.lower() in low]
