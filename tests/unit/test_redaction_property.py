"""Property: secrets planted anywhere in config and log text never reach the output."""

from __future__ import annotations

import string

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from nodediag.redaction import PLACEHOLDER_RE, RedactionCounts, Redactor

hex_keys = st.binary(min_size=32, max_size=32).map(lambda b: "0x" + b.hex())
url_keys = st.text(alphabet=string.ascii_letters + string.digits, min_size=20, max_size=40).filter(
    lambda s: any(c.isdigit() for c in s) and any(c.isalpha() for c in s))
filler = st.text(alphabet=string.ascii_letters + string.digits + " .,:;=/-_{}[]\"'#|\n", max_size=300)
variants = st.sampled_from(["as-is", "upper", "lower", "strip-0x", "add-0x"])


def _variant(secret: str, how: str) -> str:
    bare = secret[2:] if secret.startswith("0x") else secret
    return {"as-is": secret, "upper": secret.upper(), "lower": secret.lower(), "strip-0x": bare,
            "add-0x": "0x" + bare}[how]


def _plant(pieces: list[str], secrets: list[tuple[str, str]]) -> str:
    out = []
    for i, piece in enumerate(pieces):
        out.append(piece)
        if i < len(secrets):
            out.append(_variant(*secrets[i]))
    return "".join(out)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    keys=st.lists(hex_keys, min_size=1, max_size=3),
    api_keys=st.lists(url_keys, min_size=1, max_size=3),
    fillers=st.lists(filler, min_size=7, max_size=7),
    how=st.lists(variants, min_size=6, max_size=6),
    cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=4),
)
def test_planted_secrets_never_reach_the_output(keys: list[str], api_keys: list[str], fillers: list[str],
                                                how: list[str], cuts: list[int]) -> None:
    env = "".join(f"# node {i}\nexport NODE{i}_PRIVATE_KEY={k}\n" for i, k in enumerate(keys))
    env += "ETHEREUM_HOSTS=" + ",".join(f"https://eth-sepolia.g.alchemy.com/v2/{a}" for a in api_keys) + "\n"
    compose = "services:\n  node:\n    environment:\n" + "".join(
        f"      - L1_PRIVATE_KEY_{i}={k}\n" for i, k in enumerate(keys)) + "".join(
        f"      RPC_{i}: https://rpc.ankr.com/eth/{a}\n" for i, a in enumerate(api_keys))
    all_secrets = keys + api_keys
    planted = [(s, h) for s, h in zip(all_secrets * 2, how, strict=False)]

    r = Redactor()
    r.harvest_env_file(env)
    outputs = [r.redact_env_file(env, RedactionCounts()), r.redact_compose(compose, RedactionCounts())]

    log = _plant(fillers, planted)
    if not log.endswith("\n"):
        log += "\n"
    outputs.append(r.redact_text(log, RedactionCounts()))
    # The same log streamed in blocks of complete lines cut at random places.
    lines = log.splitlines(keepends=True)
    bounds = sorted({min(c, len(lines)) for c in cuts} | {0, len(lines)})
    stream = r.stream(RedactionCounts())
    blocks = ["".join(lines[a:b]) for a, b in zip(bounds, bounds[1:], strict=False)]
    streamed = "".join(stream.feed(block) for block in blocks) + stream.close()
    outputs.append(streamed)

    for out in outputs:
        low = out.lower()
        for secret in all_secrets:
            bare = secret[2:] if secret.startswith("0x") else secret
            assert bare.lower() not in low
        assert r.find_leaks(out) == []


# a provider's key sits where the provider puts it: six characters are enough there
provider_keys = st.text(alphabet=string.ascii_letters + string.digits, min_size=6, max_size=40).filter(
    lambda s: any(c.isdigit() for c in s) and any(c.isalpha() for c in s))


@settings(max_examples=60, deadline=None)
@given(
    key=provider_keys,
    before=filler,
    after=st.text(alphabet=string.ascii_letters + string.digits + " .,:;/\"'\n", max_size=80),
    host=st.sampled_from(["https://eth-sepolia.g.alchemy.com/v2/", "https://mainnet.infura.io/v3/",
                          "https://rpc.ankr.com/eth/", "https://x-y.quiknode.pro/",
                          "https://lb.drpc.org/ogrpc?network=sepolia&dkey="]),
    upper=st.booleans(),
)
def test_unknown_provider_keys_in_logs_are_removed(key: str, before: str, after: str, host: str, upper: bool) -> None:
    assume(key not in before)  # keys seen only in a log URL are not propagated to the rest of the log
    if upper:  # a host name's case means nothing: ETH-MAINNET.G.ALCHEMY.COM is the same provider
        scheme, rest = host.split("://")
        name, path = rest.split("/", 1)
        host = f"{scheme}://{name.upper()}/{path}"
    text = f"{before} {host}{key}{after}\n"
    out = Redactor().redact_text(text, RedactionCounts())
    assert key not in out
    assert host.split("://")[1].split("/")[0] in out  # the provider host stays readable


noise = st.text(alphabet=string.ascii_letters + string.digits + " .,:;=/-_{}[]\"'#|éß€\n", max_size=400)
literal = st.text(alphabet=string.ascii_letters + string.digits + "+/=_-", min_size=6, max_size=90).filter(
    lambda s: not s.lower().startswith("0x"))


@settings(max_examples=80, deadline=None)
@given(secrets=st.lists(literal, min_size=1, max_size=6), pieces=st.lists(noise, min_size=7, max_size=7),
       decoys=st.integers(min_value=0, max_value=120))
def test_operator_literals_of_every_length_are_found_anywhere(secrets: list[str], pieces: list[str],
                                                              decoys: int) -> None:
    """Literals short and long (the long ones are screened by aligned 8-byte words) at every offset,
    among non-ASCII text, with many other literals known."""
    r = Redactor(b"k" * 32)
    for i in range(decoys):
        r.add_secret(f"decoy-literal-{i:04d}-padding-padding", "literal")
    for s in secrets:
        r.add_secret(s, "literal")
    text = _plant(pieces, [(s, "as-is") for s in secrets]) + "\n"
    out = PLACEHOLDER_RE.sub("", r.redact_text(text, RedactionCounts())).lower()
    for s in secrets:
        assert s.lower() not in out


@settings(max_examples=40, deadline=None)
@given(keys=st.lists(hex_keys, min_size=1, max_size=3), fillers=st.lists(filler, min_size=4, max_size=4),
       how=st.lists(variants, min_size=3, max_size=3))
def test_redaction_is_idempotent(keys: list[str], fillers: list[str], how: list[str]) -> None:
    r = Redactor(b"i" * 32, redact_ips=True)
    r.harvest_env({f"K{i}_PRIVATE_KEY": k for i, k in enumerate(keys)})
    text = _plant(fillers, list(zip(keys * 3, how, strict=False))) + " peer 8.8.4.4 token=abcdef123456\n"
    once = r.redact_text(text, RedactionCounts())
    assert r.redact_text(once, RedactionCounts()) == once
    stream = r.stream(RedactionCounts())
    assert stream.feed(once) + stream.close() == once


@settings(max_examples=40, deadline=None)
@given(cut=st.integers(min_value=0, max_value=12), key=st.binary(min_size=32, max_size=32).map(bytes.hex),
       before=st.lists(filler.map(lambda s: s.replace("\n", " ")), max_size=5))
def test_admin_api_key_banner_split_across_blocks(cut: int, key: str, before: list[str]) -> None:
    """The key printed under the node's ADMIN API KEY banner is removed wherever the blocks are cut,
    and from everything after it."""
    ts = "2026-11-27T18:30:00.000000000Z "
    lines = [ts + b + "\n" for b in before] + [
        ts + "=" * 70 + "\n", ts + "  ADMIN API KEY (save this \u2014 it will NOT be shown again)\n", ts + "\n",
        ts + f"  {key}\n", ts + "\n", ts + "  Use via header:  x-api-key: <key>\n",
        ts + f"curl -H 'Authorization: Bearer {key}' http://127.0.0.1:8880\n"]
    at = min(cut + len(before), len(lines))
    r = Redactor()
    stream = r.stream(RedactionCounts())
    out = stream.feed("".join(lines[:at])) + stream.feed("".join(lines[at:])) + stream.close()
    assert key not in out and out.count("[REDACTED:api_key#") == 2
    assert out.count("\n") == len(lines)
