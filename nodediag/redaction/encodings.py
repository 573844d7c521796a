"""The forms in which a log or a file may print a learnt secret: each is propagated like the value.

A value is also searched for JSON-escaped (``\\"``, ``\\\\``, ``\\u0026``), URL-encoded and
URL-decoded. Case does not matter (literals are matched case-insensitively), so an upper-case
seed phrase needs no form of its own.
"""

from __future__ import annotations

import base64
import json
from urllib.parse import quote, quote_plus, unquote

_GO_HTML_ESCAPES = {"&": "\\u0026", "<": "\\u003c", ">": "\\u003e"}


def encoded_forms(value: str) -> list[str]:
    """The value, then its other printable forms (each different from the ones before)."""
    forms = [value]

    def add(form: str) -> None:
        if form and form not in forms:
            forms.append(form)

    escaped = json.dumps(value, ensure_ascii=False)[1:-1]
    add(escaped)
    add(json.dumps(value)[1:-1])  # non-ASCII as \\uXXXX
    if any(ch in value for ch in _GO_HTML_ESCAPES):
        html_safe = escaped
        for ch, esc in _GO_HTML_ESCAPES.items():
            html_safe = html_safe.replace(ch, esc)
        add(html_safe)
    add(quote(value, safe=""))
    add(quote_plus(value, safe=""))
    if "%" in value:  # a URL-encoded value (a password in a URL): the decoded one in its own forms too
        decoded = unquote(value)
        if decoded != value:
            for form in encoded_forms(decoded):
                add(form)
    return forms


def basic_auth_forms(user: str, password: str) -> list[str]:
    """The HTTP Basic credential of user:password as a client sends it (base64, with and without padding)."""
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return [token, token.rstrip("=")] if token.endswith("=") else [token]
