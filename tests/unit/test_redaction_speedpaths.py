"""The log redactor's speed paths give exactly what the plain paths give.

Covered: known literals found in big blocks by the sampled Aho-Corasick automaton (against the
word screen that short texts keep), the cut-and-join replacement once a kind keeps no more line
numbers, the look that skips the secret-name, shape, seed-phrase and PEM passes a block cannot
need, and line numbers counted only when one is kept.
"""

from __future__ import annotations

import random
import re
import string

import pytest
from redaction_samples import HEX_KEY, PEM, PHRASE, URL_KEY

from nodediag.redaction import RedactionCounts, Redactor
from nodediag.redaction import gates as gates_module
from nodediag.redaction import literals as literals_module
from nodediag.redaction import shapes as shapes_module
from nodediag.redaction.assignments import stems_in
from nodediag.redaction.counts import MAX_LINES_PER_KIND

AWS = "AKIAIOSFODNN7EXAMPLE"
GITHUB = "ghp_" + "a1B2c3D4e5" * 4
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
TAG = re.compile(r"\[REDACTED:([a-z_]+)#[0-9a-f]{8}\]")
BIG = literals_module.AUTOMATON_MIN_CHARS


def _secrets() -> list[tuple[str, str]]:
    """Literals of every sort the two literal paths treat differently."""
    rng = random.Random(7)
    out = [(URL_KEY, "api_key"), ("0x" + HEX_KEY, "private_key"), ("hunter2pass", "password"),
           ("abcabcabcabcabcabcabcabcabc", "secret"),  # overlaps itself
           (HEX_KEY[40:] + "ffee0011aabbccdd99887766", "private_key"),  # overlaps the hex key's end
           (HEX_KEY[10:40], "secret"),  # inside the hex key
           ("pässwört-Ünïcode-1234567890", "password"), ("deadbeef", "api_key")]
    for i in range(40):
        alphabet = string.hexdigits.lower() if i % 2 else string.ascii_letters + string.digits + "_-"
        out.append(("".join(rng.choice(alphabet) for _ in range(rng.choice((12, 24, 32, 64)))), "api_key"))
    return out


def _redactor(secrets: list[tuple[str, str]] | None = None) -> Redactor:
    r = Redactor(key=b"k" * 32)
    for value, kind in _secrets() if secrets is None else secrets:
        r.add_secret(value, kind)
    return r


def _variants(value: str) -> list[str]:
    bare = value[2:] if value.startswith("0x") else value
    return [value, value.upper(), bare.swapcase(), "0x" + bare, "0X" + bare.upper(), bare + bare]


def _log(lines: int, seed: int = 1, non_ascii: bool = False) -> str:
    rng = random.Random(seed)
    secrets = [value for value, _ in _secrets()]
    out = []
    for i in range(lines):
        words = [f"2026-11-27T18:00:{i % 60:02d}Z INFO n={i}"]
        if non_ascii and i % 3 == 0:
            words.append(rng.choice(["naïve", "—", "日本語", "Ꙁ", "\U0001f600"]))
        if i % 4 == 0:
            words.append(rng.choice(_variants(rng.choice(secrets))))
        if i % 17 == 0:
            words.append("[REDACTED:api_key#0123abcd]")
        words.append("0x" + rng.randbytes(32).hex())
        out.append(rng.choice(["", " ", ",", "0x", "/"]).join(words) + "\n")
    return "".join(out)


def _saturated() -> RedactionCounts:
    counts = RedactionCounts()
    for kind in ("api_key", "private_key", "password", "secret", "token", "url_credential"):
        counts.add(kind, line=1)
        counts.lines_by_kind[kind] = list(range(1, MAX_LINES_PER_KIND + 1))
    return counts


def _state(counts: RedactionCounts) -> tuple[list, list, list]:
    return list(counts.by_kind.items()), list(counts.lines), list(counts.lines_by_kind.items())


def _both_literal_paths(monkeypatch: pytest.MonkeyPatch, text: str, counts_factory,
                        secrets: list[tuple[str, str]] | None = None) -> tuple[tuple, tuple]:
    results = []
    for threshold in (BIG, 1 << 60):  # the automaton, then the word screen for every text
        monkeypatch.setattr(literals_module, "AUTOMATON_MIN_CHARS", threshold)
        counts = counts_factory()
        results.append((_redactor(secrets).redact_text(text, counts), _state(counts)))
    return results[0], results[1]


@pytest.mark.parametrize("non_ascii", [False, True])
@pytest.mark.parametrize("counts_factory", [RedactionCounts, _saturated], ids=["lines-kept", "count-only"])
def test_automaton_finds_what_the_word_screen_finds(monkeypatch: pytest.MonkeyPatch, non_ascii: bool,
                                                    counts_factory) -> None:
    text = _log(800, non_ascii=non_ascii)
    assert len(text) > 4 * BIG
    fast, plain = _both_literal_paths(monkeypatch, text, counts_factory)
    assert fast == plain
    out = fast[0].lower()
    assert URL_KEY.lower() not in out and HEX_KEY not in out and "hunter2pass" not in out


def test_one_literal_everywhere_is_cut_out_at_every_place(monkeypatch: pytest.MonkeyPatch) -> None:
    """The benchmark's worst case: one key on many lines, counted only."""
    text = "".join(f"n={i} GET https://eth.example/v2/{URL_KEY} ok\n" if i % 4 == 0 else f"n={i} idle\n"
                   for i in range(5000))
    fast, plain = _both_literal_paths(monkeypatch, text, _saturated, [(URL_KEY, "api_key")])
    assert fast == plain
    assert URL_KEY not in fast[0] and fast[0].count("[REDACTED:api_key#") == 1250
    assert dict(fast[1][0])["api_key"] == 1 + 1250


@pytest.mark.parametrize(("secrets", "line"), [
    ([("abcabcabcabcabcabcabcabcabc", "secret")], "x " + "abc" * 12 + " y " + "ABC" * 10 + "\n"),
    ([(URL_KEY, "api_key")], f"a 0x{URL_KEY} b {URL_KEY.lower()} c 0X{URL_KEY}{URL_KEY}\n"),
    ([(HEX_KEY, "private_key"), (HEX_KEY[40:] + "ffee0011aabbccdd99887766", "secret")],
     f"k {HEX_KEY}ffee0011aabbccdd99887766 and {HEX_KEY[40:]}ffee0011aabbccdd99887766 {HEX_KEY}\n"),
    ([(HEX_KEY, "private_key"), (HEX_KEY[10:40], "secret")], f"k {HEX_KEY} and {HEX_KEY[10:40]}\n"),
    ([("deadbeef", "api_key"), (URL_KEY, "api_key")], f"t [REDACTED:token#deadbeef] deadbeef {URL_KEY}\n"),
])
def test_count_only_cuts_match_the_span_path(monkeypatch: pytest.MonkeyPatch, secrets: list[tuple[str, str]],
                                             line: str) -> None:
    """Occurrences that overlap one another, follow "0x" or lie in a placeholder, counted only."""
    text = "".join(f"n={i} {line}" if i % 3 == 0 else f"n={i} quiet\n" for i in range(3000))
    fast, plain = _both_literal_paths(monkeypatch, text, _saturated, secrets)
    assert fast == plain


def test_a_literal_of_few_distinct_bytes_among_zero_padded_words(monkeypatch: pytest.MonkeyPatch) -> None:
    """A test-net key like 0x00…01 (kept out of the automaton: its patterns would match every run
    of zeros) in ABI-encoded data, found as everywhere else."""
    key = "0x" + "00" * 31 + "01"
    secrets = [(key, "private_key"), ("0x" + "ab" * 32, "private_key"), (URL_KEY, "api_key")]
    words = ["0x" + "00" * 31 + "20", "0x" + "00" * 30 + "0100", key, "00" * 40 + "01" + "00" * 8, "ab" * 40]
    rng = random.Random(3)
    text = "".join(f"n={i} data={''.join(rng.choice(words) for _ in range(4))} {URL_KEY}\n" for i in range(600))
    for counts_factory in (RedactionCounts, _saturated):
        fast, plain = _both_literal_paths(monkeypatch, text, counts_factory, secrets)
        assert fast == plain
        assert "00" * 31 + "01" not in fast[0] and "ab" * 32 not in fast[0]


def test_a_needle_that_is_0x_and_another_needle_keeps_one_winner(monkeypatch: pytest.MonkeyPatch) -> None:
    """"0x0xabc…" and "0xabc…" give the same span where "0x" precedes the shorter one."""
    twin = "0x0x" + HEX_KEY[:30]
    secrets = [(twin, "secret"), ("0x" + HEX_KEY[:30], "api_key")]
    text = "".join(f"a {twin} b 0x{HEX_KEY[:30]} c {HEX_KEY[:30].upper()}\n" for _ in range(400))
    fast, plain = _both_literal_paths(monkeypatch, text, RedactionCounts, secrets)
    assert fast == plain
    assert HEX_KEY[:30] not in fast[0].lower()


def test_leaks_found_in_big_texts_as_in_small_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    r = _redactor()
    big = "x" * BIG + f" {HEX_KEY.upper()} and pässwört-ünïcode-1234567890\n"
    assert r.find_leaks(big) == ["password", "private_key", "secret"]  # one literal lies inside the key
    monkeypatch.setattr(literals_module, "AUTOMATON_MIN_CHARS", 1 << 60)
    assert _redactor().find_leaks(big) == ["password", "private_key", "secret"]
    assert r.find_leaks(r.redact_text(big, RedactionCounts())) == []


def test_byte_offsets_become_character_offsets_before_non_ascii_text() -> None:
    r = _redactor([(URL_KEY, "api_key")])
    lines = ["日本語 — naïve \U0001f600 line\n"] * 3000 + [f"€€€ key {URL_KEY} €€€\n"]
    counts = RedactionCounts()
    out = r.redact_text("".join(lines), counts)
    assert re.search(r"\n€€€ key \[REDACTED:api_key#[0-9a-f]{8}\] €€€\n\Z", out)
    assert out.startswith("".join(lines[:3000]))
    assert counts.lines_by_kind == {"api_key": [3001]}


# --- the look before the passes -------------------------------------------------------------------
def _every_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    real = gates_module.present
    monkeypatch.setattr(gates_module, "present", lambda data: real(data) | {"nul"})


def _both_gate_paths(monkeypatch: pytest.MonkeyPatch, text: str, feeds: int = 1,
                     secrets: list[tuple[str, str]] | None = None) -> tuple[tuple, tuple]:
    def run() -> tuple:
        counts = RedactionCounts()
        r = _redactor(secrets)
        stream = r.stream(counts)
        size = len(text) // feeds + 1
        outs, start = [], 0
        while start < len(text):
            end = text.find("\n", start + size)
            end = len(text) if end == -1 else end + 1
            outs.append(stream.feed(text[start:end]))
            start = end
        outs.append(stream.close())
        return outs, _state(counts), r.redact_text(text, RedactionCounts())
    gated = run()
    with monkeypatch.context() as m:
        _every_pass(m)
        plain = run()
    return gated, plain


@pytest.mark.parametrize("extra", [
    "",  # nothing for the gated passes: all of them skipped
    f"aws {AWS} github {GITHUB} jwt {JWT}\n",
    f"restore with {PHRASE}\n",
    PEM,
    "api_key: 'k3y-v4lue-123'\nclient_secret=s3cr3tV4lue\n--l1-private-key zz9988776655 token=abc123def456\n",
    "passecret=zz12 mnemonicredential=yy34 keyJ=1 AKIASIA\n",  # stems whose letters overlap
    f"nul\x00byte https://u:p@host/{URL_KEY}\n",
])
def test_skipping_passes_a_block_cannot_need_changes_nothing(monkeypatch: pytest.MonkeyPatch, extra: str) -> None:
    body = _log(600)
    text = body[: len(body) // 2] + extra + body[len(body) // 2:]
    gated, plain = _both_gate_paths(monkeypatch, text, feeds=3)
    assert gated == plain


@pytest.mark.parametrize(("kind", "shape"), [("ghp_" + "x" * 40, "github_token"), (AWS, "aws_key")])
def test_a_shape_inside_a_placeholder_of_a_literal_kind_is_still_found(monkeypatch: pytest.MonkeyPatch, kind: str,
                                                                       shape: str) -> None:
    """A kind may hold a shape: the literal pass then puts one in the text."""
    secrets = [("some-literal-value-123", kind)]
    text = "".join(f"line {i} some-literal-value-123\n" for i in range(50))
    gated, plain = _both_gate_paths(monkeypatch, text, secrets=secrets)
    assert gated == plain
    assert f"[REDACTED:{shape}#" in gated[2]


def test_a_nul_byte_means_every_pass() -> None:
    """A NUL in a URL can leave a part of the URL pass's marks in the text (see gates.present)."""
    assert "nul" in gates_module.present(b"https://host/a\x00b")
    assert gates_module.present(b"https://host/ab") == set()


@pytest.mark.parametrize("text", [
    "", "nothing here", "key", "token", "a secret", "credentials=1", "pass", "mnemonic phrase",
    "monkey", "tokens and keys", "secre", "cre dential", "passecret", "keyj", "Mnemonicredential", "PaSsWoRd",
    "x" * 50 + "TOKEN",
])
def test_stems_listed_from_the_look_equal_stems_in(text: str) -> None:
    low = text.lower()
    assert gates_module.stems_listed(gates_module.present(low.encode())) == stems_in(low)


def test_seed_phrase_gate_needs_the_text_not_its_lower_case() -> None:
    camel = "2026 INFO: orchestrator JsonRpcClient request proverBroker_getProvingJob to http://x\n"
    for text in (camel, camel.replace("2026", "2026 \u00e9")):  # the ASCII gate and the UTF-8 one
        assert not list(shapes_module._runs_to_search(text))
        assert list(shapes_module._runs_to_search(text.lower()))  # why the gate reads the text
        assert list(shapes_module._runs_to_search(f"x {PHRASE} {text}"))
    out = Redactor().redact_text(camel * 500 + f"seed: {PHRASE}\n", RedactionCounts())
    assert "abandon" not in out and out.count("[REDACTED:mnemonic#") == 1


# --- line numbers ---------------------------------------------------------------------------------
def test_line_numbers_right_when_counting_resumes_after_many_pieces() -> None:
    """Newlines are counted only once a line number is to be kept: after 100 URL keys nothing is,
    until a password shows up thousands of lines (and many pieces) later, after a PEM block that a
    feed boundary cut (held back, then finished)."""
    counts = RedactionCounts()
    r = _redactor([(URL_KEY, "api_key")])
    stream = r.stream(counts)
    lines = [f"n={i} rpc https://eth.example/v2/{URL_KEY}\n" for i in range(20_000)]
    stream.feed("".join(lines))
    pem_lines = PEM.splitlines(keepends=True)
    stream.feed("".join(lines[:10] + pem_lines[:2]))
    stream.feed("".join(pem_lines[2:] + ["x\n"] * 5 + ["password=hunter2pass\n"]))
    stream.close()
    assert counts.lines_by_kind["api_key"] == list(range(1, 101))
    assert counts.lines_by_kind["pem"] == [20_011]
    assert counts.lines_by_kind["password"] == [20_010 + len(pem_lines) + 5 + 1]
    assert counts.by_kind == {"api_key": 20_010, "pem": 1, "password": 1}
