"""Hostile and damaged inputs (issue 13): every command, each input built here, run in a subprocess
under a memory limit and a timeout; the outcome is a one-line error or a bounded success.
No Docker needed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import zstandard

from tests.unit import hostile_builders as hb

MEMORY_MB = 1200  # every run below: address space, not RSS (Python plus zstandard start near 300 MB)
READERS = ("verify", "inspect")

DAMAGED: dict[str, Callable[[Path], Path]] = {
    "duplicate member": hb.duplicate_member,
    "truncated by one byte": hb.truncated_by_one_byte,
    "garbage after the last frame": hb.garbage_after_last_frame,
    "second top folder": hb.second_top_folder,
}
WORDS = {
    "duplicate member": "twice",
    "truncated by one byte": "truncated",
    "garbage after the last frame": "not Zstandard",
    "second top folder": "second top-level folder",
}


def redact(src: Path, out: Path, *extra: str, memory_mb: int = MEMORY_MB, timeout: float = 60) -> hb.Run:
    return hb.run_limited("redact", str(src), "-o", str(out), *extra, memory_mb=memory_mb, timeout=timeout)


def test_a_sound_bundle_passes_every_reader(tmp_path: Path) -> None:
    bundle = hb.write_bundle(tmp_path / "ok.tar.zst")
    assert hb.run_limited("verify", str(bundle)).stdout.startswith("OK: 1 files match")
    assert "containers/node/logs.txt" in hb.run_limited("inspect", str(bundle)).stdout
    assert redact(bundle, tmp_path / "out.tar.zst").code == 0
    assert hb.run_limited("verify", str(tmp_path / "out.tar.zst")).code == 0


@pytest.mark.parametrize("damage", sorted(DAMAGED))
def test_verify_fails_a_structurally_damaged_bundle(tmp_path: Path, damage: str) -> None:
    bundle = DAMAGED[damage](tmp_path / "b.tar.zst")
    run = hb.run_limited("verify", str(bundle))
    assert run.code != 0 and not run.traceback
    assert WORDS[damage] in run.stderr
    assert "OK" not in run.stdout


@pytest.mark.parametrize("damage", sorted(DAMAGED))
def test_redact_refuses_a_damaged_bundle_unless_allowed_and_records_it(tmp_path: Path, damage: str) -> None:
    bundle = DAMAGED[damage](tmp_path / "b.tar.zst")
    out = tmp_path / "out.tar.zst"
    refused = redact(bundle, out)
    assert hb.one_line_error(refused), refused.stderr
    assert WORDS[damage] in refused.stderr and not out.exists()
    allowed = redact(bundle, out, "--allow-damaged")
    if damage == "truncated by one byte":  # the manifest (the last member) is gone: nothing to redact
        assert hb.one_line_error(allowed) and not out.exists()
        return
    assert allowed.code == 0, allowed.stderr
    assert "damaged" in allowed.stderr
    # the new bundle is sound (it does not pass on the damage) but says where it came from
    assert hb.run_limited("verify", str(out)).code == 0
    info = json.loads(hb.run_limited("inspect", "--json", str(out)).stdout)
    recorded = info["redaction"]["re_redacted"][-1]["damaged_input"]
    assert any(WORDS[damage] in problem for problem in recorded)
    names = [f["path"] for f in info["files"]]
    assert len(names) == len(set(names)) and all(not n.startswith("other-folder") for n in names)


def test_redact_refuses_a_bundle_whose_file_differs_from_its_manifest(tmp_path: Path) -> None:
    files = {"containers/node/logs.txt": hb.LOG.encode()}
    manifest = hb.manifest_for(files)
    manifest["files"][0]["sha256"] = "0" * 64
    bundle = hb.write_bundle(tmp_path / "b.tar.zst", files, manifest)
    run = redact(bundle, tmp_path / "out.tar.zst")
    assert hb.one_line_error(run) and "sha256" in run.stderr


@pytest.mark.parametrize("command", [*READERS, "redact", "analyze"])
def test_a_one_gib_long_name_header_is_refused_in_bounded_memory(tmp_path: Path, command: str) -> None:
    bundle = hb.huge_long_name_header(tmp_path / "h.tar.zst", 1 << 30)
    assert bundle.stat().st_size < 200_000
    args = ["-o", str(tmp_path / "out.tar.zst")] if command == "redact" else []
    if command == "analyze":
        args = ["-f", "json", "-o", str(tmp_path / "r.json")]
    run = hb.run_limited(command, str(bundle), *args, memory_mb=MEMORY_MB, timeout=60)
    assert hb.one_line_error(run), run.stderr[-2000:]
    assert "header" in run.stderr
    assert run.max_rss_mb < 400


@pytest.mark.parametrize("command", [*READERS, "redact"])
def test_a_raised_header_cap_is_honoured(tmp_path: Path, command: str) -> None:
    bundle = hb.huge_long_name_header(tmp_path / "h.tar.zst", 2 << 20)
    args = ["-o", str(tmp_path / "out.tar.zst")] if command == "redact" else []
    capped = hb.run_limited(command, str(bundle), *args)
    assert hb.one_line_error(capped) and "--max-header-bytes" in capped.stderr
    raised = hb.run_limited(command, str(bundle), *args, "--max-header-bytes", "4MB")
    assert "--max-header-bytes" not in raised.stderr  # read past the header (then fails for its odd name)


@pytest.mark.parametrize("command", [*READERS, "redact"])
def test_a_member_flood_stops_at_the_file_cap(tmp_path: Path, command: str) -> None:
    bundle = hb.many_members(tmp_path / "m.tar.zst", 30_000)
    args = ["-o", str(tmp_path / "out.tar.zst")] if command == "redact" else []
    run = hb.run_limited(command, str(bundle), *args, timeout=60)
    assert hb.one_line_error(run) and "--max-files" in run.stderr
    assert len(run.stdout.splitlines()) < 50 and run.max_rss_mb < 300


def test_redact_of_a_zstd_bomb_stops_before_writing(tmp_path: Path) -> None:
    bomb = hb.zstd_bomb(tmp_path / "bomb.tar.zst", 300 << 20)
    assert bomb.stat().st_size < 100_000
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    spool = tmp_path / "tmp"
    spool.mkdir()
    run = hb.run_limited("redact", str(bomb), "-o", str(out_dir / "o.tar.zst"), "--max-bytes", "64MB",
                         env={"TMPDIR": str(spool)})
    assert hb.one_line_error(run) and "--max-bytes" in run.stderr
    assert list(out_dir.iterdir()) == [] and list(spool.iterdir()) == []


@pytest.mark.parametrize("command", ["verify", "inspect", "redact", "analyze"])
def test_a_fifo_is_refused_not_waited_on(tmp_path: Path, command: str) -> None:
    fifo = tmp_path / "input.tar.zst"
    os.mkfifo(fifo)
    args = ["-o", str(tmp_path / "out.tar.zst")] if command == "redact" else []
    if command == "analyze":
        args = ["-f", "json"]
    run = hb.run_limited(command, str(fifo), *args, timeout=20)
    assert not run.timed_out and hb.one_line_error(run), run.stderr
    assert "FIFO" in run.stderr or "regular file" in run.stderr


@pytest.mark.parametrize("command", ["verify", "inspect", "redact", "analyze"])
def test_a_device_is_refused(tmp_path: Path, command: str) -> None:
    args = ["-o", str(tmp_path / "out.tar.zst")] if command == "redact" else []
    if command == "analyze":
        args = ["-f", "json"]
    run = hb.run_limited(command, "/dev/zero", *args, timeout=20)
    assert not run.timed_out and hb.one_line_error(run), run.stderr
    assert "device" in run.stderr or "regular file" in run.stderr


ESCAPES = "\x1b]52;c;aGk=\x07\x1b[2J\x1b]0;pwned\x07"


def _printed_raw(text: str) -> bool:
    return "\x1b" in text or "\x07" in text or "\u202e" in text


def test_inspect_and_verify_show_control_characters_from_the_bundle(tmp_path: Path) -> None:
    files = {f"containers/node{ESCAPES}/logs.txt": hb.LOG.encode()}
    manifest = hb.manifest_for(files, created_at=f"2026{ESCAPES}\u202e", status="complete")
    manifest["sources"][0]["error"] = f"boom{ESCAPES}"
    manifest["sources"][0]["status"] = "failed"
    bundle = hb.write_bundle(tmp_path / "b.tar.zst", files, manifest)
    shown = hb.run_limited("inspect", str(bundle))
    assert shown.code == 0 and not _printed_raw(shown.stdout + shown.stderr)
    assert "\\x1b]52" in shown.stdout
    as_json = hb.run_limited("inspect", "--json", str(bundle))
    assert not _printed_raw(as_json.stdout)
    verified = hb.run_limited("verify", str(bundle))
    assert verified.code == 0 and not _printed_raw(verified.stdout + verified.stderr)
    manifest["files"][0]["size"] = 1  # a problem line that names the file
    bad = hb.write_bundle(tmp_path / "bad.tar.zst", files, manifest)
    failed = hb.run_limited("verify", str(bad))
    assert failed.code == 1 and not _printed_raw(failed.stderr) and "\\x1b" in failed.stderr


def test_analyze_markdown_shows_control_characters_from_logs(tmp_path: Path) -> None:
    log = (f"2026-11-27T18:00:00.000000000Z [18:00:00.000] ERROR: prover-node boom {ESCAPES} \u202eevil\n"
           "2026-11-27T18:00:01.000000000Z [18:00:01.000] FATAL ERROR: Reached heap limit Allocation failed - "
           f"JavaScript heap out of memory {ESCAPES}\n")
    bundle = hb.write_bundle(tmp_path / "b.tar.zst", {"containers/node/logs.txt": log.encode()})
    run = hb.run_limited("analyze", str(bundle), "-f", "md")
    assert run.code == 0, run.stderr
    assert not _printed_raw(run.stdout + run.stderr)


def test_analyze_html_shows_bidi_overrides_visibly(tmp_path: Path) -> None:
    log = ("2026-11-27T18:00:00.000000000Z [18:00:00.000] FATAL ERROR: Reached heap limit Allocation failed - "
           "JavaScript heap out of memory \u202etxt.exe\u202c\n")
    bundle = hb.write_bundle(tmp_path / "b.tar.zst", {"containers/node/logs.txt": log.encode()})
    report = tmp_path / "r.html"
    run = hb.run_limited("analyze", str(bundle), "-o", str(report))
    assert run.code == 0, run.stderr
    html = report.read_text(encoding="utf-8")
    assert "\u202e" not in html and "txt.exe" in html


def _long_line_report(tmp_path: Path, line_bytes: int) -> tuple[hb.Run, Path]:
    bundle = hb.long_line_bundle(tmp_path / "long.tar.zst", line_bytes)
    report = tmp_path / "r.html"
    return hb.run_limited("analyze", str(bundle), "-o", str(report), memory_mb=1500, timeout=120), report


def test_analyze_cuts_an_overlong_line_and_bounds_the_report(tmp_path: Path) -> None:
    run, report = _long_line_report(tmp_path, 64 << 20)
    assert run.code == 0, run.stderr[-2000:]
    assert report.stat().st_size < 1 << 20 and run.max_rss_mb < 600
    assert "more characters not shown" in report.read_text(encoding="utf-8")


def test_redact_cuts_an_overlong_line_without_leaving_half_a_secret(tmp_path: Path) -> None:
    key = "0x" + "ab12" * 16
    secret_line = f"PROVER_PUBLISHER_PRIVATE_KEY={key}"
    bundle = hb.long_line_bundle(tmp_path / "long.tar.zst", 3 << 20, secret_at_cut=" " + secret_line[:40])
    out = tmp_path / "out.tar.zst"
    run = redact(bundle, out, "--max-line-bytes", "1MB", "--secret", key)
    assert run.code == 0, run.stderr
    raw = zstandard.ZstdDecompressor().stream_reader(out.read_bytes(), read_across_frames=True).read()
    assert b"line cut by nodediag" in raw
    assert b"ab12ab12ab12" not in raw
    assert max(len(line) for line in raw.split(b"\n")) < (1 << 20) + 200


def test_a_huge_json_fact_file_is_skipped_with_a_warning(tmp_path: Path) -> None:
    bundle = hb.big_fact_file(tmp_path / "f.tar.zst", 48 << 20)
    run = hb.run_limited("analyze", str(bundle), "-f", "json", "-o", str(tmp_path / "r.json"), "--max-json-bytes",
                         "16MB", memory_mb=1500, timeout=120)
    assert run.code == 0, run.stderr[-2000:]
    assert run.max_rss_mb < 700
    report = json.loads((tmp_path / "r.json").read_text())
    assert "host/summary.json" in json.dumps(report)


def _wait_for(predicate: Callable[[], bool], timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_redact_interrupted_leaves_nothing_behind(tmp_path: Path, signum: int) -> None:
    bundle = hb.zstd_bomb(tmp_path / "big.tar.zst", 400 << 20)
    out_dir, spool = tmp_path / "out", tmp_path / "tmp"
    out_dir.mkdir()
    spool.mkdir()
    env = {**os.environ, "PYTHONPATH": str(hb.REPO), "TMPDIR": str(spool)}
    proc = subprocess.Popen([sys.executable, "-m", "nodediag", "redact", str(bundle), "-o", str(out_dir / "o.tar.zst"),
                             "--allow-damaged"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # the manifest lists no file: it is refused as damaged only at its end; stop it while it writes
    assert _wait_for(lambda: any(out_dir.iterdir()) or any(spool.iterdir()), 60), "redact never started writing"
    time.sleep(0.3)
    assert proc.poll() is None, "redact ended before it could be interrupted"
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode != 0 and "Traceback" not in err
    assert list(out_dir.iterdir()) == [] and list(spool.iterdir()) == []


def test_analyze_of_a_guide_archive_interrupted_leaves_no_unredacted_copy(tmp_path: Path) -> None:
    import tarfile

    key = "0x" + "cd34" * 16
    big_log = b"".join(b"2026-11-27T18:00:00.000000000Z INFO: prover-node line %d\n" % n for n in range(3_000_000))
    archive = tmp_path / "aztec_diagnostics.tar"
    with tarfile.open(archive, "w") as tar:
        for name, data in (("aztec_diagnostics/config.env", f"PROVER_PUBLISHER_PRIVATE_KEY={key}\n".encode()),
                           ("aztec_diagnostics/prover-node.log", big_log)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, __import__("io").BytesIO(data))
    spool = tmp_path / "tmp"
    spool.mkdir()
    env = {**os.environ, "PYTHONPATH": str(hb.REPO), "TMPDIR": str(spool)}
    proc = subprocess.Popen([sys.executable, "-m", "nodediag", "analyze", str(archive), "-f", "json",
                             "-o", str(tmp_path / "r.json")], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    def spooled_config() -> bool:  # analyze creates and deletes folders under the spool as it goes
        return any(name == "config.env" for _, _, files in os.walk(spool) for name in files)

    assert _wait_for(lambda: spooled_config() or proc.poll() is not None, 60)
    assert proc.poll() is None, "analyze ended before it could be interrupted"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert "Traceback" not in err
    assert list(spool.iterdir()) == []


def test_analyze_refuses_a_zstd_bomb_before_writing_it(tmp_path: Path) -> None:
    import threading

    bomb = hb.zstd_bomb(tmp_path / "bomb.tar.zst", 300 << 20)
    spool = tmp_path / "tmp"
    spool.mkdir()
    peak = [0]
    looks = [0]
    done = threading.Event()

    def spooled() -> int:
        """Bytes under the spool now; analyze creates and deletes its folders meanwhile (a file or folder
        that vanishes while walked is simply gone: rglob and stat raised, and the watcher died unseen)."""
        total = 0
        for folder, _, files in os.walk(spool):
            for name in files:
                try:
                    total += os.stat(os.path.join(folder, name)).st_size
                except FileNotFoundError:
                    pass
        return total

    def watch() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], spooled())
            looks[0] += 1
            done.wait(0.02)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        run = hb.run_limited("analyze", str(bomb), "-f", "json", "--max-bytes", "64MB", env={"TMPDIR": str(spool)})
    finally:
        done.set()
        watcher.join()
    assert hb.one_line_error(run) and "--max-bytes" in run.stderr
    assert looks[0] >= 2, "the spool was not watched while analyze ran"
    assert peak[0] < 1 << 20 and list(spool.iterdir()) == []


def test_a_report_shows_only_an_excerpt_of_a_long_line(tmp_path: Path) -> None:
    run, report = _long_line_report(tmp_path, 900 << 10)  # under the line cap: not cut, but not shown whole
    assert run.code == 0, run.stderr[-2000:]
    html = report.read_text(encoding="utf-8")
    assert "more characters not shown" in html and "x" * 5000 not in html


@pytest.mark.parametrize("fmt", ["json", "md", "html"])
def test_log_lines_holding_deeply_nested_json_are_analysed(tmp_path: Path, fmt: str) -> None:
    def record(depth: int) -> str:
        return ('{"level":50,"time":1764266400000,"module":"prover-node","msg":"Error: Broker facade stopped",'
                '"data":' + "[" * depth + "]" * depth + "}")

    log = "".join(f"2026-11-27T18:00:00.000000000Z {record(n)}\n" for n in (900, 1000, 5000))
    log += "".join("2026-11-27T18:00:01.000000000Z [18:00:01.000] ERROR: prover-node x {\"a\":"
                   + "[" * n + "]" * n + "}\n" for n in (1000, 5000))
    bundle = hb.write_bundle(tmp_path / "b.tar.zst", {"containers/node/logs.txt": log.encode()})
    run = hb.run_limited("analyze", str(bundle), "-f", fmt, "-o", str(tmp_path / f"r.{fmt}"))
    assert run.code == 0 and not run.traceback, run.stderr[-1500:]


def test_a_secrets_file_that_is_a_fifo_is_refused(tmp_path: Path) -> None:
    fifo = tmp_path / "secrets"
    os.mkfifo(fifo)
    bundle = hb.write_bundle(tmp_path / "b.tar.zst")
    run = redact(bundle, tmp_path / "out.tar.zst", "--secrets-file", str(fifo), timeout=20)
    assert not run.timed_out and hb.one_line_error(run) and "regular file" in run.stderr


def test_redact_refuses_a_member_declared_over_the_cap_without_expanding_it(tmp_path: Path) -> None:
    bomb = hb.zstd_bomb(tmp_path / "bomb.tar.zst", 400 << 20)
    run = redact(bomb, tmp_path / "out.tar.zst", "--max-bytes", "128MB")
    assert hb.one_line_error(run) and "--max-bytes" in run.stderr
    assert "declares" in run.stderr and "logs.txt" in run.stderr  # refused from the tar header, not expanded


@pytest.mark.parametrize("compression", ["gz", "xz"])
def test_a_guide_archive_bomb_stops_at_the_byte_cap_in_redact(tmp_path: Path, compression: str) -> None:
    import tarfile

    archive = tmp_path / f"aztec_diagnostics.tar.{compression}"
    line = b"2026-11-27T18:00:00Z INFO: prover-node same line again\n"
    size = 200 << 20
    info = tarfile.TarInfo("aztec_diagnostics/prover-node.log")
    info.size = size

    class Repeated:
        def __init__(self) -> None:
            self.left = size

        def read(self, n: int = -1) -> bytes:
            n = self.left if n < 0 else min(n, self.left)
            self.left -= n
            return (line * (n // len(line) + 1))[:n]

    with tarfile.open(archive, f"w:{compression}", **({"compresslevel": 1} if compression == "gz" else {})) as tar:
        tar.addfile(info, Repeated())  # type: ignore[arg-type]
    run = redact(archive, tmp_path / "out.tar.zst", "--max-bytes", "32MB")
    assert hb.one_line_error(run) and "--max-bytes" in run.stderr and not (tmp_path / "out.tar.zst").exists()


def test_verify_fails_a_bundle_with_a_zstd_frame_appended_after_its_tar_end(tmp_path: Path) -> None:
    bundle = hb.write_bundle(tmp_path / "b.tar.zst")
    with bundle.open("ab") as fh:
        fh.write(zstandard.ZstdCompressor(write_checksum=True).compress(b"appended after the archive\n" * 40))
    for command in ("verify", "analyze"):  # analyze reads through the same streaming reader
        run = hb.run_limited(command, str(bundle))
        assert run.code != 0 and "after the end of its tar archive" in run.stderr, command
        assert hb.one_line_error(run), command
