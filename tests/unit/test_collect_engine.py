"""The source engine and the collection around it, in-process and without Docker: declared writes,
true durations under the deadline, config reading bounded by --timeout, the progress line."""

from __future__ import annotations

import io
import json
import os
import threading
import time
from pathlib import Path

import pytest

from nodediag.bundle.writer import BundleWriter
from nodediag.cli.collect import Progress
from nodediag.collector import collect as collect_mod
from nodediag.collector.collect import CollectOptions, collect
from nodediag.collector.engine import Runner, Source, SourceContext, SourceResult
from nodediag.redaction import Redactor
from tests.unit.test_collect_cli import run


@pytest.fixture
def no_docker(monkeypatch, tmp_path):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")


def runner(tmp_path: Path, deadline_s: float = 30) -> tuple[BundleWriter, Runner]:
    writer = BundleWriter.create(tmp_path / "b.tar.zst")
    return writer, Runner(writer, Redactor(), None, deadline=time.monotonic() + deadline_s, grace=1)


def test_a_write_the_source_did_not_declare_is_refused(tmp_path):
    def sneaky(ctx: SourceContext) -> None:
        ctx.write_json("host/elsewhere.json", {"a": 1})

    writer, r = runner(tmp_path)
    results = r.run([Source("host_summary", sneaky, writes=("host/summary.json",))])
    assert results[0].status == "failed" and "does not declare" in (results[0].error or "")
    assert writer.records == []
    writer.abort()


def test_durations_are_true_when_the_deadline_cuts_sources(tmp_path):
    def slow(ctx: SourceContext) -> None:
        while True:
            ctx.check()
            time.sleep(0.05)

    def quick(ctx: SourceContext) -> None:
        ctx.write_json("host/summary.json", {"ok": True})

    writer, r = runner(tmp_path, deadline_s=1.0)
    started = time.monotonic()
    results = r.run([Source("slow", slow, timeout=30, writes=("x",)), Source("host_summary", quick, timeout=30,
                                                                            writes=("host/summary.json",))])
    took = time.monotonic() - started
    by = {res.name: res for res in results}
    assert by["slow"].status == "timeout" and "--timeout" in (by["slow"].error or "")
    assert 0.8 <= by["slow"].duration_s <= took + 0.1  # not the source's own 30 s limit
    assert by["host_summary"].status == "ok" and by["host_summary"].duration_s < 1
    assert r.status == "deadline"
    writer.abort()


def test_a_hung_config_file_does_not_outlive_the_timeout(no_docker, tmp_path, monkeypatch):
    env = tmp_path / "prover.env"
    env.write_text("PROVER_ID=0x" + "1" * 40 + "\n")
    release = threading.Event()
    real = collect_mod.config.read_config

    def hung(cf):  # a config file on a filesystem that stopped answering
        release.wait(60)
        return real(cf)

    monkeypatch.setattr(collect_mod.config, "read_config", hung)
    try:
        started = time.monotonic()
        outcome = collect(CollectOptions(output=tmp_path / "b.tar.zst", env_files=(env,), timeout=2.0))
        took = time.monotonic() - started
    finally:
        release.set()
    assert took < 2.0 + 5 + 3, took  # the deadline, the grace period, and a little slack
    assert any("took longer than" in w for w in outcome.warnings)
    source = next(r for r in outcome.results if r.name.startswith("config:"))
    assert source.status in ("timeout", "skipped") and outcome.exit_code == 4


def test_a_fifo_given_as_env_file_does_not_hang(no_docker, tmp_path):
    fifo = tmp_path / "env.fifo"
    os.mkfifo(fifo)
    started = time.monotonic()
    try:
        outcome = collect(CollectOptions(output=tmp_path / "b.tar.zst", env_files=(fifo,), timeout=2.0))
    finally:  # an abandoned reader, if any, gets its end of file and finishes
        try:
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:
            pass
    assert time.monotonic() - started < 2.0 + 5 + 3
    assert outcome.path.exists()
    config = next(r for r in outcome.results if r.name.startswith("config:"))
    assert config.status in ("timeout", "skipped", "failed"), config


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_shows_bytes_and_rate_for_a_big_log_on_a_terminal_only():
    big = SourceResult("container_logs:node", bytes_read=25 << 20)
    small = SourceResult("container_logs:agent", bytes_read=5 << 20)
    tty = Tty()
    progress = Progress(tty)
    progress("start", big, [big.name, small.name])
    progress("bytes", small, [small.name])
    assert "read," not in tty.getvalue()
    progress("bytes", big, [big.name])
    assert tty.getvalue().rsplit("\r\x1b[K", 1)[1] == \
        "  [0 done] running: container_logs:node 25.0 MB read, container_logs:agent"
    time.sleep(1.0)
    big.bytes_read = 35 << 20
    progress("bytes", big, [big.name])
    line = tty.getvalue().rsplit("\r\x1b[K", 1)[1]
    assert "container_logs:node 35.0 MB read, " in line and "MB/s" in line and "\n" not in line
    rate = float(line.split(" MB read, ", 1)[1].split(" ")[0])
    assert 5 <= rate <= 10.5  # 10 MB in a bit more than a second
    plain = io.StringIO()
    quiet = Progress(plain)
    quiet("bytes", big, [big.name])
    assert plain.getvalue() == ""


def test_dry_run_lists_what_each_source_declares(tmp_path):
    proc = run("--dry-run", "--json", "--exclude", "host_cpu", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    planned = {s["name"]: s for s in json.loads(proc.stdout)["sources"]}
    assert planned["host_summary"]["writes"] == ["host/summary.json"]
    assert planned["kernel_oom"]["writes"] == ["host/kernel-oom.txt"]
    assert planned["host_cpu"]["status"] == "excluded" and planned["host_cpu"]["writes"] == ["host/cpu.json"]
    assert list(tmp_path.iterdir()) == []


def test_a_hung_secret_harvest_writes_nothing_and_says_so(no_docker, tmp_path, monkeypatch):
    release = threading.Event()

    def hung(*args, **kwargs):  # e.g. a secret file on a filesystem that stopped answering
        release.wait(60)
        return iter(())

    monkeypatch.setattr(collect_mod.psutil, "process_iter", hung)
    started = time.monotonic()
    try:
        with pytest.raises(collect_mod.CollectError, match="did not finish within --timeout") as caught:
            collect(CollectOptions(output=tmp_path / "b.tar.zst", timeout=1.5))
    finally:
        release.set()
    assert time.monotonic() - started < 1.5 + 2
    assert caught.value.exit_code == 1
    assert list(tmp_path.iterdir()) == []


def test_a_stop_while_the_held_files_are_written_keeps_those_written(tmp_path, monkeypatch):
    """Files wait (redacted) until every source ran; Ctrl-C while they are written into the bundle
    keeps the ones written and records the others' sources as not written."""
    def first(ctx: SourceContext) -> None:
        ctx.write_json("host/summary.json", {"ok": True})

    def second(ctx: SourceContext) -> None:
        ctx.write_json("host/disks.json", {"ok": True})

    writer = BundleWriter.create(tmp_path / "b.tar.zst")
    r = Runner(writer, Redactor(), None, deadline=time.monotonic() + 30, grace=1, workers=1)  # held in order
    commit = writer.commit

    def interrupted(spool, redactions=None):
        if spool.path == "host/disks.json":
            raise KeyboardInterrupt
        return commit(spool, redactions)

    monkeypatch.setattr(writer, "commit", interrupted)
    results = r.run([Source("host_summary", first, writes=("host/summary.json",)),
                     Source("host_disks", second, writes=("host/disks.json",))])
    by = {res.name: res for res in results}
    assert r.status == "interrupted" and [rec.path for rec in writer.records] == ["host/summary.json"]
    assert by["host_summary"].status == "ok" and by["host_disks"].status == "failed"
    assert "interrupted" in (by["host_disks"].error or "")
    assert list(writer.spool_dir.iterdir()) == []  # no redacted copy left behind
    writer.abort()


def test_a_held_file_that_cannot_be_written_fails_its_source_and_the_rest_is_kept(tmp_path, monkeypatch):
    def first(ctx: SourceContext) -> None:
        ctx.write_json("host/summary.json", {"ok": True})

    def second(ctx: SourceContext) -> None:
        ctx.write_json("host/disks.json", {"ok": True})

    writer = BundleWriter.create(tmp_path / "b.tar.zst")
    r = Runner(writer, Redactor(), None, deadline=time.monotonic() + 30, grace=1, workers=1)  # held in order
    commit = writer.commit

    def broken(spool, redactions=None):
        if spool.path == "host/summary.json":
            raise OSError(5, "Input/output error")
        return commit(spool, redactions)

    monkeypatch.setattr(writer, "commit", broken)
    results = r.run([Source("host_summary", first, writes=("host/summary.json",)),
                     Source("host_disks", second, writes=("host/disks.json",))])
    by = {res.name: res for res in results}
    assert r.status == "complete" and [rec.path for rec in writer.records] == ["host/disks.json"]
    assert by["host_summary"].status == "failed" and "Input/output error" in (by["host_summary"].error or "")
    assert by["host_disks"].status == "ok"
    path = writer.finish({"format": "nodediag-bundle", "format_version": 1})
    assert path.exists()
