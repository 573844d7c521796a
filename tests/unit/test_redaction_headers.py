"""Credentials in HTTP headers and JSON inside JSON strings: redacted (values only) and propagated."""

from __future__ import annotations

import json
import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nodediag.redaction import PLACEHOLDER_RE, RedactionCounts, Redactor
from nodediag.redaction.headers import _SCHEMES as AUTH_SCHEMES

TOKEN = "Zq3kT9vLm2Xp8RwQ4nYc7HdF1sGb"
KEY = "hc7Yq2LmP9xR4tW8nK3vB6zD"
TIMESTAMP = "2026-11-27T18:30:00.000000000Z "

# (an auth scheme's own name, e.g. AWS4-HMAC-SHA256, which hypothesis takes from the code's constants,
# is the scheme that a credential follows, not a credential)
tokens = st.text(alphabet=string.ascii_letters + string.digits + "-._~", min_size=16, max_size=48).filter(
    lambda s: sum(c.isdigit() for c in s) >= 2 and sum(c.isalpha() for c in s) >= 2 and s.lower() not in AUTH_SCHEMES)
schemes = st.sampled_from(["Bearer", "Basic", "Token", "bearer", "ApiKey"])
header_forms = st.sampled_from([
    "Authorization: {scheme} {token}",
    "authorization={scheme} {token}",
    '{{"Authorization":"{scheme} {token}","accept":"*/*"}}',
    '"headers":"{{\\"Authorization\\":\\"{scheme} {token}\\"}}"',
    "Proxy-Authorization: {scheme} {token}",
    "x-api-key: {token}",
    '{{"x-api-key":"{token}","accept":"*/*"}}',
    "X-Auth-Token: {token}",
    "X-Client-Secret={token}",
    "Set-Cookie: session={token}; Path=/; HttpOnly",
    "Cookie: theme=dark; sid={token}",
])
json_in_string = st.sampled_from([
    '{{"level":30,"config":"{{\\"publisherPrivateKey\\":\\"{token}\\"}}"}}',
    '{{"msg":"loaded","data":"{{\\"apiKey\\":\\"{token}\\",\\"n\\":1}}"}}',
    '{{"msg":"{{\\"password\\": \\"{token}\\"}}"}}',
])


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(token=tokens, scheme=schemes, form=header_forms,
       prefix=st.text(alphabet=string.ascii_letters + " :", max_size=30))
def test_a_header_credential_never_survives_in_log_text(token: str, scheme: str, form: str, prefix: str) -> None:
    line = prefix + " " + form.format(scheme=scheme, token=token) + "\n"
    out = Redactor(b"k" * 32).redact_text(TIMESTAMP + line, RedactionCounts())
    assert token not in out
    # the name stays: a placeholder only ever replaces a value
    name = form.split(":")[0].split("=")[0].strip('{"\\ ').split('"')[-1]
    assert name.lower() in out.lower()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(token=tokens, form=json_in_string)
def test_a_secret_in_json_inside_a_json_string_never_survives(token: str, form: str) -> None:
    line = form.format(token=token)
    json.loads(line)  # the form is real JSON
    out = Redactor(b"k" * 32).redact_text(line + "\n", RedactionCounts())
    assert token not in out and PLACEHOLDER_RE.search(out)
    json.loads(out)  # and stays JSON


def test_otel_headers_in_env_are_learnt_and_propagated_everywhere() -> None:
    redactor = Redactor(b"k" * 32)
    env = f"OTEL_EXPORTER_OTLP_HEADERS=Authorization=Bearer {TOKEN},x-honeycomb-team={KEY}\n"
    out = redactor.redact_env_file(env, RedactionCounts())
    assert TOKEN not in out and KEY not in out
    assert out.startswith("OTEL_EXPORTER_OTLP_HEADERS=Authorization=Bearer [REDACTED:")
    assert ",x-honeycomb-team=[REDACTED:" in out
    compose = ("services:\n  node:\n    environment:\n"
               f"      - OTEL_EXPORTER_OTLP_HEADERS=Authorization=Bearer%20{TOKEN}\n")
    assert TOKEN not in redactor.redact_compose(compose, RedactionCounts())
    inspect = redactor.redact_json({"Config": {"Env": [env.strip()]}}, RedactionCounts())
    assert TOKEN not in json.dumps(inspect) and KEY not in json.dumps(inspect)
    log = redactor.redact_text(f"exporter sent team={KEY} token {TOKEN}\n", RedactionCounts())
    assert TOKEN not in log and KEY not in log


def test_the_header_named_in_config_is_a_credential_header_and_its_name_stays() -> None:
    redactor = Redactor(b"k" * 32)
    out = redactor.redact_env_file("L1_CONSENSUS_HOST_API_KEY_HEADERS=X-goog-api-key,X-Beacon-Auth\n",
                                   RedactionCounts())
    assert out == "L1_CONSENSUS_HOST_API_KEY_HEADERS=X-goog-api-key,X-Beacon-Auth\n"
    log = redactor.redact_text(f"request headers: X-Beacon-Auth: {KEY}, x-goog-api-key={TOKEN}\n", RedactionCounts())
    assert KEY not in log and TOKEN not in log and "X-Beacon-Auth: [REDACTED:" in log


def test_a_header_value_found_in_a_log_is_propagated_to_later_lines() -> None:
    redactor = Redactor(b"k" * 32)
    stream = redactor.stream(RedactionCounts())
    out = stream.feed(f"GET /status Authorization: Bearer {TOKEN}\n") + stream.feed(f"retrying with {TOKEN}\n")
    assert TOKEN not in out + stream.close()


def test_near_misses_around_headers_stay() -> None:
    text = ("Authorization failed for this request\n"
            "the x-api-key header is missing; set Authorization: required\n"
            "headers: accept=*/*, content-type=application/json\n"
            "Cookie banner shown\n")
    assert Redactor(b"k" * 32).redact_text(text, RedactionCounts()) == text


punctuated = st.lists(st.text(alphabet=string.ascii_letters + string.digits, min_size=5, max_size=12), min_size=2,
                      max_size=5).flatmap(lambda parts: st.lists(st.sampled_from("!#$*@^|"), min_size=len(parts) - 1,
                                                                 max_size=len(parts) - 1).map(
    lambda marks: parts[0] + "".join(m + p for m, p in zip(marks, parts[1:], strict=True))))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(token=punctuated, scheme=schemes, form=st.sampled_from([
    "Authorization: {scheme} {token}", "Proxy-Authorization: {scheme} {token}",
    '{{"Authorization":"{scheme} {token}","accept":"*/*"}}', "authorization={scheme} {token}"]))
def test_an_authorization_value_with_punctuation_goes_whole(token: str, scheme: str, form: str) -> None:
    """A credential is not only token68: an API key or password sent as `Bearer a!b#c` loses every
    part, not just the part before its first punctuation mark."""
    line = "request failed " + form.format(scheme=scheme, token=token) + " (retrying)\n"
    out = Redactor(b"k" * 32).redact_text(TIMESTAMP + line, RedactionCounts())
    assert out.startswith(TIMESTAMP + "request failed ") and out.endswith(" (retrying)\n"), out
    header = out[len(TIMESTAMP + "request failed "):-len(" (retrying)\n")]
    for part in "".join(c if c.isalnum() else " " for c in token).split():
        assert part not in header, (line, out)
    assert "authorization" in header.lower() and PLACEHOLDER_RE.search(header)
