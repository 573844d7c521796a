"""The passes' faster ways through a log line give exactly what their plain ways give.

Covered (the plain forms are in redaction_plain.py): the lines that end with a separator found by
a regex spelt backwards over the reversed text; the seed-phrase search run over each long run of
[a-z ] instead of over the whole line; the secret-name regex tried only where a run of name
characters holding a stem starts, instead of at every position of the line. Each is compared on
generated text built from what the passes look for (names, separators, values, BIP-39 words,
characters that case-fold onto ASCII letters), alone and through the whole redactor.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
import redaction_plain as plain
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nodediag.redaction import RedactionCounts, Redactor
from nodediag.redaction import assignments as assignments_module
from nodediag.redaction import cuts as cuts_module
from nodediag.redaction import redactor as redactor_module
from nodediag.redaction import shapes as shapes_module
from nodediag.redaction import urls as urls_module
from nodediag.redaction.shapes import bip39_words

WORDS = sorted(bip39_words())
NAMES = ["key", "private_key", "API_KEY", "passwd", "Token", "--l1-private-key", "l1PrivateKey", "secret",
         "client_secret", "mnemonic", "credentials", "password", "apikey", "access-key", "authorization", "Cookie",
         "keys", "pass", "mykey.x", "\u017fecret", "pa\u017fsword", "\u212aEY", "privatekeys", "keykey", "a.b-c_token",
         "tokens", "secretHash"]
SEPARATORS = ["=", ":", " : ", '":"', "': '", " ", "=\"", ":\n", "=\n", ": \n", ':"\n', ": '\n", ':\\"\n', "\t=\t",
              ":\r\n", " =  \n", "\n"]
VALUES = ["0x" + "ab12" * 16, "hunter2hunter2", "s3cr3tV4lue99", "null", "<key>", "$VAR", "abc", "1234567",
          "[REDACTED:api_key#0123abcd]", "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNry",
          '"quoted value 1"', "'sq'", "  0xdeadbeefdeadbeef", "zz9988776655",
          "Xk3vQ9pL2mN7rT4wZ8yB1cD6", "https://eth.g.alchemy.com/v2/Xk3vQ9pL2mN7rT4wZ8yB1cD6 ", "http://u:pw1234@h/ "]
ODD = ["é", "日本", "—", "\udcff", "\u0130", "\u212a", "\u017f", "X", "A", "-", "_", ".", ",", ";", "{", "}", '"', "'",
       " ", "  ", "\t", "\\", "\r", "the", "is", "abandonn", "verylongword",
       "2026-11-27T00:00:01.123456789Z ", "app | "]


def _phrase(n: int, seed: int) -> str:
    return " ".join(WORDS[(seed * 7919 + i * 104729) % len(WORDS)] for i in range(n))


PHRASES = [_phrase(n, n) for n in (11, 12, 13, 15, 24, 30)]
fragment = st.one_of(
    st.sampled_from(NAMES), st.sampled_from(SEPARATORS), st.sampled_from(VALUES), st.sampled_from(ODD),
    st.sampled_from(PHRASES), st.sampled_from(WORDS).map(lambda w: w + " "),
    st.text(alphabet="abcdefgkpstyz ABKSXY019:=\"'\\\n\t.-_", max_size=10),
)
texts = st.lists(fragment, max_size=60).map("".join)
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _marks() -> tuple[list[tuple[str, int]], Callable[[str, str], str], Callable[[str, int], None]]:
    found: list[tuple[str, int]] = []

    def placeholder(kind: str, value: str) -> str:
        return f"[REDACTED:{kind}#{len(value):08x}]"

    def record(kind: str, pos: int) -> None:
        found.append((kind, pos))

    return found, placeholder, record


@SETTINGS
@given(text=texts)
def test_line_end_separators_found_backwards_as_forwards(text: str) -> None:
    assert cuts_module._separators_at_line_ends(text) == plain.separators_at_line_ends(text)


@SETTINGS
@given(text=texts)
def test_seed_phrases_found_per_run_as_per_line(text: str) -> None:
    fast_found, placeholder, record = _marks()
    plain_found, plain_placeholder, plain_record = _marks()
    fast = shapes_module.redact_mnemonics(text, placeholder, record)
    assert fast == plain.redact_mnemonics(text, plain_placeholder, plain_record)
    assert fast_found == plain_found


def _match_log(matches: list[tuple[int, int, str]]) -> Callable[[re.Match[str]], str]:
    def repl(m: re.Match[str]) -> str:
        matches.append((m.start(), m.end(), m.group()))
        return "<" + m.group("name").upper() + ">" if len(matches) % 2 else m.group()
    return repl


@SETTINGS
@given(text=texts)
def test_secret_names_tried_at_name_starts_as_everywhere(text: str) -> None:
    for line in text.split("\n"):
        fast_matches: list[tuple[int, int, str]] = []
        plain_matches: list[tuple[int, int, str]] = []
        fast = assignments_module._substitute(line, _match_log(fast_matches))
        assert fast == plain.substitute_assignments(line, _match_log(plain_matches))
        assert fast_matches == plain_matches


@pytest.mark.parametrize("line", [
    "\u017fecret=abcdef123456 token=abcdef123456",  # long s: IGNORECASE matches it as s, lower() does not
    "x \u212aEY=abcdef123456 and api_key=zz9988776655",  # the Kelvin sign
    "keykeykey=abcdef123456 a.b-c_token: 'k3y-v4lue-123' --l1-private-key zz9988776655",
    "secretHash=0x12 my_token.x=1 mykey.x=abcdef123456 x_token = abcdef123456",
    "keykey" * 200 + "=abcdef123456 x_token=abc123456",  # more stems than are looked at one by one
    "a" * 5000 + "_private_key=0xfeedface12345678 " + "b-" * 3000 + "token: abcdef123456",  # long name runs
])
def test_secret_names_tried_at_name_starts_as_everywhere_on_known_lines(line: str) -> None:
    fast_matches: list[tuple[int, int, str]] = []
    plain_matches: list[tuple[int, int, str]] = []
    fast = assignments_module._substitute(line, _match_log(fast_matches))
    assert fast == plain.substitute_assignments(line, _match_log(plain_matches))
    assert fast_matches == plain_matches and plain_matches


def _redact_all(text: str, feeds: int) -> tuple[list[str], dict[str, int], dict[str, list[int]]]:
    """Text streamed in ``feeds`` parts through a redactor that knows one key, each part's
    output with both leak gates' verdict; the counts and line numbers."""
    r = Redactor(key=b"k" * 32)
    r.add_secret("Xk3vQ9pL2mN7rT4wZ8yB1cD6", "api_key")
    counts = RedactionCounts()
    stream = r.stream(counts)
    step = max(1, len(text) // feeds)
    outputs: list[str] = []
    for at in range(0, len(text), step):
        out = stream.write(text[at:at + step])
        outputs += [out, str(r.output_leak(out, "x.log"))]
    outputs += [stream.close(), repr(Redactor(key=b"k" * 32).find_shape_leaks(text))]
    return outputs, dict(counts.by_kind), {k: list(v) for k, v in counts.lines_by_kind.items()}


def _fast_and_plain(text: str, feeds: int) -> None:
    fast = _redact_all(text, feeds)
    with pytest.MonkeyPatch.context() as m:
        m.setattr(cuts_module, "_separators_at_line_ends", plain.separators_at_line_ends)
        m.setattr(assignments_module, "_substitute", plain.substitute_assignments)
        m.setattr(redactor_module, "redact_mnemonics", plain.redact_mnemonics)
        m.setattr(redactor_module.Redactor, "_lower_known", False)
        slow = _redact_all(text, feeds)
    assert fast == slow


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=texts, feeds=st.integers(min_value=1, max_value=4))
def test_the_redactor_with_every_line_path_plain_gives_the_same(text: str, feeds: int) -> None:
    _fast_and_plain(text, feeds)


@pytest.mark.parametrize("text", [
    # an earlier pass changes the block (a known key, a URL's password) before the secret names
    "rpc https://eth.g.alchemy.com/v2/Xk3vQ9pL2mN7rT4wZ8yB1cD6 then token=abc123456 x-api-key: 00AA11BB22\n",
    "u Xk3vQ9pL2mN7rT4wZ8yB1cD6 http://u:pw1234@h/ key x secret=s3cr3tV4lue99\nprivateKey:\n  0xfeedface12345678\n",
    "a key then a token=abc123456 and a pass word password: 'hunter2hunter2'\n",  # two stems, the match on the second
])
def test_the_redactor_with_every_line_path_plain_gives_the_same_on_known_text(text: str) -> None:
    _fast_and_plain(text, 1)


SCHEMES = ["http", "https", "file", "ws", "HTTPS", "ftp", "x"]
HOSTS = ["eth.g.alchemy.com", "ETH-MAINNET.G.ALCHEMY.COM", "mainnet.infura.io", "rpc.ankr.com", "x.quiknode.pro",
         "prover-broker:8080", "user:pw1234@host", "u@h", "172.18.0.1:8080", "", "[REDACTED:api_key#0123abcd]@h"]
URL_PARTS = ["/v2/", "/v3/", "/eth/", "/usr/src/yarn-project/prover-client/dest/prover_facade.js", ":762:52",
             "/Xk3vQ9pL2mN7rT4wZ8yB1cD6", "/abc.def-ghi_jkl_mno_pqr_stu", "shortkey12", "?apikey=abc123",
             "?x=1&token=zz9988776655", "#frag", "#", "/", ".", "-", "_", "[REDACTED:api_key#0123abcd]"]
url = st.tuples(st.sampled_from(SCHEMES), st.sampled_from(HOSTS),
                st.lists(st.one_of(st.sampled_from(URL_PARTS), st.text(alphabet="aK0_-./:?#@=&", max_size=6)),
                         max_size=6)).map(lambda t: f"{t[0]}://{t[1]}{''.join(t[2])}")
url_texts = st.lists(st.tuples(url, st.sampled_from([" ", "\n", ") ", " (", '"', ". ", ", "])), max_size=4).map(
    lambda parts: "".join(u + sep for u, sep in parts))  # few: many would nearly always hold one that changes


def _redact_urls(text: str) -> tuple[str, list[tuple[str, int]], list[tuple[str, str]], list[tuple[str, str]]]:
    found, placeholder, record = _marks()
    learnt: list[tuple[str, str]] = []
    userinfo: list[tuple[str, str]] = []
    cache = urls_module.UrlCache()
    out = ""
    for line in text.splitlines(keepends=True) + [text]:  # line by line (the cache filling up), then whole
        out += urls_module.redact_urls(line, placeholder, record, cache, lambda s, k: learnt.append((s, k)),
                                       lambda u, p: userinfo.append((u, p)))
    return out, found, learnt, userinfo


@SETTINGS
@given(text=url_texts)
def test_urls_screened_together_and_more_sharply_as_one_by_one(text: str) -> None:
    fast = _redact_urls(text)
    with pytest.MonkeyPatch.context() as m:
        m.setattr(urls_module, "_may_hold_secret", plain.may_hold_secret)
        m.setattr(urls_module, "_none_may_hold_secret", plain.none_may_hold_secret)
        assert fast == _redact_urls(text)


@pytest.mark.parametrize("url", [
    "https://ETH-MAINNET.G.ALCHEMY.COM/v2/abc.def-ghi_jkl_mno_pqr_stu",  # the run-less rewrite, as before
    "https://eth.g.alchemy.com/v2/shortkey12", "https://ETH-MAINNET.G.ALCHEMY.COM/v2/shortkey12",
    "https://BASE-MAINNET.QUIKNODE.PRO/ab12cd34/", "https://host/a/Xk3vQ9pL2mN7rT4wZ8yB1cD6#x",
    "https://host/a/Xk3vQ9pL2mN7rT4wZ8yB1cD6", "http://u:pw1234@host/x", "https://host/x?apikey=abc123",
])
def test_a_url_the_rewrite_changes_is_never_screened_out(url: str) -> None:
    body = url.split("://", 1)[1]
    assert urls_module.rewrite_url_rest("https", body, []) != body
    assert urls_module._may_hold_secret(body)
    others = {f"://host{i}/usr/src/app.js:{i}:5" for i in range(20)}  # screened together with these
    assert not urls_module._none_may_hold_secret(others | {"://" + body})
    assert urls_module._none_may_hold_secret(others)


@pytest.mark.parametrize("text", [
    "\u0130" * 30 + " lowers to more characters\ntoken=abc123456 and x-api-key: 00AA11BB22\n",
    "plain ascii\napi_key: s3cr3tV4lue99\n", "caf\u00e9 api_\u212aey=abcdef123456\n",
])
def test_the_leak_gate_given_the_lower_case_it_made_finds_the_same(text: str) -> None:
    r = Redactor(key=b"k" * 32)
    fast = r.output_leak(text, "x.log"), r.find_shape_leaks(text)
    with pytest.MonkeyPatch.context() as m:
        m.setattr(redactor_module.Redactor, "_lower_known", False)
        assert (r.output_leak(text, "x.log"), r.find_shape_leaks(text)) == fast
    assert fast[0] is not None  # each holds a credential the gate must see
