"""A bundle's redaction must not depend on the order its sources happen to finish in.

`collect` learns every secret before any source writes (the harvest), then sources run in parallel.
A secret that only the text passes recognise by its context (the admin key banner, a
`"publisherPrivateKey":"0x.."` inside a JSON string, a header) used to be learnt only when a file
holding it in that readable form was redacted: the container's inspect (its command decoded from
JSON) or its log. A compose file holding the same command in YAML's escaped form, written before
them, kept the secret (seen on a loaded machine, where the config source finished first)."""

from __future__ import annotations

import json
import secrets

import pytest

from nodediag.redaction import RedactionCounts, Redactor

ADMIN_KEY = secrets.token_hex(32)
JSON_STRING_KEY = secrets.token_hex(32)
HEADER_TOKEN = "Qm7xKp2LrT9vW4nZ8cYb3HfJd6GsAe1U"
SCRIPT = "\n".join([
    "[10:00:00.300] INFO: config {\"level\":30,\"config\":\"{\\\"publisherPrivateKey\\\":\\\"0x"
    + JSON_STRING_KEY + "\\\"}\"}",
    "[10:00:00.700] INFO: otlp exporter headers Authorization: Bearer " + HEADER_TOKEN,
    "  ADMIN API KEY (save this — it will NOT be shown again)",
    "",
    f"    {ADMIN_KEY}",
    "[10:00:01.100] INFO: ready",
])
COMMAND = ["sh", "-c", f"printf '%s\\n' '{SCRIPT}' >&2; sleep 300", "start", "--prover-node"]
# the same command as a compose file writes it: a flow sequence of JSON strings (escaped newlines, quotes)
COMPOSE = f"services:\n  prover-node:\n    image: aztecprotocol/aztec:2.1.2\n    command: {json.dumps(COMMAND)}\n"
PLANTED = {"admin key": ADMIN_KEY, "json-in-string key": JSON_STRING_KEY, "bearer token": HEADER_TOKEN}


def harvested() -> Redactor:
    """A redactor after collect's harvest of the container (its Cmd), before any file is written."""
    redactor = Redactor(key=b"k" * 32)
    redactor.harvest_command(COMMAND)
    return redactor


def leaked(text: str) -> list[str]:
    low = text.lower()
    return [name for name, value in PLANTED.items() if value.lower() in low]


def test_the_compose_file_written_first_keeps_no_secret_its_command_prints() -> None:
    redactor = harvested()
    out = redactor.redact_compose(COMPOSE, RedactionCounts())
    assert leaked(out) == [], out
    assert "aztecprotocol/aztec:2.1.2" in out and "ADMIN API KEY" in out  # the evidence around them stays


@pytest.mark.parametrize("order", ["compose, inspect, log", "log, inspect, compose", "inspect, compose, log"])
def test_every_file_is_redacted_alike_whichever_source_writes_first(order: str) -> None:
    redactor = harvested()
    writers = {
        "compose": lambda: redactor.redact_compose(COMPOSE, RedactionCounts()),
        "inspect": lambda: json.dumps(redactor.redact_json({"Config": {"Cmd": COMMAND}}, RedactionCounts())),
        "log": lambda: redactor.redact_text(SCRIPT + "\n", RedactionCounts()),
    }
    outputs = {name: writers[name]() for name in order.split(", ")}
    assert {name: leaked(text) for name, text in outputs.items()} == {name: [] for name in outputs}
