"""What every command shares: parsing durations and sizes, the one-line error, byte counts for
people, and the redaction options that collect and redact both take."""

from __future__ import annotations

import functools
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from nodediag.bundle.limits import Limits

if TYPE_CHECKING:
    from nodediag.redaction.host_key import RedactionKey

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
    """One line on stderr and exit ``code``; control characters from untrusted input are shown
    as escapes (a message may quote a file name or a field from a bundle)."""
    from nodediag.bundle.terminal import visible

    click.echo(f"nodediag: error: {visible(message)}", err=True)
    sys.exit(code)


def operator_rules(secrets: tuple[str, ...], secrets_files: tuple[Path, ...],
                   patterns: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Check --secret / --secrets-file / --pattern; return (secrets, patterns) or fail in one line."""
    import stat

    from nodediag.collector.secret_files import read_operator_secrets
    from nodediag.redaction.literals import MIN_LITERAL_LENGTH

    values = [s.strip() for s in secrets]
    for path in secrets_files:
        try:
            mode = path.stat().st_mode
        except OSError:
            mode = stat.S_IFREG  # (the read below says what is wrong)
        if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):  # a FIFO would block, a device never end
            fail(f"--secrets-file {path} is not a regular file; pass a file with one secret per line")
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


def limit_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """--max-bytes, --max-files, --max-header-bytes, --max-json-bytes and --max-line-bytes: the caps
    on untrusted input (nodediag/bundle/limits.py), shared by verify, inspect, redact and analyze.
    The command receives them as one ``limits`` argument."""
    from nodediag.bundle.limits import DEFAULT_LIMITS

    def size_option(name: str, default: int, text: str) -> Callable[[Any], Any]:
        return click.option(name, default=human_size(default), show_default=True, metavar="SIZE", help=text)

    options = [
        size_option("--max-bytes", DEFAULT_LIMITS.max_bytes, "Refuse inputs whose files expand to more than this."),
        click.option("--max-files", default=DEFAULT_LIMITS.max_files, show_default=True, type=click.IntRange(1),
                     help="Refuse inputs with more files (archive members) than this."),
        size_option("--max-header-bytes", DEFAULT_LIMITS.max_header_bytes,
                    "Refuse a tar archive with a pax or long-name header larger than this."),
        size_option("--max-json-bytes", DEFAULT_LIMITS.max_json_bytes,
                    "Refuse a manifest (or skip a JSON fact file) larger than this."),
        size_option("--max-line-bytes", DEFAULT_LIMITS.max_line_bytes,
                    "Cut log lines longer than this (the cut is marked; the kept part is still redacted)."),
    ]

    @functools.wraps(func)
    def wrapper(*args: Any, max_bytes: str, max_files: int, max_header_bytes: str, max_json_bytes: str,
                max_line_bytes: str, **kwargs: Any) -> Any:
        try:
            limits = Limits(max_bytes=parse_size(max_bytes), max_files=max_files,
                            max_header_bytes=parse_size(max_header_bytes), max_json_bytes=parse_size(max_json_bytes),
                            max_json_depth=DEFAULT_LIMITS.max_json_depth, max_line_bytes=parse_size(max_line_bytes))
        except click.BadParameter as exc:
            fail(f"a --max-... option: {exc}")
        return func(*args, limits=limits, **kwargs)

    for option in reversed(options):
        wrapper = option(wrapper)
    return wrapper


def human_size(n: int) -> str:
    """A size as parse_size reads it back: 4GB, 1MB, 512KB, 100B."""
    for unit, factor in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if n % factor == 0:
            return f"{n // factor}{unit}"
    return f"{n}B"


def key_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """--redaction-key FILE and --fresh-key, shared by collect, watch and redact. The command
    receives one ``key_choice`` argument and calls its ``load()`` when it is about to redact (a dry
    run creates no key file); a key file that cannot be used is a one-line warning and a fresh key,
    never an error."""

    @functools.wraps(func)
    def wrapper(*args: Any, redaction_key_file: Path | None, fresh_key: bool, **kwargs: Any) -> Any:
        if redaction_key_file is not None and fresh_key:
            fail("--redaction-key and --fresh-key cannot be used together: pass one of them")
        return func(*args, key_choice=KeyChoice(redaction_key_file, fresh_key), **kwargs)

    wrapper = click.option(
        "--fresh-key", is_flag=True,
        help="Tag secrets with a new random key for this run only: its [REDACTED:...] tags match no other "
             "bundle (by default the host's key file is used, so bundles of this host can be compared).")(wrapper)
    wrapper = click.option(
        "--redaction-key", "redaction_key_file", type=click.Path(path_type=Path), metavar="FILE",
        help="The key file that tags secrets (created 0600 when missing). Default: $XDG_STATE_HOME/nodediag/"
             "redaction.key, /var/lib/nodediag/redaction.key for root, else ~/.local/state/nodediag/"
             "redaction.key. It stays on this host; bundles record only its id.")(wrapper)
    return wrapper


@dataclass(frozen=True)
class KeyChoice:
    """What --redaction-key / --fresh-key asked for."""

    path: Path | None = None
    fresh: bool = False

    def load(self) -> RedactionKey:
        """The key (the warning, if the key file cannot be used, printed on stderr)."""
        from nodediag.bundle.terminal import visible
        from nodediag.redaction.host_key import load_key

        key = load_key(self.path, fresh=self.fresh)
        if key.warning:
            click.echo(f"nodediag: warning: {visible(key.warning)}", err=True)
        return key
