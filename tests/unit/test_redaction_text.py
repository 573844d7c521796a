"""Redaction of free text and logs: URLs, propagation, shapes, PEM streaming, idempotence, leak gate."""

from __future__ import annotations

import re

import pytest

from nodediag.redaction import RedactionCounts, Redactor

KEY = "0x" + "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"
TX_HASH = "0x" + "9fc76417374aa880d4449a1f7f31ec597f00b1f6f3dd2d66f4c9c6c445836d8b"
ADDRESS = "0x1234567890abcdef1234567890abcdef12345678"
CONTAINER_ID = "4f1e2d3c4b5a69788796a5b4c3d2e1f04f1e2d3c4b5a69788796a5b4c3d2e1f0"
DIGEST = "sha256:" + "3b2a" * 16
UUID = "0a6f3e1c-3b4e-4c2a-9f1e-2b7d8c9e0f11"
TAG = re.compile(r"\[REDACTED:([a-z_]+)#([0-9a-f]{8})\]")
HEX_SECRET = "9c1185a5c5e9fc54612808977ee8f548b2258d31"  # fake, 40 hex digits


def redact(text: str, redactor: Redactor | None = None) -> str:
    return (redactor or Redactor()).redact_text(text, RedactionCounts())


@pytest.mark.parametrize(
    ("url", "kept", "secret", "kind"),
    [
        ("https://eth-sepolia.g.alchemy.com/v2/Xk3vQ9pL2mN7rT4wZ8yB1cD6",
         "https://eth-sepolia.g.alchemy.com/v2/", "Xk3vQ9pL2mN7rT4wZ8yB1cD6", "api_key"),
        ("https://sepolia.infura.io/v3/9aa3d95b3bc440fa88ea12eaa4456161",
         "https://sepolia.infura.io/v3/", "9aa3d95b3bc440fa88ea12eaa4456161", "api_key"),
        ("https://little-wild-pond.ethereum-sepolia.quiknode.pro/3f1c2a9b8e7d6c5b4a39281706f5e4d3c2b1a090/",
         "https://little-wild-pond.ethereum-sepolia.quiknode.pro/", "3f1c2a9b8e7d6c5b4a39281706f5e4d3c2b1a090",
         "token"),
        ("https://rpc.ankr.com/eth_sepolia/7a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9",
         "https://rpc.ankr.com/eth_sepolia/", "7a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f6071", "api_key"),
        ("https://nd-123-456-789.p2pify.com/0c8f2d1e9b7a6c5d4e3f2a1b0c9d8e7f",
         "https://nd-123-456-789.p2pify.com/", "0c8f2d1e9b7a6c5d4e3f2a1b0c9d8e7f", "api_key"),
        ("https://ethereum-sepolia.core.chainstack.com/0c8f2d1e9b7a6c5d4e3f2a1b0c9d8e7f",
         "https://ethereum-sepolia.core.chainstack.com/", "0c8f2d1e9b7a6c5d4e3f2a1b0c9d8e7f", "api_key"),
        ("https://my-rpc.example.net/9aa3d95b3bc440fa88ea12eaa4456161",
         "https://my-rpc.example.net/", "9aa3d95b3bc440fa88ea12eaa4456161", "api_key"),
        ("https://lb.drpc.org/ogrpc?network=sepolia&dkey=AqW3dkDq9Ej7sXmbv2Lz4",
         "https://lb.drpc.org/ogrpc?network=sepolia&dkey=", "AqW3dkDq9Ej7sXmbv2Lz4", "api_key"),
        ("https://beacon.example.org/eth/v1/node?apikey=s3cr3tValue99&x=1",
         "https://beacon.example.org/eth/v1/node?apikey=", "s3cr3tValue99", "api_key"),
        ("wss://node.example.org/ws?access_token=tok-abcdef123", "wss://node.example.org/ws?access_token=",
         "tok-abcdef123", "token"),
        ("https://admin:hunter2pass@rpc.example.org:8545/", "https://", "hunter2pass", "url_credential"),
    ],
)
def test_url_secrets_go_but_provider_and_network_stay(url: str, kept: str, secret: str, kind: str) -> None:
    out = redact(f"connecting to {url} now")
    assert secret not in out
    assert out.startswith(f"connecting to {kept}")
    assert TAG.search(out).group(1) == kind
    assert out.endswith(" now")


def test_userinfo_is_dropped_whole_and_host_port_survive() -> None:
    out = redact("postgres://prover:hunter2pass@db.internal:5432/aztec")
    assert re.fullmatch(r"postgres://\[REDACTED:url_credential#\w{8}\]@db\.internal:5432/aztec", out)


@pytest.mark.parametrize(
    "url",
    [
        f"https://registry-1.docker.io/v2/aztecprotocol/aztec/manifests/{DIGEST}",
        "https://registry.example.org/v2/blobs/sha256-" + "3b2a" * 16,
        f"https://sepolia.etherscan.io/tx/{TX_HASH}",
        f"https://api.example.org/jobs/{UUID}/status",
        "https://docs.aztec.network/the_aztec_network/guides/run_nodes/how_to_run_prover",
        "http://prover-broker:8080/status",
        "https://eth-sepolia.g.alchemy.com/v2/demo",
        "https://api.example.org/v2/blocks/123456789/receipts?limit=10&network=sepolia",
        "https://github.com/AztecProtocol/aztec-packages/commit/" + "a1b2c3d4e5" * 4,
        "file:///usr/src/yarn-project/prover-client/dest/orchestrator/orchestrator.js:123:45",
        "https://releases.example.org/aztec-prover-node-release-2024-11-27/notes",
    ],
)
def test_near_miss_urls_survive(url: str) -> None:
    assert redact(f"see {url}") == f"see {url}"


def test_propagation_any_case_with_and_without_0x() -> None:
    r = Redactor()
    r.harvest_env({"PROVER_PUBLISHER_PRIVATE_KEY": KEY})
    bare, upper = KEY[2:], KEY.upper()
    log = f"a {KEY} b {bare} c {upper} d 0X{bare.upper()} e {bare.upper()}\n"
    counts = RedactionCounts()
    out = r.redact_text(log, counts)
    tags = TAG.findall(out)
    assert len(tags) == 5 and len(set(tags)) == 1 and tags[0][0] == "private_key"
    assert bare not in out.lower()
    assert counts.by_kind == {"private_key": 5} and counts.lines == [1]


def test_url_parts_learnt_from_config_are_removed_everywhere() -> None:
    r = Redactor()
    r.harvest_env(["ETHEREUM_HOSTS=https://eth-sepolia.g.alchemy.com/v2/Xk3vQ9pL2mN7rT4wZ8yB1cD6"])
    out = redact('{"msg":"rate limited","key":"xk3vq9pl2mn7rt4wz8yb1cd6"}', r)
    assert "xk3vq9" not in out.lower() and "[REDACTED:api_key#" in out


def test_same_secret_same_tag_across_files_and_not_across_instances() -> None:
    a, b = Redactor(), Redactor()
    for r in (a, b):
        r.harvest_env({"PROVER_PUBLISHER_PRIVATE_KEY": KEY})
    env_out = a.redact_env_file(f"PROVER_PUBLISHER_PRIVATE_KEY={KEY}\n", RedactionCounts())
    log_out = a.redact_text(f"key {KEY.upper()[2:]}", RedactionCounts())
    json_out = a.redact_json({"Env": [f"L1_PRIVATE_KEY={KEY}"]}, RedactionCounts())
    tags = {TAG.search(t).group(2) for t in (env_out, log_out, json_out["Env"][0])}
    assert len(tags) == 1
    assert TAG.search(b.redact_text(KEY, RedactionCounts())).group(2) not in tags


def test_hashes_addresses_ids_and_digests_survive_in_logs() -> None:
    r = Redactor()
    r.harvest_env({"PROVER_PUBLISHER_PRIVATE_KEY": KEY})
    log = (f"2026-11-27T18:30:00.123456789Z [18:30:00.123] INFO: prover-node Submitted proof tx {TX_HASH} "
           f"from {ADDRESS} container {CONTAINER_ID} image aztecprotocol/aztec@{DIGEST} job {UUID} "
           "block 0x1a2b archive root 0x" + "0" * 64 + "\n")
    assert redact(log, r) == log


@pytest.mark.parametrize(
    ("secret", "kind"),
    [
        ("AKIAIOSFODNN7EXAMPLE", "aws_key"),
        ("ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8", "github_token"),
        ("gho_" + "Z" * 36, "github_token"),
        ("github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQ", "github_token"),
        ("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ."
         "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c", "jwt"),
        ("abandon ability able about above absent absorb abstract absurd abuse access accident", "mnemonic"),
        ("legal winner thank year wave sausage worth useful legal winner thank year wave sausage worth "
         "useful legal will", "mnemonic"),
    ],
)
def test_unambiguous_shapes(secret: str, kind: str) -> None:
    out = redact(f"got {secret} here")
    assert secret not in out
    assert re.fullmatch(rf"got \[REDACTED:{kind}#\w{{8}}\] here", out)


def test_shape_near_misses_survive() -> None:
    text = ("eleven words only: abandon ability able about above absent absorb abstract absurd abuse access\n"
            "not all bip39: abandon ability able about above absent absorb abstract absurd abuse access zzzz\n"
            "AKIAIOSFODNN7EXAMPL short, ghp_short, eyJhbGciOiJIUzI1NiJ9 alone\n")
    assert redact(text) == text


PEM = ("-----BEGIN RSA PRIVATE KEY-----\n"
       "MIIEpAIBAAKCAQEA0Z3VS5JJcds3xfn/ygWyF8PbnGy0AHB7MhgHcTz6sE2I2yPB\n"
       "aFDrBz9vFqU4yX3YH0pZ7y0JqvP1kFzVQnR3fW8bX0pZ7y0JqvP1kFzVQnR3fW8b\n"
       "-----END RSA PRIVATE KEY-----\n")


def test_pem_block_with_docker_timestamps() -> None:
    ts = "2026-11-27T18:30:00.123456789Z "
    text = ts + "starting\n" + "".join(ts + line + "\n" for line in PEM.splitlines()) + ts + "next line\n"
    out = redact(text)
    assert "MIIEpAIBAAKCAQEA" not in out and "aFDrBz9v" not in out
    assert re.fullmatch(rf"{ts}starting\n{ts}\[REDACTED:pem#\w{{8}}\]\n{ts}next line\n", out)


def test_pem_inline_escaped_in_json() -> None:
    text = '{"tlsKey":"' + PEM.replace("\n", "\\n") + '","port":8080}'
    out = redact(text)
    assert "MIIEpAIBAAKCAQEA" not in out and out.endswith('","port":8080}')


def test_pem_split_across_two_feeds() -> None:
    r = Redactor()
    counts = RedactionCounts()
    stream = r.stream(counts)
    pem_lines = PEM.splitlines(keepends=True)
    first = "line one\n" + "".join(pem_lines[:2])
    second = "".join(pem_lines[2:]) + "line after\n"
    out1 = stream.feed(first)
    out2 = stream.feed(second)
    out3 = stream.close()
    assert out1 == "line one\n"
    whole = out1 + out2 + out3
    assert "MIIEpAIBAAKCAQEA" not in whole and "aFDrBz9v" not in whole
    assert re.fullmatch(r"line one\n\[REDACTED:pem#\w{8}\]\nline after\n", whole)
    assert counts.by_kind == {"pem": 1} and counts.lines == [2]


def test_unterminated_pem_is_flushed_redacted_on_close() -> None:
    stream = Redactor().stream(RedactionCounts())
    out = stream.feed("a\n" + "".join(PEM.splitlines(keepends=True)[:2]))
    out += stream.close()
    assert "MIIEpAIBAAKCAQEA" not in out and out.startswith("a\n[REDACTED:pem#")


def test_stream_counts_lines_across_blocks() -> None:
    r = Redactor()
    r.add_secret("operator-hostname-01", "literal")
    counts = RedactionCounts()
    stream = r.stream(counts)
    out = stream.feed("x\ny\n") + stream.feed("z\nat operator-hostname-01\n") + stream.close()
    assert out == "x\ny\nz\nat [REDACTED:literal#" + TAG.search(out).group(2) + "]\n"
    assert counts.lines == [4] and counts.total == 1


def test_secret_names_in_free_text() -> None:
    text = ('{"level":50,"privateKey":"0xdeadbeefcafe1234","secretHash":"0x' + "ab" * 32 + '"}\n'
            "node main --l1-private-key 0xfeedface12345678 --port 8080\n"
            f"token={ADDRESS} api_key: s3cr3t-value password=\n")
    out = redact(text)
    for secret in ("deadbeefcafe1234", "feedface12345678", "s3cr3t-value"):
        assert secret not in out
    assert '"secretHash":"0x' + "ab" * 32 in out and f"token={ADDRESS}" in out and "--port 8080" in out
    assert out.endswith("password=\n")


@pytest.mark.parametrize(("line", "secret"), [
    ("TOKEN x-api-key: 00000000000000AA\n", "00000000000000AA"),  # found by the header class test
    ("rotated the password secret=s3cr3tV4lue99 at boot\n", "s3cr3tV4lue99"),
    ("refresh token api_key: 'k3y-v4lue-123'\n", "k3y-v4lue-123"),
    ("2026-11-27T18:30:00Z invalid mnemonic privateKey=0xfeedface12345678\n", "feedface12345678"),
])
def test_a_secret_name_after_a_word_that_is_one_too_is_still_redacted(line: str, secret: str) -> None:
    """A secret name followed by a word is prose, not an assignment: the word stays free to start one."""
    out = redact(line)
    assert secret not in out and "[REDACTED:" in out
    assert out.split()[0] == line.split()[0]  # the prose name and what follows it are kept


@pytest.mark.parametrize("before", ["\u0130" * 30, "\u0130stanbul node \u0130", "\u0130\n" * 3])
def test_secret_names_after_a_character_whose_lower_case_is_longer_are_redacted(before: str) -> None:
    """U+0130 lowers to two characters: the lines found in the lower case were cut out of the text
    at the wrong places, and the assignments after it stayed."""
    text = before + " boot\ntoken=abc123456 and x-api-key: 00AA11BB22\nclient_secret=s3cr3tV4lue99\n"
    out = redact(text)
    assert "abc123456" not in out and "00AA11BB22" not in out and "s3cr3tV4lue99" not in out
    assert out.startswith(before + " boot\ntoken=[REDACTED:")
    assert Redactor().output_leak(text, "x.log") is not None  # the second gate sees them too


def test_redaction_is_idempotent() -> None:
    r = Redactor()
    r.harvest_env_file(f"PROVER_PUBLISHER_PRIVATE_KEY={KEY}\nX_API_KEY=redacted-literal-1\n")
    r.add_secret("redacted", "literal")
    text = (f"k={KEY} https://u:pw123456@h/v2/Xk3vQ9pL2mN7rT4wZ8yB1cD6?token=abcdefgh&dkey=zzz999zzz "
            "AKIAIOSFODNN7EXAMPLE eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0."
            "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U "
            "privateKey: abcdef0123 redacted-literal-1\n" + PEM)
    once = r.redact_text(text, RedactionCounts())
    counts = RedactionCounts()
    assert r.redact_text(once, counts) == once
    assert counts.total == 0
    env_once = r.redact_env_file(f"PROVER_PUBLISHER_PRIVATE_KEY={KEY}\n", RedactionCounts())
    assert r.redact_env_file(env_once, RedactionCounts()) == env_once
    compose_once = r.redact_compose(f"environment:\n  - L1_PRIVATE_KEY={KEY}\n", RedactionCounts())
    assert r.redact_compose(compose_once, RedactionCounts()) == compose_once


def test_find_leaks_reports_kinds_of_secrets_added_after_redaction() -> None:
    r = Redactor()
    r.harvest_env({"PROVER_PUBLISHER_PRIVATE_KEY": KEY})
    written = r.redact_text(f"key {KEY}\nlater the agent printed Zq9xW2vB7nM4kL1pT6rY3\n", RedactionCounts())
    assert r.find_leaks(written) == []
    r.add_secret("zq9xw2vb7nm4kl1pt6ry3", "literal")  # learnt later: the file written before still has it
    assert r.find_leaks(written) == ["literal"]
    assert r.find_leaks(f"x {KEY[2:].upper()} y") == ["private_key"]
    assert "zq9xw2" not in repr(r.find_leaks(written))


def test_the_key_is_never_exposed() -> None:
    r = Redactor(key=b"super-secret-hmac-key-0123456789")
    assert "super-secret" not in repr(r) and "super-secret" not in repr(vars(r))


@pytest.mark.parametrize("size", [100, 20000])  # a line; a log block (the automaton path)
def test_overlapping_secrets_leave_no_part_of_either_behind(size: int) -> None:
    """'0000000' then '000000' in 13 zeros: each search alone finds occurrences the other covers
    in part; the placeholder covers both, and neither secret is left whole in the output."""
    r = Redactor(b"o" * 32)
    r.add_secret("000000", "literal")
    r.add_secret("0000000", "literal")
    r.add_secret("secretAAAAsecret", "literal")
    r.add_secret("AAAAsecretBBBB", "literal")  # overlaps the line's other secret
    line = "value 0000000000000 and xsecretAAAAsecretBBBBx end\n"
    text = line * (size // len(line) + 1)
    out = TAG.sub("", redact(text, r)).lower()
    for secret in ("000000", "0000000", "secretaaaasecret", "aaaasecretbbbb"):
        assert secret not in out
    assert out.count("value ") == out.count(" end")  # the rest of each line is kept


def test_a_long_log_stream_keeps_no_more_than_a_block_in_memory() -> None:
    """Once no kind keeps line numbers any more, the stream must still forget each block it has
    redacted (a collect of 3 x 100 MB of logs once peaked at 499 MB by keeping them)."""
    import tracemalloc

    r = Redactor(b"m" * 32)
    r.add_secret(HEX_SECRET, "private_key")
    counts = RedactionCounts()
    stream = r.stream(counts)
    plain = "2026-11-27T10:00:00.000000000Z [10:00:00.000] INFO: archiver Downloaded L2 block 5\n"
    secret = f"2026-11-27T10:00:00.000000000Z [10:00:00.000] WARN: archiver key {HEX_SECRET} again\n"
    block = (plain * 49 + secret) * (2**19 // (50 * len(plain)))  # ~0.5 MB
    tracemalloc.start()
    try:
        for _ in range(24):
            out = stream.feed(block)
        out += stream.close()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert HEX_SECRET not in out and counts.by_kind["private_key"] == 24 * block.count(HEX_SECRET)
    assert peak < 6 * 2**20  # a few blocks' worth, not the 12 MB fed


@pytest.mark.parametrize("password", ["S3cr!t#Pw9x", "#leading9Pw", "tr#ail#ing7", "p4ss#w0rd$*"])
@pytest.mark.parametrize("scheme", ["https", "wss", "http"])
def test_a_url_password_holding_a_raw_hash_goes_whole(password: str, scheme: str) -> None:
    """`#` in a URL's userinfo must be written %23; pasted raw (`user:pa#ss@host`) it is still a
    password: no part of it survives, the host stays, and a real fragment holding `@` is not a credential."""
    line = f"2026-11-27T18:30:00Z INFO connecting to {scheme}://operator:{password}@rpc.example.org/ws\n"
    out = Redactor(b"k" * 32).redact_text(line, RedactionCounts())
    for part in password.split("#"):
        if part:
            assert part not in out, out
    assert "@rpc.example.org/ws" in out and "[REDACTED:url_credential#" in out
    kept = "2026-11-27T18:30:00Z INFO see https://docs.example.org/guide#setup@step-2 for the steps\n"
    assert Redactor(b"k" * 32).redact_text(kept, RedactionCounts()) == kept
