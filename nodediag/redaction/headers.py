"""HTTP headers that carry credentials, wherever they are written: in log text (`Name: value`),
in JSON (`"Name":"value"`, also JSON-escaped inside a string), and in header lists of env values
(`OTEL_EXPORTER_OTLP_HEADERS=Authorization=Bearer <token>,x-honeycomb-team=<key>`).

Only values are replaced, never a header name: `Authorization: Bearer <token>` keeps its scheme,
`Cookie: a=<v>; b=<v>` its cookie names, `Set-Cookie` its attributes (Path, Expires ...). Headers
named `*-api-key`, `*-token`, `*-secret` are secret names (names.py) and go through the
assignment pass; this pass adds Authorization with any scheme, Proxy-Authorization, Cookie and
Set-Cookie, and the headers an operator names in ``L1_CONSENSUS_HOST_API_KEY_HEADERS``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from urllib.parse import unquote

from .names import secret_kind_for_name

Placeholder = Callable[[str, str], str]
Recorder = Callable[[str, int], None]

#: Lower-case words every match of this pass holds (the gate in gates.py looks for them first;
#: "ookie" and not "cookie": it then shares an automaton with "mnemonic" without overlapping it).
HEADER_OPENINGS = ("authorization", "ookie")

_SCHEMES = ("bearer", "basic", "token", "digest", "apikey", "api-key", "key", "negotiate", "ntlm", "hmac",
            "dpop", "sharedkey", "signature", "aws4-hmac-sha256", "gosdk", "splunk", "otlp")
_SEP = r"(?P<sep>\\?[\"']?[ \t]*[:=][ \t]*\\?[\"']?)"
_AUTH = re.compile(
    r"(?<![A-Za-z0-9_-])(?P<name>(?:proxy-)?authorization)" + _SEP
    + r"(?:(?P<scheme>" + "|".join(re.escape(s) for s in _SCHEMES) + r")(?:[ \t]+|%20|\+))?"
    r"(?P<value>[A-Za-z0-9._~+/=:%!#$*@^|-]+)",
    re.IGNORECASE)
_COOKIE = re.compile(r"(?<![A-Za-z0-9_-])(?P<name>set-cookie|cookie)" + _SEP + r"(?P<body>[^\n\"'\\]*)",
                     re.IGNORECASE)
_COOKIE_PAIR = re.compile(r"(?P<name>[^=;,\s]+)=(?P<value>[^;,\s]*)")
_COOKIE_ATTRIBUTES = frozenset({"path", "domain", "expires", "max-age", "samesite", "secure", "httponly",
                                "priority", "partitioned", "version", "comment"})
_PLACEHOLDER_START = "[REDACTED:"
_CREDENTIAL_WORDS = ("key", "token", "secret", "auth", "password", "passwd", "session", "signature", "team",
                     "cookie", "credential")


def _credential_value(value: str, with_scheme: bool) -> bool:
    """A value worth hiding: not prose. After a scheme anything of 6+ characters; alone, it must
    not be a plain word (``Authorization: required``)."""
    if len(value) < 6 or value.startswith(_PLACEHOLDER_START) or value.lower() in _SCHEMES:
        return False
    return with_scheme or not value.isalpha()


def is_credential_header(name: str, custom: Iterable[str] = ()) -> bool:
    """True for a header whose value is a credential."""
    low = name.strip().lower()
    if low in ("authorization", "proxy-authorization", "cookie", "set-cookie") or low in custom:
        return True
    return secret_kind_for_name(low) is not None or any(word in low for word in _CREDENTIAL_WORDS)


def header_list_secrets(value: str, custom: Iterable[str] = ()) -> list[tuple[str, str]]:
    """(kind, secret) in a header list such as OTEL_EXPORTER_OTLP_HEADERS (`name=value,...`,
    values URL-encoded); the value of an Authorization header without its scheme."""
    found: list[tuple[str, str]] = []
    custom = {c.lower() for c in custom}
    for item in value.split(","):
        name, eq, raw = item.partition("=")
        raw = raw.strip()
        if not eq or not raw or not is_credential_header(name, custom):
            continue
        for form in dict.fromkeys((raw, unquote(raw))):
            secret = form
            scheme, space, rest = form.partition(" ")
            if space and scheme.lower() in _SCHEMES and rest.strip():
                secret = rest.strip()
            found.append(("token" if name.strip().lower().endswith("authorization") else
                          secret_kind_for_name(name) or "api_key", secret))
    return found


def header_names(value: str) -> list[str]:
    """The header names in a list such as L1_CONSENSUS_HOST_API_KEY_HEADERS (`X-a,X-b`)."""
    return [n.strip() for n in value.split(",") if re.fullmatch(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+", n.strip())]


def _custom_pattern(names: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile(r"(?<![A-Za-z0-9_-])(?P<name>" + "|".join(re.escape(n) for n in names) + r")" + _SEP
                      + r"(?P<value>[^\s\"',;}\]\\]+)", re.IGNORECASE)


class HeaderPass:
    """The pass itself, with the operator's own credential headers (learnt from config)."""

    def __init__(self, learn: Callable[[str, str], None] | None = None) -> None:
        """``learn(value, kind)``: called with each credential found, to propagate it."""
        self.custom: tuple[str, ...] = ()
        self._custom_re: re.Pattern[str] | None = None
        self.learn = learn

    def add_names(self, names: Iterable[str]) -> None:
        new = tuple(dict.fromkeys((*self.custom, *(n.lower() for n in names if n))))
        if new != self.custom:
            self.custom = new
            self._custom_re = _custom_pattern(new) if new else None

    def possible(self, low: str, present: set[str] | None) -> bool:
        """Whether text (lower-cased ``low``) may hold a header this pass redacts."""
        if present is None or "header" in present:
            return True
        return any(name in low for name in self.custom)

    def redact(self, text: str, placeholder: Placeholder, record: Recorder) -> str:
        low = text.lower()
        learnt: list[tuple[str, str]] = []

        def found(kind: str, at: int, value: str) -> None:
            record(kind, at)
            learnt.append((value, kind))

        if "authorization" in low:
            text = _AUTH.sub(lambda m: self._auth(m, placeholder, found), text)
        if "cookie" in low:
            text = _COOKIE.sub(lambda m: _cookie(m, placeholder, found), text)
        if self._custom_re is not None and any(name in low for name in self.custom):
            text = self._custom_re.sub(lambda m: _value(m, "api_key", placeholder, found), text)
        if self.learn is not None:
            for value, kind in learnt:
                if len(value) >= 12:  # long enough to be a credential, not a flag value
                    self.learn(value, kind)
        return text

    @staticmethod
    def _auth(m: re.Match[str], placeholder: Placeholder, found: Found) -> str:
        value = m.group("value")
        if not _credential_value(value, m.group("scheme") is not None):
            return m.group()
        return _value(m, "token", placeholder, found)


Found = Callable[[str, int, str], None]  # (kind, position, value)


def _value(m: re.Match[str], kind: str, placeholder: Placeholder, found: Found) -> str:
    value = m.group("value")
    if value.startswith((_PLACEHOLDER_START, "\x00")) or len(value) < 4:
        return m.group()
    found(kind, m.start(), value)
    start, end = m.span("value")
    return m.group()[: start - m.start()] + placeholder(kind, value) + m.group()[end - m.start():]


def _cookie(m: re.Match[str], placeholder: Placeholder, found: Found) -> str:
    body = m.group("body")
    if "=" not in body:
        return m.group()

    def repl(p: re.Match[str]) -> str:
        name, value = p.group("name"), p.group("value")
        if not any(c.isalnum() for c in value) or name.lower() in _COOKIE_ATTRIBUTES \
                or value.startswith((_PLACEHOLDER_START, "\x00")):
            return p.group()
        found("token", m.start(), value)
        return f"{name}={placeholder('token', value)}"

    new_body = _COOKIE_PAIR.sub(repl, body)
    return m.group()[: m.start("body") - m.start()] + new_body
