"""The one .env reader (nodediag.envfile): compose's rules, and both sides of the tool using it."""

from __future__ import annotations

from pathlib import Path

from nodediag.analyzer.facts import load_facts
from nodediag.analyzer.model import LoadedInput
from nodediag.envfile import env_values, parse_env
from nodediag.redaction import RedactionCounts, Redactor

ENV = (
    "# a comment\n"
    "export EXPORTED=1\n"
    'ESCAPED="abc\\"defghijklmnopq"  # trailing comment\n'
    "SINGLE='it\\'s raw'\n"
    "PLAIN=plain value # inline comment\n"
    "TABBED=value\t# after a tab\n"
    "HASH=a#b\n"
    'NEWLINE="one\\ntwo"\n'
    'MULTI="line one\n'
    'line two"\n'
    "AFTER=still read\n"
    "YAMLISH: colon form\n"
    "EMPTY=\n"
)


def test_values_are_read_as_compose_reads_them() -> None:
    assert env_values(ENV) == {
        "EXPORTED": "1", "ESCAPED": 'abc"defghijklmnopq', "SINGLE": "it\\'s raw", "PLAIN": "plain value",
        "TABBED": "value", "HASH": "a#b", "NEWLINE": "one\ntwo", "MULTI": "line one\nline two",
        "AFTER": "still read", "YAMLISH": "colon form", "EMPTY": ""}


def test_line_numbers_and_commented_keys() -> None:
    entries = {e.key: e for e in parse_env(ENV + "# OLD_KEY=commented out\n", commented=True)}
    assert entries["AFTER"].line == 11
    assert entries["OLD_KEY"].commented and entries["OLD_KEY"].value == "commented out"
    assert "OLD_KEY" not in env_values(ENV + "# OLD_KEY=commented out\n")


def test_redaction_learns_the_whole_escaped_value() -> None:
    secret = 'abc"defghijklmnopq'
    redactor = Redactor(b"k" * 32)
    out = redactor.redact_env_file('DB_PASSWORD="abc\\"defghijklmnopq"\n', RedactionCounts())
    assert "defghijklmnopq" not in out and out.startswith('DB_PASSWORD="[REDACTED:password#') and out.endswith('"\n')
    log = redactor.redact_text(f'connecting with {secret} and {{"password":"abc\\"defghijklmnopq"}}\n',
                               RedactionCounts())
    assert "defghijklmnopq" not in log


def test_multi_line_values_go_as_a_whole() -> None:
    words = "scene ripple join elevator\nsession flavor toward tenant\nunaware web myth despair"
    pem_body = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\nVJTUt9Us8cKjMzEfYyjiWA4R4/M2bS1G"
    text = (f'VALIDATOR_MNEMONIC="{words}"\n'
            f'TLS_KEY="-----BEGIN PRIVATE KEY-----\n{pem_body}\n-----END PRIVATE KEY-----"\nNEXT=1\n')
    redactor = Redactor(b"k" * 32)
    out = redactor.redact_env_file(text, RedactionCounts())
    for word in words.split() + pem_body.split("\n"):
        assert word not in out
    assert out.endswith("NEXT=1\n")
    log = redactor.redact_text("SESSION FLAVOR TOWARD TENANT\n" + pem_body.split("\n")[1] + "\n", RedactionCounts())
    assert "TENANT" not in log and "VJTUt9Us8" not in log


def test_the_analyzer_reads_config_with_the_same_reader(tmp_path: Path) -> None:
    (tmp_path / "config" / "p").mkdir(parents=True)
    (tmp_path / "config" / "p" / ".env").write_text(ENV)
    inp = LoadedInput(kind="folder-v1", root=tmp_path, files=["config/p/.env"], manifest={})
    facts = load_facts(inp)
    assert facts.config_files[0].env == env_values(ENV)
