"""The log stream's fast paths give exactly what the plain paths give.

Covered: literals cut out at their known places once a kind keeps no more line numbers, big blocks
redacted in pieces of whole lines, the seed-phrase gate built with str.translate, and the grouped
secret-name stem scan.
"""

from __future__ import annotations

import re

import pytest
from redaction_samples import HEX_KEY, PEM, PHRASE, URL_KEY

from nodediag.redaction import RedactionCounts, Redactor
from nodediag.redaction import redactor as redactor_module
from nodediag.redaction.assignments import _STEMS, stems_in
from nodediag.redaction.counts import MAX_LINES_PER_KIND

ADMIN_BANNER = "  ADMIN API KEY (save this — it will NOT be shown again)\n\n"
ADMIN_KEY = "9f" * 32
TAG = re.compile(r"\[REDACTED:([a-z_]+)#[0-9a-f]{8}\]")


def _redactor() -> Redactor:
    r = Redactor(key=b"k" * 32)
    r.add_secret(URL_KEY, "api_key")
    r.add_secret("0x" + HEX_KEY, "private_key")
    return r


def _whole_then_fast(lines: list[str]) -> tuple[str, str, RedactionCounts, RedactionCounts]:
    """The same text redacted by a fresh stream (line numbers wanted: span path) and by a stream
    whose kinds already keep no more line numbers (count-only path)."""
    text = "".join(lines)
    plain_counts, fast_counts = RedactionCounts(), RedactionCounts()
    for kind in ("api_key", "private_key"):
        fast_counts.lines_by_kind[kind] = list(range(1, MAX_LINES_PER_KIND + 1))
    plain = _redactor().redact_text(text, plain_counts)
    fast = _redactor().stream(fast_counts)
    return plain, fast.feed(text) + fast.close(), plain_counts, fast_counts


@pytest.mark.parametrize("lines", [
    [f"url=https://eth.example/v2/{URL_KEY} n={i}\n" for i in range(50)],
    [f"k={URL_KEY.upper()} and {URL_KEY}\n", f"hex {HEX_KEY} {HEX_KEY.upper()}\n"],  # other cases
    [f"hex 0x{HEX_KEY} {HEX_KEY} 0X{HEX_KEY}\n"],  # with and without 0x
    [f"already [REDACTED:api_key#0123abcd] then {URL_KEY}\n"],  # a placeholder in the text
    [f"{URL_KEY}{URL_KEY} {HEX_KEY}{URL_KEY}\n"],  # adjacent occurrences of two literals
])
def test_count_only_literal_path_matches_the_span_path(lines: list[str]) -> None:
    plain, fast, plain_counts, fast_counts = _whole_then_fast(lines)
    assert fast == plain
    assert URL_KEY.lower() not in fast.lower() and HEX_KEY not in fast.lower()
    assert fast_counts.by_kind == plain_counts.by_kind


@pytest.mark.parametrize("literal", ["deadbeef", "redacted", "token_kind"])
def test_count_only_path_leaves_a_literal_inside_a_placeholder_alone(literal: str) -> None:
    r = Redactor(key=b"k" * 32)
    r.add_secret(literal, "api_key")  # shaped like a tag, the word REDACTED or a kind
    counts = RedactionCounts()
    counts.lines_by_kind["api_key"] = list(range(1, MAX_LINES_PER_KIND + 1))
    text = "x [REDACTED:token_kind#deadbeef] y " + literal + "\n"
    out = r.stream(counts).feed(text)
    assert out.startswith("x [REDACTED:token_kind#deadbeef] y [REDACTED:api_key#")
    assert counts.by_kind == {"api_key": 1}


def _log(n: int) -> list[str]:
    lines = []
    for i in range(n):
        if i % 7 == 0:
            lines.append(f"2026-11-27T18:00:00Z INFO rpc https://eth.example/v2/{URL_KEY} #{i}\n")
        elif i % 11 == 0:
            lines.append(f"2026-11-27T18:00:00Z INFO l1PrivateKey=0x{HEX_KEY} #{i}\n")
        else:
            lines.append(f"2026-11-27T18:00:00Z INFO Synced to block {i} archive root 0x{i:064x}\n")
    return lines


def test_a_big_block_in_pieces_equals_one_piece(monkeypatch: pytest.MonkeyPatch) -> None:
    lines = _log(12_000)
    # A PEM block, a seed phrase and an admin key banner near the first piece boundaries.
    at = redactor_module.PIECE_CHARS // 110
    lines[at:at] = [PEM]
    lines[at + 900:at + 900] = [f"restore with {PHRASE}\n"]
    lines[at + 1100:at + 1100] = [f"early use of {ADMIN_KEY}\n"]  # before its banner, same block
    lines[at + 1400:at + 1400] = [ADMIN_BANNER, f"{ADMIN_KEY}\n"]
    block = "".join(lines)
    assert len(block) > 4 * redactor_module.PIECE_CHARS

    def run() -> tuple[str, RedactionCounts]:
        counts = RedactionCounts()
        stream = Redactor(key=b"k" * 32).stream(counts)
        r = stream._redactor
        r.add_secret(URL_KEY, "api_key")
        return stream.feed(block) + stream.close(), counts

    pieces, piece_counts = run()
    monkeypatch.setattr(redactor_module, "PIECE_CHARS", 1 << 40)
    whole, whole_counts = run()
    assert pieces == whole
    assert piece_counts.by_kind == whole_counts.by_kind
    assert piece_counts.lines_by_kind == whole_counts.lines_by_kind
    assert ADMIN_KEY not in pieces and URL_KEY not in pieces and HEX_KEY not in pieces
    assert "PRIVATE KEY-----\nMII" not in pieces and "abandon ability" not in pieces
    assert pieces.count("\n") == block.count("\n") - 3  # the PEM block became one placeholder


def test_seed_phrase_found_beside_non_ascii_text_and_on_the_right_line() -> None:
    counts = RedactionCounts()
    text = "naïve ünïcode line — ok\n" + f"wörd {PHRASE} 日本\n" + "tail\n"
    out = Redactor().redact_text(text, counts)
    assert "abandon" not in out and "wörd [REDACTED:mnemonic#" in out and out.endswith(" 日本\ntail\n")
    assert counts.lines_by_kind == {"mnemonic": [2]}


@pytest.mark.parametrize("stem", _STEMS)
def test_every_stem_is_found_alone_and_in_any_neighbourhood(stem: str) -> None:
    assert stem in stems_in(f"x {stem} y")
    assert stem in stems_in(f"a_{stem}s=1")
    assert stems_in("nothing to see here: 0xabc block 12 hash deadbeef") == []


def test_secret_names_still_redacted_through_grouped_stem_scan() -> None:
    text = ("token=abc123def456\nAPI_KEY: 'k3y-v4lue-123'\nclient_secret=s3cr3tV4lue\n"
            "aws_credentials=cr3dV4lue99\n--l1-private-key zz9988776655\n")
    out = Redactor().redact_text(text, RedactionCounts())
    for value in ("abc123def456", "k3y-v4lue-123", "s3cr3tV4lue", "cr3dV4lue99", "zz9988776655"):
        assert value not in out
    assert [m.group(1) for m in TAG.finditer(out)] == ["token", "api_key", "secret", "secret", "private_key"]
