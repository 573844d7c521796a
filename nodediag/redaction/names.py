"""Key-name rules: which config keys, flags and query parameters hold secrets.

A name is secret when, lower-cased and with `-`, `_`, `.` and spaces removed, it ENDS with one of the
suffixes below. So `PROVER_PUBLISHER_PRIVATE_KEY`, `l1PrivateKey` and `--l1-private-key` are secret;
`secretHash` (ends in "hash"), `PROVER_ID` and `TOKEN_ADDRESS` (ends in "address": a contract
address is public) are not.

Two extra rules keep public values visible and catch keys under other names:
- a value shaped exactly like an Ethereum address (`0x` + 40 hex) is public, never a secret;
- a value of one or more `0x` + 64 hex items under a name that has the word KEY or KEYS (and not
  PUBLIC), e.g. `VALIDATOR_KEYS`, is a private key.
"""

from __future__ import annotations

import re

_SUFFIX_KINDS: tuple[tuple[str, str], ...] = (
    ("privatekeys", "private_key"),
    ("privatekey", "private_key"),
    ("secret", "secret"),
    ("password", "password"),
    ("passwd", "password"),
    ("passphrase", "password"),
    ("token", "token"),
    ("apikeys", "api_key"),
    ("apikey", "api_key"),
    ("accesskey", "api_key"),
    ("mnemonic", "mnemonic"),
    ("credentials", "secret"),
    ("credential", "secret"),
)

_SEPARATORS = re.compile(r"[-_.\s]+")
_CAMEL_WORDS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")
_ADDRESS = re.compile(r"0[xX][0-9a-fA-F]{40}")
_HEX_KEY_LIST = re.compile(r"(?:0[xX])?[0-9a-fA-F]{64}(?:\s*,\s*(?:0[xX])?[0-9a-fA-F]{64})*")
_NOT_KEY_LAST_WORDS = frozenset({"hash", "hashes", "digest", "address", "addresses", "id", "ids", "file", "path",
                                 "dir", "directory", "recipient", "commit", "root", "roots", "tx", "txs", "sha",
                                 "coinbase", "header", "headers", "name", "names", "enr", "enrs"})
# A name holding one of these words says its value is public (FEE_RECIPIENT, LAST_PROVEN_TX_HASH,
# GIT_COMMIT_SHA): the second opinion's entropy guess does not overrule it.
_PUBLIC_WORDS = frozenset({"recipient", "address", "addresses", "hash", "hashes", "commit", "root", "digest",
                           "coinbase"})
_REFERENCE = re.compile(r"\$\{?[A-Za-z_][A-Za-z0-9_]*\}?")

#: Query-string parameters whose value is a credential, and the kind it gets.
QUERY_PARAM_KINDS: dict[str, str] = {
    "key": "api_key", "apikey": "api_key", "api_key": "api_key", "api-key": "api_key",
    "x-api-key": "api_key", "dkey": "api_key", "access_key": "api_key",
    "token": "token", "access_token": "token", "accesstoken": "token", "auth": "token",
    "auth_token": "token", "authorization": "token", "id_token": "token", "refresh_token": "token",
    "jwt": "token", "sig": "token", "signature": "token",
    "secret": "secret", "client_secret": "secret",
    "password": "password", "passwd": "password", "pass": "password", "pwd": "password",
}


def secret_kind_for_name(name: str) -> str | None:
    """The redaction kind for a secret key/flag name, or None when the name is not secret."""
    flat = _SEPARATORS.sub("", name.strip().lstrip("-").lower())
    for suffix, kind in _SUFFIX_KINDS:
        if flat.endswith(suffix):
            return kind
    return None


def _name_words(name: str) -> list[str]:
    words: list[str] = []
    for part in _SEPARATORS.split(name.strip().lstrip("-")):
        words.extend(w.lower() for w in _CAMEL_WORDS.findall(part))
    return words


def secret_kind_for_pair(name: str, value: str) -> str | None:
    """Kind for a config name/value pair, or None when the value may be shown.

    Empty values, `${VAR}` references and Ethereum addresses are never secret.
    """
    stripped = value.strip()
    if not stripped or _REFERENCE.fullmatch(stripped) or _ADDRESS.fullmatch(stripped):
        return None
    kind = secret_kind_for_name(name)
    if kind is not None:
        return kind
    words = _name_words(name)
    if words and words[-1] in _NOT_KEY_LAST_WORDS:  # AZTEC_ADMIN_API_KEY_HASH holds a hash of a key
        return None
    if ("key" in words or "keys" in words) and "public" not in words and _HEX_KEY_LIST.fullmatch(stripped):
        return "private_key"
    return None


def names_a_digest(name: str) -> bool:
    """True for names like AZTEC_ADMIN_API_KEY_HASH or KEY_STORE_PATH: about a key, not the key;
    and for names that say the value is public (FEE_RECIPIENT, LAST_PROVEN_TX, GIT_COMMIT)."""
    words = _name_words(name)
    return bool(words) and (words[-1] in _NOT_KEY_LAST_WORDS or not _PUBLIC_WORDS.isdisjoint(words))


def names_headers(name: str) -> bool:
    """True for names of HTTP header settings (OTEL_EXPORTER_OTLP_HEADERS, ..._API_KEY_HEADERS)."""
    words = _name_words(name)
    return bool(words) and words[-1] in ("header", "headers")


def split_value_list(value: str) -> list[str]:
    """The items of a comma-separated secret value (e.g. several keys), or [] when not a list."""
    if "," not in value:
        return []
    parts = [p.strip() for p in value.split(",")]
    parts = [p for p in parts if p]
    if len(parts) < 2 or any(ch.isspace() for p in parts for ch in p):  # prose, not a list
        return []
    return parts


def is_public_value(value: str) -> bool:
    """True for values shaped exactly like a public identifier (an Ethereum address)."""
    return bool(_ADDRESS.fullmatch(value.strip()))
