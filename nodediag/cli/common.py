"""What every command shares: parsing durations and sizes, the one-line error, byte counts for
people, and the redaction options that collect and redact both take."""

from __future__ import annotations

import re
import sys
from datetime import timedelta
from pathlib import Path
from typing import NoReturn

import click

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?i?b?)?\s*$", re.I)


def parse_duration(text: str) -> timedelta:
    m = _DURATION.match(text)
    if not m:
        raise click.BadParameter(f"{text!r} is not a duration like 30m, 24h or 7d")
    n, unit = float(m.group(1)), m.group(2) or "s"
    return timedelta(seconds=n * {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[unit])


def parse_size(text: str) -> int:
    m = _SIZE.match(text)
    if not m:
        raise click.BadParameter(f"{text!r} is not a size like 50MB or 1GB")
    unit = (m.group(2) or "").lower().rstrip("b").rstrip("i")
    size = int(float(m.group(1)) * {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}[unit])
    if size <= 0:
        raise click.BadParameter("must be more than 0")
    return size


def fail(message: str, code: int = 2) -> NoReturn:
    click.echo(f"nodediag: error: {message}", err=True)
    sys.exit(code)


def human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


def operator_rules(secrets: tuple[str, ...], secrets_files: tuple[Path, ...],
                   patterns: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Check --secret / --secrets-file / --pattern; return (secrets, patterns) or fail in one line."""
    from nodediag.collector.secret_files import read_operator_secrets
    from nodediag.redaction.literals import MIN_LITERAL_LENGTH

    values = [s.strip() for s in secrets]
    for path in secrets_files:
        try:
            values.extend(read_operator_secrets(path))
        except FileNotFoundError:
            fail(f"--secrets-file {path} does not exist")
        except IsADirectoryError:
            fail(f"--secrets-file {path} is a folder; pass a file with one secret per line")
        except OSError as exc:
            fail(f"--secrets-file {path} cannot be read: {exc.strerror or exc}")
    for value in values:
        if len(value.removeprefix("0x")) < MIN_LITERAL_LENGTH:
            fail(f"a secret given with --secret/--secrets-file is shorter than {MIN_LITERAL_LENGTH} characters: "
                 "too short to search for without destroying the logs")
    for pattern in patterns:
        try:
            compiled = re.compile(pattern)
        except re.error as exc:
            fail(f"--pattern {pattern!r} is not a valid regular expression ({exc})")
        if compiled.search("") is not None:
            fail(f"--pattern {pattern!r} matches the empty string; give a pattern that matches the secret itself")
    return tuple(dict.fromkeys(v for v in values if v)), tuple(patterns)


def redaction_options(func):
    """--secret, --secrets-file, --pattern and --redact-ips, shared by collect and redact."""
    func = click.option("--redact-ips", is_flag=True,
                        help="Also replace public IP addresses by pseudonyms (private ranges are kept).")(func)
    func = click.option("--pattern", "patterns", multiple=True, metavar="REGEX",
                        help="A regular expression whose matches are secrets (group 1 when it has a group). "
                             "Repeatable.")(func)
    func = click.option("--secrets-file", "secrets_files", multiple=True, type=click.Path(path_type=Path),
                        help="A file with one secret per line (# comments) to remove everywhere. Repeatable.")(func)
    func = click.option("--secret", "secrets", multiple=True, metavar="VALUE",
                        help="A value to remove everywhere (any case, with or without 0x). Repeatable.")(func)
    return func
