"""Structure-aware reading and rewriting of `.env` files, compose files and command lines.

Readers return (name, value) pairs; rewriters take a `decide(name, value) -> replacement | None`
callback and change only the value characters, so quotes, comments and layout survive.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import yaml

from nodediag.envfile import parse_env, unescape_double

from .names import secret_kind_for_name

Decide = Callable[[str, str, int], "str | None"]  # (name, value, line number) -> new value

_ENV_LINE = re.compile(r"^(?P<lead>[ \t]*(?:#[ \t]*)?(?:export[ \t]+)?)(?P<key>[A-Za-z_][A-Za-z0-9_.-]*)"
                       r"[ \t]*=[ \t]*(?P<rest>.*)$")
_MAP_LINE = re.compile(r"^(?P<lead>[ \t]*(?:-[ \t]+)?)(?P<q>[\"']?)(?P<key>[A-Za-z_][A-Za-z0-9_.-]*)(?P=q)"
                       r"[ \t]*:(?:[ \t]+(?P<rest>.*))?$")
_LIST_LINE = re.compile(r"^(?P<lead>[ \t]*-[ \t]+)(?P<q>[\"']?)(?P<key>[A-Za-z_][A-Za-z0-9_.-]*)=(?P<rest>.*)$")
_BLOCK_SCALAR = re.compile(r"[|>][0-9+-]*[ \t]*(?:#.*)?")


def value_span(rest: str, quote: str = "") -> tuple[int, int]:
    """(start, end) in rest of the value proper: inside quotes, or up to an inline ` #` comment."""
    if quote:  # the line's own quote (compose list item "KEY=value") closes the value
        end = rest.rfind(quote)
        return 0, end if end != -1 else len(rest)
    if rest[:1] in ("'", '"'):
        end = rest.find(rest[0], 1)
        while end != -1 and rest[0] == '"' and rest[end - 1] == "\\":  # an escaped quote: go on
            end = rest.find(rest[0], end + 1)
        return 1, end if end != -1 else len(rest)
    comment = re.search(r"[ \t]#", rest)
    end = comment.start() if comment else len(rest)
    return 0, len(rest[:end].rstrip())


def _unescape(value: str) -> str:
    return unescape_double(value)


def env_pairs(text: str) -> list[tuple[str, str]]:
    """KEY/value pairs of a .env file as compose reads it (nodediag.envfile), plus the commented
    ``# KEY=value`` lines: a commented-out key is still a secret."""
    return [(e.key, e.value) for e in parse_env(text, commented=True)]


def _rewrite_line(line: str, m: re.Match[str], decide: Decide, line_no: int, quote: str = "") -> str | None:
    rest = m.group("rest") or ""
    s, e = value_span(rest, quote)
    new = decide(m.group("key"), _unescape(rest[s:e]), line_no)
    if new is None:
        return None
    at = m.start("rest")
    return line[: at + s] + new + line[at + e:]


def rewrite_env_text(text: str, decide: Decide) -> str:
    """The .env text with each value ``decide`` replaces rewritten in place (quotes, comments,
    layout kept); a multi-line quoted value is replaced as a whole."""
    out: list[str] = []
    last = 0
    for entry in parse_env(text, commented=True):
        new = decide(entry.key, entry.value, entry.line)
        if new is None or entry.start < last:
            continue
        out.append(text[last:entry.start])
        out.append(new)
        last = entry.end
    if not out:
        return text
    out.append(text[last:])
    return "".join(out)


def rewrite_compose_text(text: str, decide: Decide) -> str:
    """Rewrite `KEY: value`, `- KEY=value` and `- "KEY=value"` lines (and `KEY: |` block scalars)."""
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        m = _LIST_LINE.match(line)
        if m:
            new = _rewrite_line(line, m, decide, i, quote=m.group("q"))
            out.append(line if new is None else new)
            continue
        m = _MAP_LINE.match(line)
        if not m:
            out.append(line)
            continue
        rest = m.group("rest") or ""
        if _BLOCK_SCALAR.fullmatch(rest.strip()):
            indent = len(line) - len(line.lstrip())
            body: list[str] = []
            while i < len(lines) and (not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > indent):
                body.append(lines[i])
                i += 1
            joined = "\n".join(b.strip() for b in body if b.strip())
            new = decide(m.group("key"), joined, i) if joined else None
            out.append(line)
            if new is None:
                out.extend(body)
            else:
                pad = next((b[: len(b) - len(b.lstrip())] for b in body if b.strip()), " " * (indent + 2))
                out.append(pad + new)
            continue
        new = _rewrite_line(line, m, decide, i) if rest else None
        out.append(line if new is None else new)
    return "\n".join(out)


def _walk(node: Any, pairs: list[tuple[str, str]], commands: list[list[str]]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            k = str(key)
            if k == "environment":
                pairs.extend(environment_pairs(value))
            elif k in ("command", "entrypoint", "healthcheck_test") and value is not None:
                commands.append(_as_args(value))
            elif isinstance(value, (str, int, float)) and not isinstance(value, bool):
                pairs.append((k, str(value)))
            if isinstance(value, (dict, list)) and k != "environment":
                _walk(value, pairs, commands)
    elif isinstance(node, list):
        for item in node:
            if isinstance(item, str) and "=" in item:
                name, _, value = item.partition("=")
                if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.-]*", name):
                    pairs.append((name, value))
            _walk(item, pairs, commands)


def _as_args(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value]
    return split_command(str(value))


def environment_pairs(env: Any) -> Iterator[tuple[str, str]]:
    """Pairs of a compose `environment:` (map or list of KEY=VALUE) or of docker inspect Config.Env."""
    if isinstance(env, dict):
        for key, value in env.items():
            if value is not None and not isinstance(value, (dict, list)):
                yield str(key), str(value)
    elif isinstance(env, (list, tuple)):
        for item in env:
            if isinstance(item, str) and "=" in item:
                key, _, value = item.partition("=")
                yield key, value


def compose_pairs(text: str) -> tuple[list[tuple[str, str]], list[list[str]]]:
    """(name/value pairs, command lines) of a compose file; line rules when it does not parse."""
    pairs: list[tuple[str, str]] = []
    commands: list[list[str]] = []
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError:
        doc = None
    if isinstance(doc, (dict, list)):
        _walk(doc, pairs, commands)
        return pairs, commands
    for line in text.splitlines():  # not YAML we can read: the line shapes still tell a lot
        for pattern in (_LIST_LINE, _MAP_LINE, _ENV_LINE):
            m = pattern.match(line)
            if m and m.group("rest"):
                s, e = value_span(m.group("rest"), m.groupdict().get("q") or "" if pattern is _LIST_LINE else "")
                pairs.append((m.group("key"), m.group("rest")[s:e]))
                break
    return pairs, commands


def split_command(command: str) -> list[str]:
    try:
        return shlex.split(command)
    except ValueError:
        return command.split()


def command_secrets(args: Sequence[str]) -> Iterable[tuple[int, str, str, int, int]]:
    """(arg index, kind, value, start, end) of every secret in a command line's arguments.

    Forms: `--name value`, `--name=value`, `NAME=value` (env prefixes); an argument holding spaces
    (e.g. `sh -c "..."`) is split like a shell would and searched too (reported with index -1).
    """
    for i, arg in enumerate(args):
        if arg.startswith("-") and "=" in arg:
            name, _, value = arg.partition("=")
            kind = secret_kind_for_name(name)
            if kind and value:
                yield i, kind, value, len(name) + 1, len(arg)
        elif arg.startswith("-") and secret_kind_for_name(arg) and i + 1 < len(args):
            value = args[i + 1]
            if value and not value.startswith("--"):
                yield i + 1, secret_kind_for_name(arg) or "secret", value, 0, len(value)
        elif re.match(r"[A-Za-z_][A-Za-z0-9_]*=", arg):
            name, _, value = arg.partition("=")
            kind = secret_kind_for_name(name)
            if kind and value:
                yield i, kind, value, len(name) + 1, len(arg)
        if " " in arg.strip():
            for _, kind, value, _, _ in command_secrets(split_command(arg)):
                yield -1, kind, value, 0, 0
