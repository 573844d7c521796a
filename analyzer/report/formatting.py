"""Small, pure text formatters shared by the HTML and Markdown reports."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any

_UNSAFE_ANCHOR = re.compile(r"[^A-Za-z0-9_.-]+")


def utc(moment: datetime) -> datetime:
    """``moment`` in UTC; a naive datetime is taken to be UTC already."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def _stamp(moment: datetime, sep: str) -> str:
    moment = utc(moment)
    text = moment.strftime(f"%Y-%m-%d{sep}%H:%M:%S")
    if moment.microsecond:
        text += f".{moment.microsecond // 1000:03d}"
    return text + "Z"


def iso_z(moment: datetime | None) -> str | None:
    """ISO 8601 in UTC with a ``Z`` suffix; milliseconds only when present."""
    return None if moment is None else _stamp(moment, "T")


def fmt_time(moment: datetime | None, empty: str = "—") -> str:
    """A human-readable UTC time: ``2026-11-27 18:30:05Z``."""
    return empty if moment is None else _stamp(moment, " ")


def fmt_bytes(value: float | int | None, empty: str = "—") -> str:
    """Binary units, three significant digits: ``15.6 GiB``."""
    if value is None:
        return empty
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(size) < 1024 or unit == "TiB":
            if unit == "B":
                return f"{int(size)} B"
            return f"{size:.1f} {unit}" if abs(size) < 100 else f"{size:.0f} {unit}"
        size /= 1024
    return f"{size:.0f} PiB"  # pragma: no cover - loop always returns


def fmt_duration(seconds: float | None, empty: str = "—") -> str:
    """``3d 4h``, ``5h 12m``, ``7m 3s``, ``42s``."""
    if seconds is None:
        return empty
    total = int(max(0, seconds))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    if minutes:
        return f"{minutes}m {secs}s"
    return f"{secs}s"


def line_range(start: int, end: int) -> str:
    return f"{start}" if end <= start else f"{start}-{end}"


def anchor_slug(text: str) -> str:
    """An HTML id fragment made of safe characters only."""
    return _UNSAFE_ANCHOR.sub("-", text).strip("-") or "item"


def plain_value(value: Any) -> str:
    """A finding detail or manifest value as one line of text."""
    if isinstance(value, datetime):
        return fmt_time(value)
    if isinstance(value, (list, tuple)):
        return ", ".join(plain_value(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}={plain_value(v)}" for k, v in value.items())
    if value is None:
        return "—"
    return str(value)


def parse_iso(text: Any) -> datetime | None:
    """A manifest timestamp (``...Z``) as an aware datetime, None when absent or unreadable."""
    if not isinstance(text, str) or not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return utc(moment)
