"""Redaction of config: key-name rules, .env files, compose files, docker inspect and command lines."""

from __future__ import annotations

import re

import pytest

from nodediag.redaction import RedactionCounts, Redactor, secret_kind_for_name

KEY = "0x" + "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"
KEY2 = "0x" + "8da4ef21b864d2cc526dbdb2a120bd2874c36c9d0a1fb7f8c63d7f7a8b41de8f"
ADDRESS = "0x1234567890abcdef1234567890abcdef12345678"
ALCHEMY_KEY = "Xk3vQ9pL2mN7rT4wZ8yB1cD6"
PLACEHOLDER = re.compile(r"\[REDACTED:([a-z_]+)#([0-9a-f]{8})\]")


@pytest.fixture
def redactor() -> Redactor:
    return Redactor(key=b"k" * 32)


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("PROVER_PUBLISHER_PRIVATE_KEY", "private_key"),
        ("VALIDATOR_PRIVATE_KEYS", "private_key"),
        ("l1PrivateKey", "private_key"),
        ("--l1-private-key", "private_key"),
        ("DB_SECRET", "secret"),
        ("client-secret", "secret"),
        ("POSTGRES_PASSWORD", "password"),
        ("ftp_passwd", "password"),
        ("KEYSTORE_PASSPHRASE", "password"),
        ("GITHUB_TOKEN", "token"),
        ("ETHERSCAN_API_KEY", "api_key"),
        ("ADMIN_API_KEYS", "api_key"),
        ("infuraApiKey", "api_key"),
        ("BLOCKSCOUT_APIKEY", "api_key"),
        ("AWS_SECRET_ACCESS_KEY", "api_key"),
        ("L1_MNEMONIC", "mnemonic"),
        ("GOOGLE_APPLICATION_CREDENTIALS", "secret"),
        ("registry-credential", "secret"),
    ],
)
def test_secret_names_by_suffix(name: str, kind: str) -> None:
    assert secret_kind_for_name(name) == kind


@pytest.mark.parametrize(
    "name",
    ["secretHash", "PROVER_ID", "TOKEN_ADDRESS", "FEE_JUICE_TOKEN_ADDRESS", "PRIVATE_KEY_PATH",
     "PASSWORD_FILE", "MAX_TOKENS", "SECRETS_DIR", "LOG_LEVEL", "P2P_IP", "KEY"],
)
def test_near_miss_names_are_not_secret(name: str) -> None:
    assert secret_kind_for_name(name) is None


ENV_FILE = f"""# Aztec prover node
export PROVER_PUBLISHER_PRIVATE_KEY={KEY}
# PROVER_PRIVATE_KEY_OLD="{KEY2}"
ADMIN_API_KEY = 'sk-live-123456'   # the admin key
DB_PASSWORD="p@ss w0rd with spaces"
ETHEREUM_HOSTS=https://eth-sepolia.g.alchemy.com/v2/{ALCHEMY_KEY},http://geth:8545
PROVER_ID={ADDRESS}
TOKEN_ADDRESS={ADDRESS}
LOG_LEVEL=info;debug:prover-client  # verbose
SHORT_PASSWORD=abc
FROM_ENV_PASSWORD=${{HOST_PASSWORD}}
"""


def test_env_file_keeps_layout_and_hides_secrets(redactor: Redactor) -> None:
    counts = RedactionCounts()
    out = redactor.redact_env_file(ENV_FILE, counts)
    lines = out.splitlines()
    assert re.fullmatch(r"export PROVER_PUBLISHER_PRIVATE_KEY=\[REDACTED:private_key#[0-9a-f]{8}\]", lines[1])
    assert re.fullmatch(r'# PROVER_PRIVATE_KEY_OLD="\[REDACTED:private_key#[0-9a-f]{8}\]"', lines[2])
    assert re.fullmatch(r"ADMIN_API_KEY = '\[REDACTED:api_key#[0-9a-f]{8}\]'   # the admin key", lines[3])
    assert re.fullmatch(r'DB_PASSWORD="\[REDACTED:password#[0-9a-f]{8}\]"', lines[4])
    assert lines[5].startswith("ETHEREUM_HOSTS=https://eth-sepolia.g.alchemy.com/v2/[REDACTED:api_key#")
    assert lines[5].endswith(",http://geth:8545")
    assert lines[6] == f"PROVER_ID={ADDRESS}"
    assert lines[7] == f"TOKEN_ADDRESS={ADDRESS}"
    assert lines[8] == "LOG_LEVEL=info;debug:prover-client  # verbose"
    assert re.fullmatch(r"SHORT_PASSWORD=\[REDACTED:password#[0-9a-f]{8}\]", lines[9])
    assert lines[10] == "FROM_ENV_PASSWORD=${HOST_PASSWORD}"
    for secret in (KEY, KEY2, "sk-live-123456", "p@ss w0rd", ALCHEMY_KEY, "=abc"):
        assert secret.lower() not in out.lower()
    assert counts.by_kind["private_key"] == 2
    assert counts.by_kind["password"] == 2
    assert 2 in counts.lines


def test_short_values_are_redacted_in_place_but_not_propagated(redactor: Redactor) -> None:
    redactor.harvest_env_file(ENV_FILE)
    assert redactor.skipped_short == 1  # SHORT_PASSWORD=abc
    out = redactor.redact_text("the abc of it", RedactionCounts())
    assert out == "the abc of it"


COMPOSE = f"""# prover stack
services:
  prover-node:
    image: aztecprotocol/aztec:2.0.2  # pinned
    command: ["node", "main.js", "--l1-private-key", "{KEY2}"]
    environment:
      PROVER_PUBLISHER_PRIVATE_KEY: "{KEY}"   # the publisher
      ETHEREUM_HOSTS: https://rpc.ankr.com/eth_sepolia/{ALCHEMY_KEY}
      PROVER_ID: {ADDRESS}
      L1_MNEMONIC: |
        test test test test test test
        test test test test test junk
  prover-agent:
    environment:
      - PROVER_AGENT_COUNT=2
      - "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
      - PROVER_BROKER_HOST=http://prover-broker:8080
"""


def test_compose_map_and_list_forms_keep_layout(redactor: Redactor) -> None:
    counts = RedactionCounts()
    out = redactor.redact_compose(COMPOSE, counts)
    lines = out.splitlines()
    assert len(lines) == len(COMPOSE.splitlines()) - 1  # the two-line block scalar became one line
    assert lines[0] == "# prover stack"
    assert lines[3] == "    image: aztecprotocol/aztec:2.0.2  # pinned"
    assert re.fullmatch(r'      PROVER_PUBLISHER_PRIVATE_KEY: "\[REDACTED:private_key#[0-9a-f]{8}\]"   # the publisher',
                        lines[6])
    assert lines[7].startswith("      ETHEREUM_HOSTS: https://rpc.ankr.com/eth_sepolia/[REDACTED:api_key#")
    assert lines[8] == f"      PROVER_ID: {ADDRESS}"
    assert lines[9] == "      L1_MNEMONIC: |"
    assert re.fullmatch(r"        \[REDACTED:mnemonic#[0-9a-f]{8}\]", lines[10])
    assert lines[13] == "      - PROVER_AGENT_COUNT=2"
    assert re.fullmatch(r'      - "AWS_SECRET_ACCESS_KEY=\[REDACTED:api_key#[0-9a-f]{8}\]"', lines[14])
    assert lines[15] == "      - PROVER_BROKER_HOST=http://prover-broker:8080"
    assert "--l1-private-key" in lines[4] and KEY2[2:] not in out
    for secret in (KEY[2:], ALCHEMY_KEY, "wJalrXUtnFEMI", "test junk"):
        assert secret not in out


def test_compose_that_does_not_parse_falls_back_to_line_rules(redactor: Redactor) -> None:
    broken = f"services:\n  node:\n    environment:\n      PROVER_PUBLISHER_PRIVATE_KEY: {KEY}\n   bad: [unclosed\n"
    out = redactor.redact_compose(broken, RedactionCounts())
    assert KEY[2:] not in out and "bad: [unclosed" in out
    assert redactor.secrets_known >= 1


def test_inspect_env_cmd_and_args(redactor: Redactor) -> None:
    inspect = {
        "Id": "4f1e2d3c4b5a69788796a5b4c3d2e1f04f1e2d3c4b5a69788796a5b4c3d2e1f0",
        "Image": "sha256:" + "ab" * 32,
        "Config": {
            "Env": [f"PROVER_PUBLISHER_PRIVATE_KEY={KEY}", "LOG_LEVEL=info", f"PROVER_ID={ADDRESS}",
                    "SEED_MNEMONIC=short"],
            "Cmd": ["start", "--prover-node", "--l1-private-key", KEY2, "--admin-api-key=hunter2hunter2"],
            "Entrypoint": ["sh", "-c", f"node main.js --l1-private-key {KEY2} --archiver"],
            "Labels": {"com.docker.compose.service": "prover-node"},
        },
        "Args": ["--network", "sepolia"],
        "State": {"ExitCode": 137, "OOMKilled": True},
        "HostConfig": {"RegistryPassword": "registry-pass-1"},
    }
    counts = RedactionCounts()
    out = redactor.redact_json(inspect, counts)
    assert inspect["Config"]["Env"][0].endswith(KEY)  # a deep copy: the input is untouched
    env = out["Config"]["Env"]
    assert re.fullmatch(r"PROVER_PUBLISHER_PRIVATE_KEY=\[REDACTED:private_key#[0-9a-f]{8}\]", env[0])
    assert env[1:3] == ["LOG_LEVEL=info", f"PROVER_ID={ADDRESS}"]
    assert re.fullmatch(r"SEED_MNEMONIC=\[REDACTED:mnemonic#[0-9a-f]{8}\]", env[3])
    cmd = out["Config"]["Cmd"]
    assert cmd[:3] == ["start", "--prover-node", "--l1-private-key"]
    assert PLACEHOLDER.fullmatch(cmd[3]).group(1) == "private_key"
    assert re.fullmatch(r"--admin-api-key=\[REDACTED:api_key#[0-9a-f]{8}\]", cmd[4])
    assert KEY2[2:] not in out["Config"]["Entrypoint"][2] and "--archiver" in out["Config"]["Entrypoint"][2]
    assert out["Id"] == inspect["Id"] and out["Image"] == inspect["Image"]
    assert out["Args"] == ["--network", "sepolia"] and out["State"] == inspect["State"]
    assert PLACEHOLDER.fullmatch(out["HostConfig"]["RegistryPassword"])
    assert counts.total >= 5


def test_harvest_env_accepts_map_and_list(redactor: Redactor) -> None:
    redactor.harvest_env({"PROVER_PUBLISHER_PRIVATE_KEY": KEY, "LOG_LEVEL": "info"})
    redactor.harvest_env([f"VALIDATOR_KEYS={KEY2}", "P2P_PORT=40400"])
    assert redactor.secrets_known == 2
    out = redactor.redact_text(f"a {KEY} b {KEY2.upper()} c", RedactionCounts())
    assert KEY[2:] not in out.lower() and KEY2[2:] not in out.lower()


def test_key_named_list_of_hex_keys_is_private(redactor: Redactor) -> None:
    out = redactor.redact_env_file(f"VALIDATOR_KEYS={KEY},{KEY2}\nGENESIS_ROOT={KEY2}\n", RedactionCounts())
    first = out.splitlines()[0]
    assert re.fullmatch(r"VALIDATOR_KEYS=\[REDACTED:private_key#\w{8}\],\[REDACTED:private_key#\w{8}\]", first)
    assert KEY2[2:] not in out  # the second line too: the key is propagated


def test_detect_secrets_redacts_an_ambiguous_value_where_it_stands(redactor: Redactor) -> None:
    counts = RedactionCounts()
    out = redactor.redact_env_file("SOMETHING=Zx8qP3mVt7Lk2Wn9Rb4Yc6Hd1Jf5Gs0A\nNODE_ENV=production\n", counts)
    assert re.match(r"SOMETHING=\[REDACTED:ambiguous#[0-9a-f]{8}\]", out)
    assert "NODE_ENV=production" in out and counts.lines_by_kind == {"ambiguous": [1]}
    # not propagated: a guess must not remove evidence from the logs
    log = redactor.redact_text("boot with zx8qp3mvt7lk2wn9rb4yc6hd1jf5gs0a\n", RedactionCounts())
    assert "zx8qp3mvt7lk2wn9rb4yc6hd1jf5gs0a" in log


def test_names_that_say_public_are_not_overruled_by_the_second_opinion(redactor: Redactor) -> None:
    values = {"FEE_RECIPIENT": "0x2b6c1f3e9a4d8b7c5e0f1a2d3c4b5a69788796a5b4c3d2e1f0a9b8c7d6e5f4a3",
              "LAST_PROVEN_TX": "0x9f8e7d6c5b4a39281706f5e4d3c2b1a0f9e8d7c6b5a4938271605f4e3d2c1b0a",
              "GIT_COMMIT": "f3a9c2e81b7d4f6a0c5e9b2d8f1a7c3e6b0d4f92"}
    redactor.harvest_env(values)
    env = redactor.redact_json({"Env": [f"{k}={v}" for k, v in values.items()]}, RedactionCounts())
    assert env["Env"] == [f"{k}={v}" for k, v in values.items()]
    line = " ".join(values.values()) + "\n"
    assert redactor.redact_text(line, RedactionCounts()) == line


def test_detect_secrets_leaves_public_config_alone(redactor: Redactor) -> None:
    redactor.harvest_env({"PROVER_ID": ADDRESS, "DATA_DIRECTORY": "/var/lib/aztec/data",
                          "NODE_OPTIONS": "--max-old-space-size=8192",
                          "BOOTSTRAP_NODES": "enr:-Ji4QO4eYB3m5s9QXvLz2aH6a0cWqK3o2m7v9sV8pXzQ"})
    assert redactor.secrets_known == 0
