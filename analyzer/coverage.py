"""What the input does not cover, said plainly (data gaps a checksum cannot show).

- A single log file has no container state, no Docker events, no host facts, and usually one
  role's logs only: each is named as missing.
- A ``docker logs`` file without one Aztec log record but with console lines is stdout only
  (``docker logs X > file``): Aztec's pino logs go to stderr.
- A log whose kept part starts when the incident was already under way (the collection window,
  or the log cap, cut what came before) cannot show the incident's start.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from nodediag.analyzer.model import DataGap, Facts, LoadedInput, LogFile, ParseStats
from nodediag.analyzer.parsing.formats import split_compose_prefix
from nodediag.analyzer.parsing.logs import parse_log_lines
from nodediag.analyzer.parsing.timestamps import parse_rfc3339
from nodediag.bundle.frames import FrameMemberReader
from nodediag.roles import detect_role

DEPLOYMENT_ROLES = ("prover-node", "prover-broker", "prover-agent")
ROLE_NAMES = {"prover-node": "the prover node", "prover-broker": "the proving broker",
              "prover-agent": "the proving agents"}
HEAD_BYTES = 256 * 1024  # read of each log to find its first time
HEAD_LINES = 2000
LATE_MARGIN = timedelta(seconds=60)  # an incident starting this close to a log's first line began before it
WINDOW_MARGIN = timedelta(seconds=120)
# console output that says why there is no log: a start-up refusal, docker's own error
_CONSOLE_ERROR = re.compile(r"\b(?:error|invalid|missing|required|usage|no such|fatal|denied|not found)\b", re.I)
LOG_KINDS = frozenset(("pino", "pino-json", "json-2024", "aztec-2024", "node-fatal"))


def coverage_gaps(inp: LoadedInput, facts: Facts, parse_stats: list[ParseStats], containers_seen: Iterable[str],
                  started: datetime | None) -> list[DataGap]:
    """The gaps of ``inp`` besides those its manifest states: see the module docstring.
    ``containers_seen``: the containers whose records were read; ``started``: when the incident
    began (the verdict's time), None when unknown."""
    gaps: list[DataGap] = []
    if inp.kind == "single-log":
        gaps += _single_log_gaps(inp, facts, containers_seen)
    if inp.kind in ("single-log", "manual-guide") or (inp.manifest or {}).get("converted_from"):
        gaps += _stdout_only_gaps(inp, facts, parse_stats)
    if started is not None and inp.manifest is not None:  # (a bundle: its window, cap and start times are exact)
        gaps += _late_start_gaps(inp, facts, started)
    return gaps


def _single_log_gaps(inp: LoadedInput, facts: Facts, containers_seen: Iterable[str]) -> list[DataGap]:
    name = inp.files[0] if inp.files else "the log"
    gaps = [
        DataGap("container state", "missing", "a single log file carries no container state: exit codes, "
                "restarts, OOM kills and health are unknown", [name]),
        DataGap("docker events", "missing", "no Docker events: kills, deaths and restarts are not seen", [name]),
        DataGap("host", "missing", "no host facts: memory, disks and the kernel's OOM kills are unknown", [name]),
        DataGap("configuration", "missing", "no .env or compose file: settings cannot be checked", [name]),
    ]
    seen = {log.role for log in facts.log_files}
    names = set(containers_seen)
    for log in facts.log_files:  # compose prefixes name the services of INFO lines too
        names.update(prefixed[0] for prefixed in map(split_compose_prefix, _head_lines(inp, log)) if prefixed)
    seen.update(detect_role(name)[0] for name in names if name)
    missing = [role for role in DEPLOYMENT_ROLES if role not in seen]
    if missing:
        gaps.append(DataGap("other roles", "missing", "no logs of " + ", ".join(ROLE_NAMES[r] for r in missing)
                            + ": a cause in another container cannot be seen; `nodediag collect` takes them all",
                            [name]))
    return gaps


def _stdout_only_gaps(inp: LoadedInput, facts: Facts, parse_stats: list[ParseStats]) -> list[DataGap]:
    logs = {log.path: log for log in facts.log_files}
    gaps = []
    for stats in parse_stats:
        if not stats.lines or stats.records == 0:
            continue
        if any(kind in LOG_KINDS for kind in stats.formats) or stats.unrecognized < stats.records:
            continue
        log = logs.get(stats.file)
        if log is not None and any(_CONSOLE_ERROR.search(line) for line in _head_lines(inp, log)):
            continue  # a start-up refusal or docker's own error: the console said why, before any log
        gaps.append(DataGap(
            "stderr", "missing",
            f"{stats.file} holds {stats.lines} line(s) of console output but no Aztec log record: it looks like "
            "`docker logs X > file`, which keeps stdout only, while Aztec logs to stderr; take both streams "
            "(`docker logs -t X > file 2>&1`, or `nodediag collect`)", [stats.file]))
    return gaps


def _late_start_gaps(inp: LoadedInput, facts: Facts, started: datetime) -> list[DataGap]:
    manifest: dict[str, Any] = inp.manifest or {}
    window = manifest.get("window") if isinstance(manifest.get("window"), dict) else {}
    since_text = (window or {}).get("since")
    since = parse_rfc3339(since_text) if isinstance(since_text, str) else None
    truncated = {f for s in manifest.get("sources") or [] if isinstance(s, dict) and s.get("status") == "truncated"
                 for f in s.get("files") or [] if isinstance(f, str)}
    started_at = {c.name: c.started_at for c in facts.containers}
    gaps = []
    for log in facts.log_files:
        first = first_time(inp, log)
        if first is None or started > first + LATE_MARGIN:
            continue
        ran_before = started_at.get(log.container)
        if log.path in truncated:
            why = "the log cap kept only its newest lines"
        elif ran_before is not None and ran_before < first - LATE_MARGIN:
            why = "the container was running before its first line kept (the collection window cut it)"
        elif ran_before is None and since is not None and first - since <= WINDOW_MARGIN:
            why = "it starts where the collection window starts"
        else:
            continue
        gaps.append(DataGap(
            "log window", "truncated",
            f"{log.path} starts at {first:%Y-%m-%d %H:%M:%SZ}, when the incident (from {started:%H:%M:%SZ}) was "
            f"already under way: {why}; what led to it is not in the input. Collect again with a longer "
            "--since (or a larger --log-cap)", [log.path]))
    return gaps


def _head_lines(inp: LoadedInput, log: LogFile) -> list[str]:
    frame = inp.own_frames.get(log.path)
    try:
        with FrameMemberReader(frame) if frame else open(Path(inp.root) / log.path, "rb") as handle:
            head = handle.read(HEAD_BYTES)
    except (OSError, ValueError):
        return []
    return head.decode("utf-8", "replace").split("\n")[:HEAD_LINES]


def first_time(inp: LoadedInput, log: LogFile) -> datetime | None:
    """The time of the first timestamped record of ``log`` (within its first lines), or None."""
    lines = _head_lines(inp, log)
    for record in parse_log_lines(lines, file=log.path, container=log.container, role=log.role):
        if record.time is not None:
            return record.time
    return None
