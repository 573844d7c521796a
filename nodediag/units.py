"""Byte counts for people: what every command and the bundle writer's messages print."""

from __future__ import annotations


def human(n: float) -> str:
    """``n`` bytes as B, KB, MB or GB (1024-based), one decimal above bytes."""
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"
