"""detect-secrets as a second opinion over config key/value pairs (never over logs: it is slow)."""

from __future__ import annotations

import math
from functools import lru_cache

_HIGH_ENTROPY_LIMITS = {  # detect-secrets' defaults, applied here because scan_line skips them
    "Base64 High Entropy String": ("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=", 4.5),
    "Hex High Entropy String": ("0123456789abcdefABCDEF", 3.0),
}
_MIN_HIT_LENGTH = 8


def _entropy(data: str, charset: str) -> float:
    result = 0.0
    for ch in set(data):
        if ch in charset:
            p = data.count(ch) / len(data)
            result -= p * math.log2(p)
    return result


@lru_cache(maxsize=4096)
def detect_secret_values(name: str, value: str) -> tuple[str, ...]:
    """Parts of value that detect-secrets calls secret when it reads `name="value"`.

    High-entropy hits count only when they are the whole value and pass the entropy limit (scan_line
    reports every fragment for ad-hoc use); URLs are left to the URL rules.
    """
    stripped = value.strip()
    if len(stripped) < _MIN_HIT_LENGTH or "://" in stripped or "\n" in stripped:
        return ()
    from detect_secrets.core.scan import scan_line
    from detect_secrets.settings import default_settings

    quote = "'" if '"' in stripped else '"'
    line = f"{name}={quote}{stripped}{quote}"
    hits: set[str] = set()
    with default_settings():
        for found in scan_line(line):
            secret = found.secret_value
            if not secret or len(secret) < _MIN_HIT_LENGTH or secret not in stripped:
                continue
            limit = _HIGH_ENTROPY_LIMITS.get(found.type)
            if limit is not None:
                charset, threshold = limit
                if secret != stripped.removeprefix("0x") and secret != stripped:
                    continue
                if _entropy(secret, charset) <= threshold:
                    continue
            hits.add(secret)
    return tuple(sorted(hits))
