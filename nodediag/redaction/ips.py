"""Public IP addresses replaced by consistent pseudonyms (``--redact-ips``).

Private, loopback, link-local, shared (CGNAT), multicast and reserved ranges stay: they say how the
deployment is wired and identify no one. A public address becomes ``[REDACTED:ip#<tag>]``, the
same tag for the same address everywhere in one bundle.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable

Placeholder = Callable[[str, str], str]
Recorder = Callable[[str, int], None]

_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w]|\.\d)")
# An IPv6 candidate: hex groups with at least two colons; ipaddress decides.
_IPV6 = re.compile(r"(?<![\w:.])(?:[0-9A-Fa-f]{1,4}:|:)(?::|[0-9A-Fa-f]{1,4}:){1,7}(?:[0-9A-Fa-f]{1,4}|:)?(?![\w:])")


def is_public_ip(text: str) -> bool:
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return bool(ip.is_global) and not ip.is_multicast


def redact_public_ips(text: str, placeholder: Placeholder, record: Recorder) -> str:
    def repl(m: re.Match[str]) -> str:
        value = m.group()
        if not is_public_ip(value):
            return value
        record("ip", m.start())
        return placeholder("ip", value)

    if "." in text:
        text = _IPV4.sub(repl, text)
    if "::" in text or text.count(":") >= 7:
        text = _IPV6.sub(repl, text)
    return text
