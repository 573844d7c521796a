"""The second leak gate (shape detectors over the output) and secrets cut in two by an overlong line."""

from __future__ import annotations

from nodediag.redaction import RedactionCounts, Redactor
from nodediag.redaction.redactor import MAX_LINE_CHARS

KEY = "0x48d4e793834a2f52201978ae8702a3ff95d7833a191251728c91f1884cc929e1"
TOKEN = "Zq3kT9vLm2Xp8RwQ4nYc7HdF1sGb"


def test_the_second_gate_names_kind_and_line_never_the_value() -> None:
    redactor = Redactor(b"k" * 32)
    raw = ("[18:30:00.000] INFO: fine\n"
           f"[18:30:01.000] INFO: calling https://eth-mainnet.g.alchemy.com/v2/{TOKEN}\n"
           f"[18:30:02.000] INFO: Authorization: Bearer {TOKEN}x\n"
           "[18:30:03.000] INFO: AKIAIOSFODNN7EXAMPLE\n")
    leaks = redactor.find_shape_leaks(raw, first_line=10)
    assert {(kind, line) for kind, line in leaks} >= {("api_key", 11), ("token", 12), ("aws_key", 13)}
    reason = redactor.output_leak(raw, "containers/node/logs.txt", 10)
    assert reason is not None and "containers/node/logs.txt" in reason and "line 11" in reason
    assert TOKEN not in reason and "AKIA" not in reason


def test_the_second_gate_is_silent_on_redacted_output_and_near_misses() -> None:
    redactor = Redactor(b"k" * 32)
    raw = (f"Authorization: Bearer {TOKEN}\nhttps://eth-mainnet.g.alchemy.com/v2/{TOKEN}\n"
           "tx 0x9f8e7d6c5b4a39281706f5e4d3c2b1a0f9e8d7c6b5a4938271605f4e3d2c1b0a hash\n"
           "Authorization failed; the x-api-key header is missing\n")
    out = redactor.redact_text(raw, RedactionCounts())
    assert redactor.find_shape_leaks(out) == [] and redactor.output_leak(out, "f") is None


def test_a_secret_straddling_the_cut_of_an_overlong_line_is_redacted() -> None:
    redactor = Redactor(b"k" * 32)
    redactor.add_secret(KEY, "private_key")
    stream = redactor.stream(RedactionCounts())
    head = "x" * (MAX_LINE_CHARS - 30)  # no separator near the cut: the key itself would be cut
    line = head + " " + KEY + " " + "y" * 1000 + "\n"
    out = "".join(stream.write(line[i:i + 1_000_000]) for i in range(0, len(line), 1_000_000)) + stream.close()
    assert KEY[2:] not in out.lower() and "[REDACTED:private_key#" in out


def test_an_overlong_line_of_json_is_cut_between_items_and_loses_no_secret() -> None:
    redactor = Redactor(b"k" * 32)
    stream = redactor.stream(RedactionCounts())
    item = '{"n":1,"msg":"padding padding padding"},'
    body = item * ((MAX_LINE_CHARS - 20) // len(item))
    line = "[" + body + f'{{"apiKey":"{TOKEN}"}},' + body + "]\n"
    out = "".join(stream.write(line[i:i + (1 << 20)]) for i in range(0, len(line), 1 << 20)) + stream.close()
    assert TOKEN not in out


def test_a_secret_whose_case_folding_changes_length_is_found_and_gated() -> None:
    secret = "pässwordİstanbul99xyz"  # U+0130 lowers to two characters
    redactor = Redactor(b"k" * 32)
    redactor.redact_env_file(f"DB_PASSWORD={secret}\n", RedactionCounts())
    text = f"İİ login with {secret} and {secret.upper()}\n"
    assert redactor.find_leaks(text) == ["password"]
    out = redactor.redact_text(text, RedactionCounts())
    assert secret not in out and secret.upper() not in out and out.startswith("İİ login with [REDACTED:")
    stream = redactor.stream(RedactionCounts())
    big = "filler line of a log\n" * 2000 + text
    assert secret not in stream.feed(big) + stream.close()


def test_a_known_key_printed_over_two_lines_is_redacted_in_both() -> None:
    redactor = Redactor(b"k" * 32)
    redactor.add_secret(KEY, "private_key")
    prefix = "2026-11-27T18:30:00.000000000Z "
    text = (f"{prefix}[18:30:00.000] INFO: publisher key {KEY[:30]}\n"
            f"{prefix}{KEY[30:]} loaded\n"
            f"{prefix}[18:30:01.000] INFO: tx 0x9f8e7d6c5b4a39281706f5e4d3c2b1a0f9e8d7c6b5a4938271605f4e3d2c1b0a\n")
    out = redactor.redact_text(text, RedactionCounts())
    assert KEY[:30] not in out and KEY[30:] not in out and out.count("[REDACTED:private_key#") == 2
    assert out.splitlines()[1].endswith(" loaded") and "0x9f8e7d6c5b4a3928" in out
    stream = redactor.stream(RedactionCounts())
    big = "filler line of a log\n" * 2000 + text
    assert KEY[30:] not in stream.feed(big) + stream.close()
