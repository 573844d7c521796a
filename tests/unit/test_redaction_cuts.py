"""An UNKNOWN credential cut away from its name: at the cut of an overlong line (redact's and
analyze's 8 MiB stream cut, the --max-line-bytes cut, collect's --line-cap cut) and printed on the
line after its name. No part of the value may survive; near-misses stay as they are. Values are
generated per run, in several shapes, each behind several kinds of name."""

from __future__ import annotations

import base64
import secrets
import string
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from nodediag.analyzer.inputs.manual_guide import redact_raw_log
from nodediag.bundle.limits import DEFAULT_LIMITS
from nodediag.bundle.writer import BundleWriter
from nodediag.cli import main
from nodediag.collector.engine import Source, SourceContext, SourceResult
from nodediag.redaction import RedactionCounts, Redactor
from nodediag.redaction import redactor as redactor_module
from tests.unit.test_redact_command import members


def _mixed(n: int, alphabet: str = string.ascii_letters + string.digits) -> str:
    while True:
        value = "".join(secrets.choice(alphabet) for _ in range(n))
        if sum(c.isdigit() for c in value) >= 3 and sum(c.isalpha() for c in value) >= 3:
            return value


def _values() -> dict[str, str]:
    jwt = ".".join(base64.urlsafe_b64encode(secrets.token_bytes(n)).decode().rstrip("=") for n in (20, 40, 32))
    return {"hex key": "0x" + secrets.token_hex(32), "jwt": "eyJ" + jwt, "base64 token":
            base64.b64encode(secrets.token_bytes(33)).decode(), "url-safe key": _mixed(16) + "-" + _mixed(12, "ab_9"),
            "password": _mixed(8) + "!#$" + _mixed(6) + "%*@x"}


#: (name, the text before the value, the text after it)
HOLDERS = [("assignment", "PRIVATE_KEY=", " loaded"), ("spaced", "publisherPrivateKey: ", " ok"),
           ("bearer", "Authorization: Bearer ", " next"), ("api key header", "x-api-key: ", " accept: */*"),
           ("json", '{"apiKey": "', '", "n": 1}'), ("flag", "--l1-private-key ", " --rpc x")]


def _pieces(value: str) -> list[str]:
    """Every 6-character piece of value: none may be left anywhere."""
    return [value[i:i + 6] for i in range(len(value) - 5)]


def _survivors(text: str, value: str) -> list[str]:
    return [p for p in _pieces(value) if p in text]


NEAR = ["0x" + secrets.token_hex(32), "0x" + secrets.token_hex(20), "sha256:" + secrets.token_hex(32)]
NEAR_LINE = f"tx {NEAR[0]} prover {NEAR[1]} image {NEAR[2]} Authorization header missing\n"


#: The stream's cut (8 MiB) made smaller, so that a test's lines stay small; the code is the same.
STREAM_CUT = 128 * 1024


@pytest.fixture(autouse=True)
def small_stream_cut(monkeypatch):
    monkeypatch.setattr(redactor_module, "MAX_LINE_CHARS", STREAM_CUT)


FILLERS = (("x" * 1000 + " | ", " "), ("x" * 1000, "="))


def _stream_lines(before: str, value: str, after: str, cut_in_value: int, tail: int = 100_000,
                  fillers: tuple[tuple[str, str], ...] = FILLERS) -> list[str]:
    """Overlong lines (past the stream's cut) whose cut falls ``cut_in_value`` characters into
    the value: one with separators before the credential, one with none for 64 KiB (``=`` is not
    one). ``tail``: what follows, so that the cut is made before the line's end is seen."""
    lines = []
    for filler, end in fillers:
        size = STREAM_CUT - len(before) - cut_in_value
        head = (filler * (size // len(filler) + 1))[: size - 1] + end
        lines.append(head + before + value + after + " " + "y" * tail + "\n")
    return lines


def _check_stream_output(out: str, values: dict[str, str]) -> None:
    for name, value in values.items():
        assert _survivors(out, value) == [], name
    assert NEAR_LINE in out


def _values_for(holder: str) -> dict[str, str]:
    values = _values()
    if holder in ("bearer", "api key header"):  # a header's token is never a password with punctuation
        del values["password"]
    return values


def test_redact_of_a_log_file_leaves_no_part_of_a_value_cut_at_the_stream_cut(tmp_path: Path) -> None:
    """The real command on a file (read in 1 MiB blocks): every shape behind a name at the cut."""
    values = _values_for("bearer")
    source = tmp_path / "node.log"
    with source.open("w") as fh:
        for i, value in enumerate(values.values()):
            # one line each: a value also seen whole elsewhere would be learnt there and removed anyway
            for line in _stream_lines("Authorization: Bearer ", value, " next", cut_in_value=2 + 3 * i, tail=1 << 20,
                                      fillers=FILLERS[:1]):
                fh.write(line)
        fh.write(NEAR_LINE)
    out = tmp_path / "clean.log"
    result = CliRunner().invoke(main, ["redact", str(source), "-o", str(out)])
    assert result.exit_code == 0, result.output
    _check_stream_output(out.read_text(), values)


@pytest.mark.parametrize("holder", HOLDERS, ids=[h[0] for h in HOLDERS])
def test_the_stream_cut_never_leaves_a_part_of_a_value_on_either_side(holder) -> None:
    """What redact (and analyze, with a raised --max-line-bytes) write a log through, fed in
    64 KiB writes: the cut falls 1 to 14 characters into the value of every shape."""
    name, before, after = holder
    values = _values_for(name)
    stream = Redactor().stream(RedactionCounts())
    out: list[str] = []
    for i, value in enumerate(values.values()):
        for cut_in_value in (1, 2 + 3 * i):
            for line in _stream_lines(before, value, after, cut_in_value):
                out.extend(stream.write(line[j:j + 65536]) for j in range(0, len(line), 65536))
    out.append(stream.write(NEAR_LINE) + stream.close())
    _check_stream_output("".join(out), values)


def test_a_long_value_glued_to_its_name_is_redacted_on_both_sides_of_the_cut() -> None:
    """No separator for 64 KiB and a value already long at the cut: the cut stays inside the
    value, the part before it is redacted and the part after it is taken as the rest of the value."""
    value = _mixed(40) * 300  # 12 000 characters, cut about 10 000 in
    redactor = Redactor()
    stream = redactor.stream(RedactionCounts())
    line = "x" * (STREAM_CUT - 10_000) + "apiKey=" + value + " tail " + "y" * (5 << 20 >> 2) + "\n" + NEAR_LINE
    out = "".join(stream.write(line[i:i + (1 << 20)]) for i in range(0, len(line), 1 << 20)) + stream.close()
    assert _survivors(out, value[:40]) == [] and out.count("[REDACTED:api_key#") == 2
    assert " tail yyy" in out and out.endswith(NEAR_LINE)


@pytest.mark.parametrize("holder", HOLDERS, ids=[h[0] for h in HOLDERS])
def test_the_max_line_bytes_cut_keeps_no_part_of_an_open_value(tmp_path: Path, holder) -> None:
    """analyze and redact cut lines at --max-line-bytes (1 MiB here) and drop the rest: a quoted
    value with spaces or a name left without its value must not stay in the kept head."""
    _, before, after = holder
    values = {"spaced password": _mixed(6) + " " + _mixed(7) + " !x", **_values()}
    source = tmp_path / "node.log"
    cap = DEFAULT_LIMITS.max_line_bytes
    with source.open("w") as fh:
        for i, value in enumerate(values.values()):
            head = ("x" * 500 + " | ") * (cap // 503 + 1)
            head = head[: cap - len(before) - (3 + 2 * i)]
            quoted = '"' + value + '"' if " " in value and not before.endswith('"') else value
            fh.write(head + before + quoted + after + "y" * 5000 + "\n")
        fh.write(NEAR_LINE)
    target = tmp_path / "redacted.log"
    redact_raw_log(source, target, max_bytes=1 << 30)
    text = target.read_text()
    for name, value in values.items():
        assert _survivors(text, value) == [], name
    assert NEAR_LINE in text and text.count("line cut by nodediag") == len(values)


@pytest.mark.parametrize("holder", HOLDERS, ids=[h[0] for h in HOLDERS])
def test_collects_line_cap_cut_keeps_no_part_of_a_value(tmp_path: Path, holder) -> None:
    _, before, after = holder
    values = {"spaced password": _mixed(6) + " " + _mixed(7), **_values()}
    writer = BundleWriter.create(tmp_path / "b.tar.zst")
    path = "containers/c/logs.txt"
    ctx = SourceContext(Source("container_logs:c", lambda c: None, writes=(path,)), writer, Redactor(), None,
                        SourceResult("container_logs:c"), time.monotonic() + 60, line_cap=4096)
    log = ctx.log_writer(path, 10 << 20)
    ts = "2026-12-03T08:00:00.000000000Z "
    for i, value in enumerate(values.values()):
        for split in (1, 4 + i):
            quoted = '"' + value + '"' if " " in value and not before.endswith('"') else value
            head = ts + "x" * (4096 - len(ts) - len(before) - split - 3) + " | "
            log.feed((head + before + quoted + after + " " + "y" * 9000 + "\n").encode())
    log.feed((ts + NEAR_LINE).encode())
    log.finish()
    bundle = writer.finish({"format": "nodediag-bundle", "format_version": 1})
    text = members(bundle)[path].decode()
    for name, value in values.items():
        assert _survivors(text, value) == [], name
    assert text.endswith(ts + NEAR_LINE) and text.count("[nodediag: line cut here") == 2 * len(values)
    assert "[nodediag: line cut here" in text.splitlines()[0]  # the marker itself is never taken for a value


NEXT_LINE_HOLDERS = [("yaml", "publisherPrivateKey:", "  {v}"), ("json", '  "apiKey":', '    "{v}",'),
                     ("header", "Authorization:", "  Bearer {v}"), ("env", "DB_PASSWORD=", "{v}"),
                     ("escaped json", '\\"l1PrivateKey\\":', '\\"{v}\\"')]


@pytest.mark.parametrize("prefix", ["", "2026-12-03T08:00:00.000000000Z ", "prover-node-1  | "])
def test_a_value_printed_on_the_line_after_its_name_is_redacted_and_learnt(prefix: str) -> None:
    values = _values()
    lines = []
    for (_, name_line, value_line), value in zip(NEXT_LINE_HOLDERS, values.values(), strict=False):
        lines += [prefix + "[08:00:00.000] INFO: config dump", prefix + name_line, prefix + value_line.format(v=value)]
    near = [prefix + "txHash:", prefix + "  " + NEAR[0], prefix + "proverId:", prefix + "  " + NEAR[1],
            prefix + "Authorization:", prefix + "  required", prefix + "api_key:", prefix + "Starting job id=1"]
    later = [prefix + f"again {v}" for v in values.values()]
    text = "\n".join(lines + near + later) + "\n"
    redactor = Redactor()
    out = redactor.redact_text(text, RedactionCounts())
    for name, value in values.items():
        assert _survivors(out, value) == [], name
    assert "\n".join(near) in out
    # in a stream, the name at the end of one block and the value at the start of the next
    stream = Redactor().stream(RedactionCounts())
    split = text.index("\n", text.index(NEXT_LINE_HOLDERS[0][1])) + 1
    streamed = stream.feed(text[:split]) + stream.feed(text[split:]) + stream.close()
    assert _survivors(streamed, values["hex key"]) == [] and streamed.count("\n") == text.count("\n")
