"""The scored corpus (tests/fixtures/redaction/corpus.json): recall must be 100 % of the secrets and
damage 0 near-misses, redacting each context the way `nodediag collect` does."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from nodediag.redaction import PLACEHOLDER_RE, RedactionCounts, Redactor

CORPUS = json.loads((Path(__file__).resolve().parents[1] / "fixtures" / "redaction" / "corpus.json").read_text())
KEY = b"corpus-fixed-key-corpus-fixed-key"
TIMESTAMP = "2026-11-27T18:30:00.000000000Z "


def fill(entry: dict[str, Any]) -> str:
    """The entry's text with its value in place (a multi-line value indented like its first line)."""
    value = entry["value"]
    if entry["context"] == "inspect":
        value = json.dumps(value)[1:-1]
    at = entry["text"].find("{value}")
    indent = entry["text"][entry["text"].rfind("\n", 0, at) + 1:at]
    value = value.replace("\n", "\n" + indent) if not indent.strip() else value
    return entry["text"].replace("{value}", value).replace("{{", "{").replace("}}", "}")


def redact_all(entries: list[dict[str, Any]], redactor: Redactor) -> dict[str, str]:
    """Output text per entry id: config contexts learnt first, then logs streamed in two blocks."""
    for e in entries:
        if e["context"] == "env":
            redactor.harvest_env_file(fill(e))
        elif e["context"] == "compose":
            redactor.harvest_compose(fill(e))
    out: dict[str, str] = {}
    for e in entries:
        text = fill(e)
        if e["context"] == "env":
            out[e["id"]] = redactor.redact_env_file(text, RedactionCounts())
        elif e["context"] == "compose":
            out[e["id"]] = redactor.redact_compose(text, RedactionCounts())
        elif e["context"] == "inspect":
            out[e["id"]] = json.dumps(redactor.redact_json(json.loads(text), RedactionCounts()))
    for e in entries:
        if e["context"] in ("log", "url"):
            out[e["id"]] = redactor.redact_text(log_lines(e), RedactionCounts())
    return out


def log_lines(entry: dict[str, Any]) -> str:
    """The entry as `docker logs -t` prints it."""
    return "".join(TIMESTAMP + line for line in fill(entry).splitlines(keepends=True))


def stream_logs(entries: list[dict[str, Any]], redactor: Redactor, blocks: int) -> str:
    """Every log and url entry as one container log, streamed in blocks cut between entries."""
    logs = [log_lines(e) for e in entries if e["context"] in ("log", "url")]
    stream = redactor.stream(RedactionCounts())
    step = max(1, len(logs) // blocks)
    out = "".join(stream.feed("".join(logs[i:i + step])) for i in range(0, len(logs), step))
    return out + stream.close()
    return out


def variants(value: str) -> set[str]:
    """What must not remain: the value, any case, with and without 0x; a PEM's body lines."""
    if "-----BEGIN" in value:
        return {line.lower() for line in value.splitlines() if line and not line.startswith("-----")}
    bare = value[2:] if value[:2].lower() == "0x" else value
    return {bare.lower()}


@pytest.fixture(scope="module")
def redacted() -> dict[str, str]:
    entries = CORPUS["secrets"] + CORPUS["near_misses"]
    return redact_all(entries, Redactor(KEY))


def test_corpus_is_big_and_varied_enough() -> None:
    secrets, near = CORPUS["secrets"], CORPUS["near_misses"]
    assert len(secrets) >= 40 and len({s["kind"] for s in secrets}) >= 10 and len(near) >= 40
    contexts = Counter(e["context"] for e in secrets + near)
    assert set(contexts) == {"env", "compose", "inspect", "log", "url"}
    assert len({e["id"] for e in secrets + near}) == len(secrets) + len(near)


def test_recall_is_every_secret(redacted: dict[str, str]) -> None:
    missed = [s["id"] for s in CORPUS["secrets"]
              if any(v in redacted[s["id"]].lower() for v in variants(s["value"]))]
    recall = 1 - len(missed) / len(CORPUS["secrets"])
    assert missed == [], f"recall {recall:.1%}; missed {missed}"


@pytest.mark.parametrize("blocks", [1, 3, 17])
def test_recall_when_the_logs_are_streamed_in_blocks(blocks: int) -> None:
    entries = CORPUS["secrets"] + CORPUS["near_misses"]
    redactor = Redactor(KEY)
    redact_all([e for e in entries if e["context"] in ("env", "compose", "inspect")], redactor)
    out = stream_logs(entries, redactor, blocks).lower()
    missed = [s["id"] for s in CORPUS["secrets"] if s["context"] in ("log", "url")
              and any(v in out for v in variants(s["value"]))]
    assert missed == []


def test_each_secret_carries_its_kind(redacted: dict[str, str]) -> None:
    wrong = [(s["id"], s["kind"]) for s in CORPUS["secrets"]
             if f"[REDACTED:{s['kind']}#" not in redacted[s["id"]]]
    assert wrong == []


def test_damage_is_zero_near_misses_altered(redacted: dict[str, str]) -> None:
    damaged = []
    for n in CORPUS["near_misses"]:
        text = fill(n)
        got = redacted[n["id"]]
        if n["context"] == "inspect":
            text = json.dumps(json.loads(text))
        elif n["context"] in ("log", "url"):
            text = log_lines(n)
        if got != text or PLACEHOLDER_RE.search(got):
            damaged.append(n["id"])
    assert damaged == [], f"damage {len(damaged)}: {damaged}"


def test_redaction_is_idempotent_on_the_corpus(redacted: dict[str, str]) -> None:
    again = Redactor(KEY)
    for e in CORPUS["secrets"]:
        again.harvest_env_file(fill(e)) if e["context"] == "env" else None
    for entry_id, text in redacted.items():
        assert again.redact_text(text, RedactionCounts()) == text, entry_id
