"""Lines around the evidence, read back from the input once the analysis is done.

- Each evidence excerpt gets ``CONTEXT_LINES`` lines before and after it (as ``grep -B/-A``),
  within the first ``CONTEXT_BUDGET`` bytes of its log.
- Each container exit in the timeline gets the container's last log lines before it.

The scan keeps no records: each log with something to show is read once more, a block at a time;
a block holding nothing wanted costs one newline count (or one timestamp compare).
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import BinaryIO

from nodediag.analyzer.model import Evidence, Facts, Finding, LoadedInput, TimelineEntry
from nodediag.analyzer.parsing.timestamps import parse_rfc3339
from nodediag.bundle.frames import FrameMemberReader

CONTEXT_LINES = 3  # before and after an excerpt
# bytes of a log read again for context: an excerpt further in (the latest hit of a rule in a
# very large log) is shown without it, so that the second read stays bounded
CONTEXT_BUDGET = 32 * 2**20
LAST_LINES = 8  # shown before a container's exit
MAX_EXITS = 5  # per container, the latest
MAX_LINE = 400  # characters of a context line kept
BLOCK = 4 * 2**20
MAX_READERS = 4  # files read at once
EXIT_ACTIONS = frozenset(("die", "exit"))  # timeline events that end a container's run
SAME_EXIT = timedelta(seconds=5)  # a die event and the state's FinishedAt this close are one exit


def _open(inp: LoadedInput, rel: str) -> BinaryIO:
    frame = inp.own_frames.get(rel)
    if frame is not None:
        return FrameMemberReader(frame)  # type: ignore[return-value]
    root = Path(inp.root).resolve()
    path = (root / rel).resolve()
    if root not in path.parents:
        raise OSError(f"{rel} is outside the input")
    return open(path, "rb")


def _blocks(handle: BinaryIO) -> Iterator[bytes]:
    """Blocks of whole lines (the last may lack its newline)."""
    rest = b""
    while True:
        chunk = handle.read(BLOCK)
        if not chunk:
            if rest:
                yield rest
            return
        data = rest + chunk
        cut = data.rfind(b"\n") + 1
        if cut == 0:
            rest = data
            continue
        yield data[:cut]
        rest = data[cut:]


def _text(raw: bytes) -> str:
    text = raw.decode("utf-8", "replace").rstrip("\r\n")
    return text if len(text) <= MAX_LINE else text[:MAX_LINE] + " …"


def read_lines(handle: BinaryIO, wanted: Iterable[int], max_bytes: int | None = None) -> dict[int, str]:
    """The lines numbered ``wanted`` (1-based) of ``handle``, those that exist (within its first
    ``max_bytes`` bytes, when given). A block that holds none of them costs one newline count;
    reading stops after the last one."""
    numbers = sorted(set(n for n in wanted if n > 0))
    found: dict[int, str] = {}
    if not numbers:
        return found
    lineno = 0  # complete lines before ``carry``
    carry = b""  # the start of the line that continues into the next chunk
    index = 0  # numbers[index]: the next line wanted
    budget = max_bytes if max_bytes is not None else -1
    while index < len(numbers) and budget != 0:
        chunk = handle.read(BLOCK if budget < 0 else min(BLOCK, budget))
        budget = budget - len(chunk) if budget > 0 else budget
        if not chunk:
            if carry and numbers[index] == lineno + 1:
                found[lineno + 1] = _text(carry)
            break
        count = chunk.count(b"\n")
        if numbers[index] > lineno + count:  # no wanted line ends in this chunk
            cut = chunk.rfind(b"\n")
            carry = chunk[cut + 1:] if cut >= 0 else carry + chunk
            lineno += count
            continue
        lines = (carry + chunk).split(b"\n")
        carry = lines.pop()
        while index < len(numbers) and numbers[index] <= lineno + count:
            found[numbers[index]] = _text(lines[numbers[index] - lineno - 1])
            index += 1
        lineno += count
    return found


def add_context(findings: list[Finding], inp: LoadedInput, lines: int = CONTEXT_LINES) -> None:
    """Fill each excerpt's ``before`` and ``after`` with up to ``lines`` lines of its file."""
    by_file: dict[str, list[Evidence]] = {}
    present = set(inp.files) | set(inp.own_frames)
    for finding in findings:
        for evidence in finding.evidence:
            if evidence.file and evidence.line_start > 0 and evidence.file in present:
                by_file.setdefault(evidence.file, []).append(evidence)
    def fetch(item: tuple[str, list[Evidence]]) -> tuple[list[Evidence], dict[int, str]]:
        rel, excerpts = item
        wanted: set[int] = set()
        for ev in excerpts:
            wanted.update(range(max(1, ev.line_start - lines), ev.line_start))
            wanted.update(range(ev.line_end + 1, ev.line_end + lines + 1))
        try:
            with _open(inp, rel) as handle:
                return excerpts, read_lines(handle, wanted, CONTEXT_BUDGET)
        except (OSError, ValueError):
            return excerpts, {}

    # files read side by side: decompressing a bundle's frames leaves the interpreter lock free
    with ThreadPoolExecutor(max_workers=max(1, min(MAX_READERS, len(by_file)))) as pool:
        for excerpts, got in pool.map(fetch, by_file.items()):
            for ev in excerpts:
                ev.before = [got[n] for n in range(max(1, ev.line_start - lines), ev.line_start) if n in got]
                ev.after = [got[n] for n in range(ev.line_end + 1, ev.line_end + lines + 1) if n in got]


# --- the last lines before each exit -------------------------------------------------------------

def _line_time(line: bytes) -> datetime | None:
    """The docker timestamp at the start of ``line`` (``docker logs -t``), or None."""
    if len(line) < 20 or not line[:4].isdigit() or line[4:5] != b"-":
        return None
    space = line.find(b" ", 19, 40)
    return parse_rfc3339(line[:space].decode("ascii", "replace")) if space > 0 else None


def lines_before(handle: BinaryIO, times: list[datetime], count: int = LAST_LINES) -> list[list[tuple[int, str]]]:
    """For each of ``times`` (ascending), the last ``count`` lines of ``handle`` logged at or
    before it, as (line number, text); lines without a docker timestamp take their predecessor's."""
    result: list[list[tuple[int, str]]] = [[] for _ in times]
    tail: deque[tuple[int, bytes]] = deque(maxlen=count)
    lineno = 0
    index = 0
    for block in _blocks(handle):
        if index >= len(times):
            break
        last_line = block.rstrip(b"\n").rsplit(b"\n", 1)[-1]
        last_time = _line_time(last_line)
        lines = block.split(b"\n")
        if block.endswith(b"\n"):
            lines.pop()
        if last_time is not None and last_time <= times[index]:  # the whole block comes before
            start = max(0, len(lines) - count)
            tail.extend((lineno + i + 1, lines[i]) for i in range(start, len(lines)))
            lineno += len(lines)
            continue
        for offset, line in enumerate(lines):
            when = _line_time(line)
            while when is not None and index < len(times) and when > times[index]:
                result[index] = [(n, _text(text)) for n, text in tail]
                index += 1
            tail.append((lineno + offset + 1, line))
        lineno += len(lines)
    while index < len(times):
        result[index] = [(n, _text(text)) for n, text in tail]
        index += 1
    return result


def _exit_entries(entries: list[TimelineEntry]) -> dict[str, list[TimelineEntry]]:
    """Per container, its exits in the timeline (the state's exit, and ``die`` events that are
    not the same exit), the latest MAX_EXITS, ascending."""
    by_container: dict[str, list[TimelineEntry]] = {}
    for entry in sorted(entries, key=lambda e: e.time):
        if entry.kind != "event" or not entry.container:
            continue
        if entry.action not in EXIT_ACTIONS:
            continue
        mine = by_container.setdefault(entry.container, [])
        if mine and abs(entry.time - mine[-1].time) <= SAME_EXIT:
            continue  # one exit: the die event and the state say it twice
        mine.append(entry)
    return {name: exits[-MAX_EXITS:] for name, exits in by_container.items()}


def add_last_lines(entries: list[TimelineEntry], facts: Facts, inp: LoadedInput, count: int = LAST_LINES) -> None:
    """Fill ``last_lines`` of each container exit in ``entries`` with the container's last log
    lines before it."""
    logs = {log.container: log.path for log in facts.log_files if log.container}
    for name, exits in _exit_entries(entries).items():
        rel = logs.get(name)
        if rel is None:
            continue
        try:
            with _open(inp, rel) as handle:
                found = lines_before(handle, [e.time for e in exits], count)
        except (OSError, ValueError):
            continue
        for entry, lines in zip(exits, found, strict=True):
            entry.last_lines = lines
            entry.file = entry.file or rel


# --- evidence that names a file the input does not have ------------------------------------------

MAX_FACT_FILE = 1024 * 1024
_CONTAINER_PATH = re.compile(r"containers/([^/]+)/")


def _fact_texts(inp: LoadedInput) -> dict[str, list[str]]:
    """The input's small text files other than logs (``docker ps``, ``free``, ``df`` output,
    configuration), as lines."""
    texts: dict[str, list[str]] = {}
    for rel in sorted(inp.files):
        if rel.endswith(".log") or rel in inp.own_frames or rel.endswith("logs.txt"):
            continue
        try:
            path = Path(inp.root) / rel
            if path.stat().st_size > MAX_FACT_FILE:
                continue
            texts[rel] = path.read_bytes().decode("utf-8", "replace").splitlines()
        except OSError:
            continue
    return texts


_ASSIGNED = re.compile(r"(?:^|\s)(?:[\w-]+\.)*([A-Za-z_][\w-]*)\s*=\s*(\S+)")
_WORD = re.compile(r"[A-Za-z_][\w]*_[\w]+|[\w.-]+://\S+|/[\w./-]+")


def _keys(evidence_file: str, container: str, lines: list[str]) -> list[str]:
    """What to look for, most telling first: what the fact says (a URL, a path, the JSON key
    it was read from), then the container's name."""
    text = " ".join(lines)
    keys: list[str] = []
    for match in _ASSIGNED.finditer(text):  # "State.ExitCode = 137": the key as JSON writes it
        keys += [f'"{match.group(1)}": {match.group(2)}', f'"{match.group(1)}"']
    keys += [word.rstrip(".,;:)") for word in _WORD.findall(text)]
    keys += [f'"{word}"' for word in _WORD.findall(text) if "_" in word and "/" not in word]
    lowered = text.lower()
    if "memory" in lowered or "mem_" in lowered:
        keys.append("Mem:")
    if "swap" in lowered:
        keys.append("Swap:")
    named = _CONTAINER_PATH.match(evidence_file)
    for name in (container, named.group(1) if named else ""):
        if name and name not in keys:
            keys.append(name)
    return [key for key in dict.fromkeys(keys) if len(key) > 2]


def _locate(keys: list[str], texts: dict[str, list[str]], own: str = "") -> tuple[str, int, str] | None:
    """The first line holding a key: in ``own`` (the file the evidence names), in the files of
    its folder, then anywhere."""
    folder = own.rsplit("/", 1)[0] + "/" if "/" in own else ""
    order = sorted(texts, key=lambda rel: (rel != own, not (folder and rel.startswith(folder)), rel))
    for key in keys:
        for rel in order:
            for number, line in enumerate(texts[rel], 1):
                if key in line:
                    return rel, number, line
    return None


_ABSENT = re.compile(r"\b(?:has no|not set|is not|missing|without|empty)\b", re.I)


def _anchor(ev: Evidence, container: str, texts: dict[str, list[str]], inp: LoadedInput) -> tuple[str, int, str] | None:
    """The line that states ``ev``'s fact, or None. A fact that something is absent has no line;
    the container's name alone finds its line only in the evidence's own folder, or in a table
    that lists every container (the guide's ``docker ps``): anywhere else it is another fact."""
    if _ABSENT.search(" ".join(ev.lines)):
        return None
    names = {name for name in (ev.container, container) if name}
    keys = _keys(ev.file, ev.container or container, ev.lines)
    found = _locate([k for k in keys if k not in names], texts, ev.file)
    if found is not None or not names:
        return found
    folder = ev.file.rsplit("/", 1)[0] + "/" if "/" in ev.file else ""
    scope = texts if inp.kind == "manual-guide" or "guide/" in " ".join(texts) else {
        rel: lines for rel, lines in texts.items() if rel == ev.file or (folder and rel.startswith(folder))}
    return _locate([k for k in keys if k in names], scope, ev.file)


def anchor_evidence(findings: list[Finding], entries: list[TimelineEntry], inp: LoadedInput) -> None:
    """Evidence that cites a file the input does not hold, or no line (a fact an input without a
    bundle's files stated elsewhere: the guide's ``docker ps`` output for a container's exit),
    is pointed at the line of the input that states it; when none does, it cites no file."""
    present = set(inp.files) | set(inp.own_frames)
    texts: dict[str, list[str]] | None = None
    for finding in findings:
        for ev in finding.evidence:
            if ev.file in present and ev.line_start > 0:
                continue
            if texts is None:
                texts = _fact_texts(inp)
            found = _anchor(ev, finding.container, texts, inp)
            derived = "; ".join(ev.lines)
            if found is not None:
                ev.file, ev.line_start, ev.line_end, ev.lines = found[0], found[1], found[1], [found[2]]
                ev.note = "; ".join(part for part in (ev.note, f"read as: {derived}") if part)
            elif ev.file not in present:
                ev.file, ev.line_start, ev.line_end = "", 0, 0
                ev.note = "; ".join(part for part in (ev.note, "derived from the input's facts") if part)
    for entry in entries:
        if not entry.file or (entry.file in present and entry.line > 0):
            continue
        if entry.file in present:
            continue  # a whole file (inspect.json of a bundle): no line to name
        if texts is None:
            texts = _fact_texts(inp)
        found = _locate(_keys(entry.file, entry.container, []), texts, entry.file)
        entry.file, entry.line = (found[0], found[1]) if found else ("", 0)
