"""`collect` on the live engine: a deployment whose .env, compose file, container env and logs carry
every class of issue 11 (header credentials, escaped quotes, JSON in strings, comma-plus-space
lists, multi-line values, encoded forms, a label-chosen host file). No planted value may reach
the bundle or the reports made from it; the evidence around them stays."""

from __future__ import annotations

import base64
import io
import json
import re
import secrets
import string
import uuid
from urllib.parse import quote

import pytest
from waiting import wait_until

from tests.docker.test_collect import all_bytes, extract, nodediag
from tests.unit.late_secret_samples import make_late_secrets

pytestmark = pytest.mark.docker


def _token(n: int) -> str:
    alphabet = string.ascii_letters + string.digits
    while True:
        value = "".join(secrets.choice(alphabet) for _ in range(n))
        if sum(c.isdigit() for c in value) >= 3 and sum(c.isalpha() for c in value) >= 3:
            return value


OTEL_TOKEN, HONEYCOMB = _token(32), _token(24)
DB_PASSWORD = 'Ab3"' + _token(16)  # written with an escaped quote in .env
KEY_A, KEY_B = secrets.token_hex(32), secrets.token_hex(32)
BEACON_KEY = _token(30)
SLACK = _token(24)
RPC_PASSWORD = _token(18)
REDIS_PASSWORD = _token(8) + "&" + _token(8) + "/x"
JSON_API_KEY = _token(28)
LOG_ONLY_API_KEY, COOKIE, JSON_STRING_KEY, ADMIN_KEY = _token(30), _token(26), secrets.token_hex(32), \
    secrets.token_hex(32)
PEM_LINES = [base64.b64encode(secrets.token_bytes(48)).decode() for _ in range(3)]
MNEMONIC = "frost ladder hybrid cruel unveil cattle mother rescue ozone trap drift nephew"
SHADOW = f"root:$6${_token(8)}${_token(40)}:19000:0:99999:7:::"
FEE_RECIPIENT = "0x" + secrets.token_hex(32)

# Learnt only from a log line, after earlier lines (and the container's inspect.json) printed them
LATE = make_late_secrets()
# Cut from their names at collect's --line-cap cut (8 KB here), or printed on the line after the name
CUT_TOKEN, CUT_PASSWORD, NEXT_LINE_KEY = _token(36), _token(7) + " " + _token(9) + " !x", secrets.token_hex(32)
LINE_CAP = 8192
STAMP = len("2026-12-03T10:00:00.000000000Z ")  # docker's timestamp before every line collect reads

SECRETS = {
    "otel bearer": OTEL_TOKEN, "honeycomb key": HONEYCOMB, "db password tail": DB_PASSWORD[4:],
    "validator key a": KEY_A, "validator key b": KEY_B, "beacon key": BEACON_KEY, "slack webhook": SLACK,
    "rpc password": RPC_PASSWORD, "redis password": REDIS_PASSWORD, "redis url-encoded": quote(REDIS_PASSWORD, safe=""),
    "json api key": JSON_API_KEY, "log-only api key": LOG_ONLY_API_KEY, "cookie": COOKIE,
    "json-in-string key": JSON_STRING_KEY, "admin key": ADMIN_KEY, "basic of rpc credential":
    base64.b64encode(f"op:{RPC_PASSWORD}".encode()).decode(), "shadow": SHADOW.split(":")[1],
    **{f"pem line {i}": line for i, line in enumerate(PEM_LINES)},
    "mnemonic words 5-8": " ".join(MNEMONIC.split()[4:8]),
    **{f"late {name}": form for name, form in LATE.forms().items()},
    "next-line key": NEXT_LINE_KEY,
}


def _env_text() -> str:
    pem = "\n".join(["-----BEGIN PRIVATE KEY-----", *PEM_LINES, "-----END PRIVATE KEY-----"])
    words = MNEMONIC.split()
    return (
        f"OTEL_EXPORTER_OTLP_HEADERS=Authorization=Bearer {OTEL_TOKEN},x-honeycomb-team={HONEYCOMB}\n"
        f'DB_PASSWORD="{DB_PASSWORD.replace(chr(34), chr(92) + chr(34))}"  # escaped quote\n'
        f'VALIDATOR_PRIVATE_KEYS="0x{KEY_A}, 0x{KEY_B}"\n'
        "L1_CONSENSUS_HOST_API_KEY_HEADERS=X-Beacon-Auth\n"
        f"L1_CONSENSUS_HOST_API_KEYS={BEACON_KEY}\n"
        f"ALERT_WEBHOOK_URL=https://hooks.slack.com/services/T0AB12CDE/B0FG34HIJ/{SLACK}\n"
        f"ETHEREUM_HOSTS=https://op:{RPC_PASSWORD}@rpc.example.org/\n"
        f"REDIS_PASSWORD='{REDIS_PASSWORD}'\n"
        f'TLS_KEY="{pem}"\n'
        f'L1_MNEMONIC="{" ".join(words[:4])}\n{" ".join(words[4:8])}\n{" ".join(words[8:])}"\n'
        f"FEE_RECIPIENT={FEE_RECIPIENT}\n"
    )


def _script() -> str:
    lines = [
        f"[10:00:00.000] INFO: otlp exporter headers Authorization: Bearer {OTEL_TOKEN} x-honeycomb-team: {HONEYCOMB}",
        f'[10:00:00.100] INFO: beacon request {{"x-api-key":"{LOG_ONLY_API_KEY}","accept":"*/*"}}',
        f"[10:00:00.200] INFO: http response Set-Cookie: session={COOKIE}; Path=/; HttpOnly",
        '[10:00:00.300] INFO: config {"level":30,"config":"{\\"publisherPrivateKey\\":\\"0x'
        + JSON_STRING_KEY + '\\"}"}',
        f"[10:00:00.400] INFO: db connect password {DB_PASSWORD}",
        f"[10:00:00.500] INFO: attester {KEY_B.upper()} loaded",
        f"[10:00:00.600] INFO: beacon X-Beacon-Auth: {BEACON_KEY}",
        f"[10:00:00.700] INFO: proxy Authorization: Basic {base64.b64encode(f'op:{RPC_PASSWORD}'.encode()).decode()}",
        f"[10:00:00.800] WARN: recovered phrase {MNEMONIC.upper()}",
        f"[10:00:00.900] INFO: tls key line {PEM_LINES[1]}",
        f"[10:00:01.000] INFO: redis connect redis://:{quote(REDIS_PASSWORD, safe='')}@redis:6379/0 ok",
        "  ADMIN API KEY (save this — it will NOT be shown again)",
        "",
        f"    {ADMIN_KEY}",
        f"[10:00:01.100] INFO: fee recipient {FEE_RECIPIENT} and {{\"apiKey\":\"{JSON_API_KEY}\"}}",
    ]
    lines += [*LATE.early_lines(ts=""), "publisherPrivateKey:", f"  0x{NEXT_LINE_KEY}"]
    quoted = "\n".join(lines).replace("'", "'\"'\"'")
    learning = "\n".join(LATE.learning_lines(ts="")).replace("'", "'\"'\"'")

    def cut_line(before: str, value: str, into: int) -> str:
        """A line longer than LINE_CAP whose cut falls ``into`` characters into the value."""
        pad = LINE_CAP - STAMP - len("[10:00:03.000] INFO: ") - len(" | ") - len(before) - into
        return ("printf '%s\\n' \"[10:00:03.000] INFO: $(head -c " + str(pad) + " /dev/zero | tr '\\0' x) | "
                + re.sub(r'(["\\\\$`])', r"\\\1", before + value)
                + " tail $(head -c 20000 /dev/zero | tr '\\0' y)\" >&2; ")

    return (f"printf '%s\\n' '{quoted}' >&2; "
            # more than a block of lines: the lines above are redacted before the values are learnt
            "i=0; while [ $i -lt 24000 ]; do echo \"[10:00:02.000] INFO: archiver Synced to block $i\"; "
            "i=$((i+1)); done >&2; "
            f"printf '%s\\n' '{learning}' >&2; "
            + cut_line("Authorization: Bearer ", CUT_TOKEN, 5) + cut_line('{"password":"', CUT_PASSWORD + '"}', 9)
            + "sleep 300")


@pytest.fixture(scope="module")
def planted_bundle(docker_client, test_image, compose, tmp_path_factory):
    work = tmp_path_factory.mktemp("classes")
    project_dir = work / "aztec-prover"
    project_dir.mkdir()
    shadow = work / "shadow"
    shadow.write_text(SHADOW + "\n")
    shadow.chmod(0o600)
    # an image LABEL is enough to point compose's env-file label anywhere: not trusted
    image_tag = f"nodediag-test/labelled:{uuid.uuid4().hex[:8]}"
    dockerfile = f"FROM {test_image}\nLABEL com.docker.compose.project.environment_file={shadow}\n"
    docker_client.images.build(fileobj=io.BytesIO(dockerfile.encode()), tag=image_tag, rm=True, pull=False)
    (project_dir / ".env").write_text(_env_text())
    (project_dir / "compose.yaml").write_text(
        "services:\n"
        "  prover-node:\n"
        f"    image: {image_tag}\n"
        f"    command: {json.dumps(['sh', '-c', _script(), 'start', '--prover-node'])}\n"
        "    network_mode: none\n"
        "    labels:\n"  # inspect.json, written before the log that teaches the value
        f"      note: 'restored session {LATE.opaque} for {LATE.urlsafe}'\n"
        "    environment:\n"
        "      OTEL_EXPORTER_OTLP_HEADERS: ${OTEL_EXPORTER_OTLP_HEADERS}\n"
        "      DB_PASSWORD: ${DB_PASSWORD}\n"
        "      VALIDATOR_PRIVATE_KEYS: ${VALIDATOR_PRIVATE_KEYS}\n"
        "      L1_CONSENSUS_HOST_API_KEY_HEADERS: ${L1_CONSENSUS_HOST_API_KEY_HEADERS}\n"
        "      L1_CONSENSUS_HOST_API_KEYS: ${L1_CONSENSUS_HOST_API_KEYS}\n"
        "      ETHEREUM_HOSTS: ${ETHEREUM_HOSTS}\n"
        "      FEE_RECIPIENT: ${FEE_RECIPIENT}\n"
        f"      EXTRA_CONFIG: '{{\"apiKey\":\"{JSON_API_KEY}\"}}'\n")
    project = f"classes-{uuid.uuid4().hex[:8]}"
    compose("up", "--detach", "--no-build", "--pull", "never", project_dir=project_dir, project=project)
    try:
        container = docker_client.containers.list(filters={"label": f"com.docker.compose.project={project}"})[0]
        # the banner and the late-learnt lines must be in the log before collection, or "no leak"
        # would prove nothing
        wait_until(lambda: ADMIN_KEY.encode() in container.logs() and container.logs().count(b" tail yyy") >= 2,
                   90, "the admin key banner and the late-learnt lines in the log")
        out = work / "b.tar.zst"
        proc = nodediag("collect", "--project", project, "--since", "1h", "--timeout", "180",
                        "--line-cap", str(LINE_CAP), "-o", str(out))
        assert proc.returncode == 0, proc.stderr
        root = extract(out, work / "x")
        yield out, root, proc, work
    finally:
        compose("down", "-v", "--remove-orphans", "--timeout", "3", project_dir=project_dir, project=project,
                check=False)
        docker_client.images.remove(image_tag, force=True)


def test_no_planted_value_reaches_the_bundle(planted_bundle):
    _, root, proc, _ = planted_bundle
    blob = all_bytes(root).lower()
    leaked = [name for name, value in SECRETS.items() if value.lower().encode() in blob]
    assert leaked == []
    assert SHADOW.encode().lower() not in blob and SECRETS["db password tail"].lower() not in proc.stderr.lower()


def test_no_part_of_a_value_cut_from_its_name_reaches_the_bundle(planted_bundle):
    _, root, _, _ = planted_bundle
    blob = all_bytes(root)
    for value in (CUT_TOKEN, CUT_PASSWORD, NEXT_LINE_KEY):
        assert [value[i:i + 6] for i in range(len(value) - 5) if value[i:i + 6].encode() in blob] == []
    assert blob.count(b"[nodediag: line cut here") >= 2


def test_a_value_learnt_from_a_log_is_gone_from_what_was_written_before(planted_bundle):
    _, root, _, _ = planted_bundle
    manifest = json.loads((root / "manifest.json").read_text())
    assert manifest["redaction"]["late_rewritten_files"] >= 2  # the log itself and inspect.json
    inspect = next(root.glob("containers/*/inspect.json")).read_text()
    assert "restored session [REDACTED:" in inspect
    blob = all_bytes(root)
    for kept in LATE.near_misses:
        assert kept.encode() in blob, kept


def test_the_evidence_around_the_secrets_stays(planted_bundle):
    _, root, _, _ = planted_bundle
    blob = all_bytes(root)
    for kept in (FEE_RECIPIENT.encode(), b"X-Beacon-Auth", b"x-honeycomb-team", b"Set-Cookie: session=",
                 b"hooks.slack.com/services/", b"publisherPrivateKey", b'"x-api-key":"[REDACTED:'):
        assert kept in blob, kept
    manifest = json.loads((root / "manifest.json").read_text())
    assert not any("shadow" in c["path"] for c in manifest["deployment"]["config_files"])


def test_reports_of_the_bundle_hold_no_planted_value(planted_bundle):
    out, _, _, work = planted_bundle
    for fmt in ("html", "json", "md"):
        report = work / f"report.{fmt}"
        proc = nodediag("analyze", str(out), "-f", fmt, "-o", str(report))
        assert "Traceback" not in proc.stderr
        text = report.read_text().lower()
        assert [name for name, value in SECRETS.items() if value.lower() in text] == []
