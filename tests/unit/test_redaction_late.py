"""A secret first found in a log (a header value, a key in an RPC URL) is removed from every place
it appears, also BEFORE the line where it was learnt and from files written before it: in the
collect engine, in `redact` (log file, folder, guide archive) and in `analyze` of raw inputs.
Values are generated per run; near-misses (hashes, addresses, ids, digests, header names) stay."""

from __future__ import annotations

import io
import json
import tarfile
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from nodediag.bundle.writer import BundleWriter
from nodediag.cli import main
from nodediag.collector.engine import Runner, Source, SourceContext, SourceResult
from nodediag.redaction import RedactionCounts, Redactor
from tests.unit.late_secret_samples import LateSecrets, leaked, make_late_secrets
from tests.unit.test_redact_command import members, nodediag

FILLER = b"2026-11-27T18:35:00.000000000Z [18:35:00.000] INFO: archiver Synced to block 1234\n" * 20_000


@pytest.fixture
def values() -> LateSecrets:
    return make_late_secrets()


def _log(values: LateSecrets, learn: bool = True) -> str:
    lines = values.early_lines() + (values.learning_lines() if learn else []) + \
        values.early_lines("2026-11-27T18:50:00.000000000Z ")
    return "\n".join(lines) + "\n"


def _near_misses_kept(text: str, values: LateSecrets) -> None:
    for kept in values.near_misses:
        assert kept in text, kept
    assert "Authorization x-api-key the Authorization header was missing" in text


def test_the_late_fix_covers_only_what_was_learnt_after(values: LateSecrets) -> None:
    redactor = Redactor()
    since = redactor.generation
    early = redactor.redact_text("\n".join(values.early_lines()) + "\n", RedactionCounts())
    assert leaked(early, values)  # nothing names them yet
    redactor.redact_text("\n".join(values.learning_lines()) + "\n", RedactionCounts())
    fix = redactor.late_fix(since)
    assert fix is not None and fix.present(early)
    counts = RedactionCounts()
    fixed = fix.fix(early, counts, first_line=1)
    assert leaked(fixed, values) == [] and counts.total >= len(values.forms())
    _near_misses_kept(fixed, values)
    assert redactor.late_fix(redactor.generation) is None


def test_the_collect_engine_removes_a_late_secret_from_files_written_before(tmp_path: Path,
                                                                             values: LateSecrets) -> None:
    early = _log(values, learn=False)

    def inspect(ctx: SourceContext) -> None:
        ctx.write_json("containers/a/inspect.json", {"Labels": {"note": values.early_lines()[0]},
                                                     "Config": {"Cmd": ["run", values.urlsafe]}})

    def first_log(ctx: SourceContext) -> None:
        log = ctx.log_writer("containers/a/logs.txt", 10 << 20)
        log.feed(early.encode())
        log.finish()

    def second_log(ctx: SourceContext) -> None:
        log = ctx.log_writer("containers/b/logs.txt", 10 << 20)
        log.feed(early.encode())
        log.feed(FILLER)  # more than a block: the early lines are redacted before the value is learnt
        log.feed(_log(values).encode())
        log.finish()

    writer = BundleWriter.create(tmp_path / "b.tar.zst")
    runner = Runner(writer, Redactor(), None, deadline=time.monotonic() + 60, workers=1)
    results = runner.run([Source("inspect:a", inspect, writes=("containers/a/inspect.json",)),
                          Source("logs:a", first_log, writes=("containers/a/logs.txt",)),
                          Source("logs:b", second_log, writes=("containers/b/logs.txt",))])
    assert [r.status for r in results] == ["ok", "ok", "ok"] and runner.leak is None
    assert runner.late_rewritten == 3
    bundle = writer.finish({"format": "nodediag-bundle", "format_version": 1})
    files = {path: data.decode() for path, data in members(bundle).items()}
    for path, text in files.items():
        assert leaked(text, values) == [], path
    _near_misses_kept(files["containers/a/logs.txt"], values)
    # the rewrite is counted, with line numbers
    record = next(r for r in writer.records if r.path == "containers/a/logs.txt")
    assert sum(record.redactions.values()) >= len(values.forms())
    assert runner.redacted_lines["containers/a/logs.txt"]


def test_redact_of_a_log_file_removes_a_secret_before_the_line_it_was_learnt_on(tmp_path: Path,
                                                                                 values: LateSecrets) -> None:
    source = tmp_path / "node.log"
    source.write_text(_log(values))
    out = tmp_path / "clean.log"
    proc = nodediag("redact", str(source), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    text = out.read_text()
    assert leaked(text, values) == []
    _near_misses_kept(text, values)
    assert oct(out.stat().st_mode & 0o777) == "0o600"


def test_redact_of_a_folder_removes_a_late_secret_from_files_redacted_before(tmp_path: Path,
                                                                             values: LateSecrets) -> None:
    folder = tmp_path / "logs"
    folder.mkdir()
    (folder / "a-first.log").write_text(_log(values, learn=False))  # redacted first, learns nothing
    (folder / "b-second.log").write_text(_log(values))
    out = tmp_path / "clean"
    proc = nodediag("redact", str(folder), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    for name in ("a-first.log", "b-second.log"):
        text = (out / name).read_text()
        assert leaked(text, values) == [], name
        _near_misses_kept(text, values)


def _guide_archive(tmp_path: Path, values: LateSecrets) -> Path:
    archive = tmp_path / "aztec_diagnostics.tar.gz"
    files = {"aztec_diagnostics/agent.log": _errors_before(values) + _log(values, learn=False),  # before the node's
             "aztec_diagnostics/prover-node.log": _log(values),
             "aztec_diagnostics/containers.txt": f"NAMES IMAGE\naztec-prover-prover-node-1 {values.near_misses[3]}\n",
             "aztec_diagnostics/config.env": "P2P_IP=203.0.113.7\n"}
    with tarfile.open(archive, "w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return archive


def test_redact_of_the_guide_archive_removes_a_late_secret_everywhere(tmp_path: Path, values: LateSecrets) -> None:
    out = tmp_path / "guide.tar.zst"
    proc = nodediag("redact", str(_guide_archive(tmp_path, values)), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    files = {path: data.decode() for path, data in members(out).items()}
    for path, text in files.items():
        assert leaked(text, values) == [], path
    _near_misses_kept(files["containers/prover-agent/logs.txt"], values)
    manifest = json.loads(files["manifest.json"])
    assert manifest["redaction"]["late_rewritten_files"] >= 1  # the agent's log, redacted before
    assert nodediag("verify", str(out)).returncode == 0


def test_redact_of_a_bundle_removes_a_late_secret_from_members_before(tmp_path: Path, values: LateSecrets) -> None:
    first = tmp_path / "first.tar.zst"
    assert nodediag("redact", str(_guide_archive(tmp_path, values)), "-o", str(first)).returncode == 0
    # an older bundle whose logs still hold the values (written before this fix): built by hand
    writer = BundleWriter.create(tmp_path / "old.tar.zst")
    writer.add_bytes("containers/a/logs.txt", _log(values, learn=False).encode(), "container_logs:a")
    writer.add_bytes("containers/b/logs.txt", _log(values).encode(), "container_logs:b")
    old = writer.finish({"format": "nodediag-bundle", "format_version": 1, "status": "complete"})
    out = tmp_path / "again.tar.zst"
    proc = nodediag("redact", str(old), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    for path, data in members(out).items():
        assert leaked(data.decode(), values) == [], path


def _errors_before(values: LateSecrets) -> str:
    """ERROR lines (shown as evidence or unexplained errors) printing every form, before it is learnt."""
    return "".join(f"2026-11-27T18:29:{i:02d}.000000000Z [18:29:{i:02d}.000] ERROR: archiver Error fetching "
                   f"block: upstream rejected {form} (code 401)\n" for i, form in enumerate(values.forms().values()))


@pytest.mark.parametrize("fmt", ["md", "json", "html"])
def test_analyze_of_a_raw_log_shows_no_late_secret(tmp_path: Path, values: LateSecrets, fmt: str) -> None:
    source = tmp_path / "node.log"
    source.write_text(_errors_before(values) + FILLER.decode() + _log(values))  # learnt a block later
    out = tmp_path / f"report.{fmt}"
    result = CliRunner().invoke(main, ["analyze", str(source), "-f", fmt, "-o", str(out)])
    assert result.exit_code in (0, 1, 2), result.output
    report = out.read_text()
    assert "upstream rejected [REDACTED:" in report.replace("&#34;", '"')
    assert leaked(report, values) == [] and leaked(result.output, values) == []


def test_analyze_of_the_guide_archive_shows_no_late_secret(tmp_path: Path, values: LateSecrets) -> None:
    out = tmp_path / "report.json"
    result = CliRunner().invoke(main, ["analyze", str(_guide_archive(tmp_path, values)), "-f", "json",
                                       "-o", str(out)])
    assert result.exit_code in (0, 1, 2), result.output
    report = out.read_text()
    assert "upstream rejected [REDACTED:" in report and leaked(report, values) == []


def test_a_block_redacted_in_pieces_is_whole_when_its_last_piece_teaches_a_secret(values: LateSecrets) -> None:
    """A big block is redacted in pieces: a value learnt in the last piece is gone from the first
    ones before the block is handed out (and gated: the gate must not see it and refuse the file)."""
    redactor = Redactor()
    block = ("\n".join(values.early_lines()) + "\n" + FILLER.decode()[:400_000]
             + "\n".join(values.learning_lines()) + "\n")
    out = redactor.stream(RedactionCounts()).feed(block)
    assert leaked(out, values) == [] and redactor.output_leak(out, "logs.txt") is None
    _near_misses_kept(out, values)


def test_a_value_another_source_learns_meanwhile_is_replaced_not_taken_for_a_leak(tmp_path: Path,
                                                                                  values: LateSecrets) -> None:
    """Sources run in parallel: while one redacts a container's inspect output, another learns a
    value that output holds. The write-time gate must not refuse the bundle for it: it is replaced."""
    writer = BundleWriter.create(tmp_path / "b.tar.zst")
    ctx = SourceContext(Source("container_inspect:a", lambda c: None, writes=("containers/a/inspect.json",)),
                        writer, Redactor(), None, SourceResult("container_inspect:a"), time.monotonic() + 60)
    counts, since = RedactionCounts(), ctx.generation
    text = ctx.redactor.redact_text(json.dumps({"Cmd": ["sh", "-c", "\n".join(values.early_lines())]}, indent=2),
                                    counts)  # nothing in it names the values
    ctx.redactor.redact_text("\n".join(values.learning_lines()) + "\n", RedactionCounts())  # the other source
    ctx._commit("containers/a/inspect.json", text, counts, since)
    bundle = writer.finish({"format": "nodediag-bundle", "format_version": 1})
    assert leaked(members(bundle)["containers/a/inspect.json"].decode(), values) == [] and counts.total > 0


@pytest.mark.parametrize("parsed_by_a_child", [False, True])
def test_analyze_of_a_raw_log_redacted_while_it_is_read_shows_no_late_secret(
        tmp_path: Path, values: LateSecrets, monkeypatch: pytest.MonkeyPatch, parsed_by_a_child: bool) -> None:
    """A big raw log is redacted by a child while the scan reads the copy (redact_ahead.py): a secret
    that child learns late is fixed in its copy after the scan read the lines before; the report
    must not show them as they were."""
    from nodediag.analyzer import forking, parse_child
    from nodediag.analyzer.inputs import redact_ahead

    monkeypatch.setattr(forking, "can_fork_helper", lambda: True)
    monkeypatch.setattr(redact_ahead, "AHEAD_MIN_BYTES", 0)
    monkeypatch.setattr(parse_child, "SPLIT_MIN_BYTES", 0 if parsed_by_a_child else 1 << 62)
    source = tmp_path / "node.log"
    source.write_text(_errors_before(values) + FILLER.decode() + _log(values))
    out = tmp_path / "report.json"
    result = CliRunner().invoke(main, ["analyze", str(source), "-f", "json", "-o", str(out)])
    assert result.exit_code in (0, 1, 2), result.output
    report = out.read_text()
    assert "upstream rejected [REDACTED:" in report and leaked(report, values) == []
