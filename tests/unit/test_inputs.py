"""open_input on real archives built here: valid bundles, damaged ones and hostile ones."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import resource
import stat
import tarfile
from pathlib import Path

import pytest
import zstandard

from nodediag.analyzer.inputs import InputError, open_input

TOP = "nodediag-prover-1-20261127T183000Z"
NODE = "aztec-prover-prover-node-1"

LOG_LINES = (
    "2026-11-27T18:00:01.123456789Z [18:00:01.123] INFO: prover-node Starting epoch 412 proving job\n"
    "2026-11-27T18:02:11.000000001Z [18:02:11.000] ERROR: prover-client:orchestrator "
    "Error thrown when proving job: Error: Broker facade stopped\n"
)


def sample_files() -> dict[str, bytes]:
    return {
        f"containers/{NODE}/logs.txt": LOG_LINES.encode(),
        f"containers/{NODE}/inspect.json": json.dumps({"Name": f"/{NODE}", "State": {"Status": "running"}}).encode(),
        "host/summary.json": json.dumps({"hostname": "prover-1", "cpus_logical": 32}).encode(),
        "docker/events.jsonl": b'{"Type":"container","Action":"start","timeNano":1795802400000000000}\n',
    }


def manifest_for(files: dict[str, bytes], **extra: object) -> dict[str, object]:
    manifest: dict[str, object] = {
        "format": "nodediag-bundle", "format_version": 1,
        "tool": {"name": "nodediag", "version": "0.1.0"},
        "created_at": "2026-11-27T18:30:00Z", "status": "complete",
        "host": {"hostname": "prover-1", "cpus": 32, "memory_bytes": 137438953472},
        "sources": [{"name": f"container_logs:{NODE}", "status": "ok", "duration_s": 1.2, "error": None,
                     "files": [f"containers/{NODE}/logs.txt"]}],
        "files": [{"path": p, "size": len(b), "sha256": hashlib.sha256(b).hexdigest(), "source": "test",
                   "redactions": {}} for p, b in files.items()],
    }
    manifest.update(extra)
    return manifest


def regular(name: str, data: bytes) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    return info, data


def write_tar_zst(path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]]) -> Path:
    with path.open("wb") as fh:
        with zstandard.ZstdCompressor(write_checksum=True).stream_writer(fh, closefd=False) as writer:
            with tarfile.open(fileobj=writer, mode="w|", format=tarfile.PAX_FORMAT) as archive:
                for info, data in members:
                    archive.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def build_bundle(path: Path, files: dict[str, bytes] | None = None, *, manifest: dict[str, object] | None = None,
                 stored: dict[str, bytes] | None = None) -> Path:
    """A v1 bundle: ``files`` are listed in the manifest, ``stored`` (default: the same) are
    what the archive actually holds, manifest.json last."""
    files = sample_files() if files is None else files
    manifest = manifest or manifest_for(files)
    stored = files if stored is None else stored
    members = [regular(f"{TOP}/{rel}", data) for rel, data in stored.items()]
    members.append(regular(f"{TOP}/manifest.json", json.dumps(manifest).encode()))
    return write_tar_zst(path, members)  # type: ignore[arg-type]


def all_bytes_under(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


# --- valid bundles ------------------------------------------------------------------------------

def test_valid_bundle_opens_with_its_files_and_no_gaps(tmp_path: Path) -> None:
    bundle = build_bundle(tmp_path / f"{TOP}.tar.zst")
    loaded = open_input(bundle, workdir=tmp_path / "work")
    assert loaded.kind == "bundle-v1"
    assert loaded.files == sorted([*sample_files(), "manifest.json"])
    assert loaded.gaps == [] and loaded.warnings == []
    assert loaded.manifest["format_version"] == 1
    assert loaded.name == str(bundle)
    root = Path(loaded.root)
    assert (root / f"containers/{NODE}/logs.txt").read_text() == LOG_LINES
    private = next((tmp_path / "work").iterdir())
    assert stat.S_IMODE(private.stat().st_mode) == 0o700
    assert root.is_relative_to(private)


def test_flipped_byte_becomes_a_checksum_mismatch_gap(tmp_path: Path) -> None:
    files = sample_files()
    tampered = dict(files)
    log = bytearray(files[f"containers/{NODE}/logs.txt"])
    log[10] ^= 0x01
    tampered[f"containers/{NODE}/logs.txt"] = bytes(log)
    bundle = build_bundle(tmp_path / "b.tar.zst", files, stored=tampered)
    loaded = open_input(bundle, workdir=tmp_path / "work")
    assert [(g.status, g.files) for g in loaded.gaps] == [("checksum-mismatch", [f"containers/{NODE}/logs.txt"])]
    assert "sha256" in loaded.gaps[0].detail


def test_missing_file_failed_source_and_unlisted_file(tmp_path: Path) -> None:
    files = {**sample_files(), "host/disk.json": b"{}"}
    stored = {k: v for k, v in files.items() if k not in ("host/summary.json", "host/disk.json")}
    stored["notes/added-later.txt"] = b"hello"
    manifest = manifest_for(files, status="interrupted")
    manifest["sources"] = [  # type: ignore[index]
        {"name": "kernel_oom", "status": "skipped", "error": "no kernel log readable; run as root", "files": []},
        {"name": f"container_logs:{NODE}", "status": "truncated", "error": None,
         "files": [f"containers/{NODE}/logs.txt"]},
        {"name": "docker_info", "status": "ok", "error": None, "files": []},
        {"name": "host_disk", "status": "failed", "error": "PermissionError: /mnt", "files": ["host/disk.json"]},
    ]
    loaded = open_input(build_bundle(tmp_path / "b.tar.zst", files, manifest=manifest, stored=stored),
                        workdir=tmp_path / "work")
    by_status = {g.status: g for g in loaded.gaps}
    assert sorted(g.status for g in loaded.gaps) == ["failed", "missing", "skipped", "truncated"]
    assert by_status["failed"].files == ["host/disk.json"]  # listed, not stored, its source failed: one gap
    assert by_status["missing"].files == ["host/summary.json"]
    assert by_status["skipped"].detail == "no kernel log readable; run as root"
    assert "newest" in by_status["truncated"].detail
    assert any("notes/added-later.txt" in w for w in loaded.warnings)
    assert any("interrupted" in w for w in loaded.warnings)


def test_newer_format_version_is_refused_naming_both_versions(tmp_path: Path) -> None:
    files = sample_files()
    bundle = build_bundle(tmp_path / "b.tar.zst", files, manifest=manifest_for(files, format_version=2))
    with pytest.raises(InputError) as err:
        open_input(bundle, workdir=tmp_path / "work")
    message = str(err.value)
    assert "format_version 2" in message and "format_version 1" in message and "upgrade nodediag" in message
    assert list((tmp_path / "work").iterdir()) == []


def test_unknown_format_is_refused(tmp_path: Path) -> None:
    files = sample_files()
    bundle = build_bundle(tmp_path / "b.tar.zst", files, manifest=manifest_for(files, format="sosreport"))
    with pytest.raises(InputError, match="not a nodediag bundle"):
        open_input(bundle, workdir=tmp_path / "work")


def test_extracted_folder_is_read_in_place(tmp_path: Path) -> None:
    outer = tmp_path / "download"
    bundle_dir = outer / TOP
    files = sample_files()
    for rel, data in files.items():
        (bundle_dir / rel).parent.mkdir(parents=True, exist_ok=True)
        (bundle_dir / rel).write_bytes(data)
    (bundle_dir / "manifest.json").write_text(json.dumps(manifest_for(files)))
    for given in (outer, bundle_dir):  # the folder itself, or one level up
        loaded = open_input(given, workdir=tmp_path / "work")
        assert loaded.kind == "folder-v1"
        assert Path(loaded.root) == bundle_dir
        assert loaded.gaps == []
    assert not (tmp_path / "work").exists() or list((tmp_path / "work").iterdir()) == []
    (bundle_dir / "host" / "passwd").symlink_to("/etc/passwd")
    with pytest.raises(InputError, match=r"host/passwd.*outside the folder"):
        open_input(bundle_dir, workdir=tmp_path / "work")


# --- hostile archives ---------------------------------------------------------------------------

def _hostile_member(kind: str) -> tarfile.TarInfo:
    if kind == "traversal":
        return regular(f"{TOP}/../x", b"evil")[0]
    if kind == "absolute":
        return regular("/etc/cron.d/evil", b"evil")[0]
    info = tarfile.TarInfo(f"{TOP}/{kind}")
    info.type = {"symlink": tarfile.SYMTYPE, "hardlink": tarfile.LNKTYPE, "device": tarfile.CHRTYPE,
                 "fifo": tarfile.FIFOTYPE}[kind]
    info.linkname = "/etc/passwd" if kind == "symlink" else f"{TOP}/manifest.json"
    info.devmajor, info.devminor = 1, 3
    return info


@pytest.mark.parametrize("kind, expected", [
    ("traversal", "'..'"), ("absolute", "absolute path"), ("symlink", "symbolic link"),
    ("hardlink", "hard link"), ("device", "device file"), ("fifo", "FIFO")])
def test_hostile_member_is_refused_by_name(tmp_path: Path, kind: str, expected: str) -> None:
    files = sample_files()
    members = [regular(f"{TOP}/{rel}", data) for rel, data in files.items()]
    hostile = _hostile_member(kind)
    members.insert(1, (hostile, b"evil" if hostile.isreg() else None))
    members.append(regular(f"{TOP}/manifest.json", json.dumps(manifest_for(files)).encode()))
    archive = write_tar_zst(tmp_path / "hostile.tar.zst", members)
    with pytest.raises(InputError) as err:
        open_input(archive, workdir=tmp_path / "work")
    message = str(err.value)
    assert repr(hostile.name) in message and expected in message and "not analysed" in message
    assert "\n" not in message
    assert list((tmp_path / "work").iterdir()) == []  # nothing of it kept
    assert not (tmp_path / "x").exists()


def _write_zstd_bomb(path: Path, size: int) -> None:
    """A tar.zst whose one member is ``size`` zero bytes, streamed (never held in memory)."""
    info = tarfile.TarInfo(f"{TOP}/containers/big/logs.txt")
    info.size = size
    chunk = bytes(4 * 1024 * 1024)
    with path.open("wb") as fh, zstandard.ZstdCompressor(write_checksum=True).stream_writer(fh) as writer:
        writer.write(info.tobuf(format=tarfile.PAX_FORMAT))
        left = size
        while left:
            step = min(left, len(chunk))
            writer.write(chunk[:step])
            left -= step
        writer.write(bytes(1024 + (-size % 512)))


def test_zstd_bomb_stops_at_the_byte_cap(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.tar.zst"
    _write_zstd_bomb(bomb, 2 * 1024**3)
    assert bomb.stat().st_size < 4 * 1024**2  # 2 GiB of zeros in a few hundred KiB
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    cap = 20 * 1024**2
    with pytest.raises(InputError) as err:
        open_input(bomb, workdir=tmp_path / "work", max_bytes=cap)
    assert "--max-bytes" in str(err.value)
    rss_growth_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before
    assert rss_growth_kib < 200 * 1024
    assert list((tmp_path / "work").iterdir()) == []


def test_file_count_cap(tmp_path: Path) -> None:
    files = {f"containers/c{i}/logs.txt": b"x\n" for i in range(30)}
    with pytest.raises(InputError, match="--max-files"):
        open_input(build_bundle(tmp_path / "b.tar.zst", files), workdir=tmp_path / "work", max_files=10)
    assert open_input(build_bundle(tmp_path / "c.tar.zst", files), workdir=tmp_path / "work",
                      max_files=100).gaps == []


def test_content_over_the_byte_cap_stops(tmp_path: Path) -> None:
    """A member that claims to be small but the cap counts real bytes: exceeding content stops."""
    files = {"containers/a/logs.txt": b"y" * 300_000}
    with pytest.raises(InputError, match="--max-bytes"):
        open_input(build_bundle(tmp_path / "b.tar.zst", files), workdir=tmp_path / "work", max_bytes=100_000)


# --- damaged or unknown inputs ------------------------------------------------------------------

def _assert_one_line_error(path: Path, workdir: Path, *fragments: str) -> str:
    with pytest.raises(InputError) as err:
        open_input(path, workdir=workdir)
    message = str(err.value)
    assert "\n" not in message and message.startswith(str(path))
    for fragment in fragments:
        assert fragment in message
    return message


def test_truncated_tar_zst(tmp_path: Path) -> None:
    files = {**sample_files(), "containers/a/logs.txt": os.urandom(300_000)}
    bundle = build_bundle(tmp_path / "b.tar.zst", files)
    data = bundle.read_bytes()
    cut = tmp_path / "cut.tar.zst"
    cut.write_bytes(data[: len(data) // 2])
    _assert_one_line_error(cut, tmp_path / "work", "truncated")
    assert list((tmp_path / "work").iterdir()) == []


def test_corrupt_zstd_frame(tmp_path: Path) -> None:
    bundle = build_bundle(tmp_path / "b.tar.zst", {**sample_files(), "containers/a/logs.txt": b"abc" * 50_000})
    data = bytearray(bundle.read_bytes())
    data[len(data) // 2] ^= 0xFF
    bad = tmp_path / "bad.tar.zst"
    bad.write_bytes(bytes(data))
    _assert_one_line_error(bad, tmp_path / "work", "corrupt")


def test_truncated_tar_gz(tmp_path: Path) -> None:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as archive:
        for rel, data in {"aztec_diagnostics/prover-node.log": os.urandom(200_000)}.items():
            info, payload = regular(rel, data)
            archive.addfile(info, io.BytesIO(payload))
    compressed = gzip.compress(raw.getvalue())
    cut = tmp_path / "aztec_diagnostics.tar.gz"
    cut.write_bytes(compressed[: len(compressed) // 2])
    _assert_one_line_error(cut, tmp_path / "work", "truncated")


def test_random_bytes_empty_missing_and_unrecognised_folder(tmp_path: Path) -> None:
    noise = tmp_path / "noise.bin"
    noise.write_bytes(os.urandom(50_000))
    _assert_one_line_error(noise, tmp_path / "work", "unrecognised content")
    empty = tmp_path / "empty.tar.zst"
    empty.write_bytes(b"")
    _assert_one_line_error(empty, tmp_path / "work", "is empty")
    _assert_one_line_error(tmp_path / "nope.tar.zst", tmp_path / "work", "does not exist")
    folder = tmp_path / "holiday-photos"
    folder.mkdir()
    (folder / "beach.txt").write_text("sand")
    _assert_one_line_error(folder, tmp_path / "work", "neither a nodediag bundle")
    zipped = tmp_path / "bundle.zip"
    zipped.write_bytes(b"PK\x03\x04" + os.urandom(100))
    _assert_one_line_error(zipped, tmp_path / "work", "zip archive")


def test_tar_without_bundle_or_guide_files(tmp_path: Path) -> None:
    archive = write_tar_zst(tmp_path / "other.tar.zst", [regular("random/readme.md", b"# hi\n")])
    _assert_one_line_error(archive, tmp_path / "work", "neither a nodediag bundle")
    assert list((tmp_path / "work").iterdir()) == []


# --- single log files ---------------------------------------------------------------------------

def test_single_docker_logs_file_plain_and_compressed(tmp_path: Path) -> None:
    plain = tmp_path / "prover-node.log"
    plain.write_text(LOG_LINES)
    loaded = open_input(plain, workdir=tmp_path / "work")
    assert (loaded.kind, loaded.files, loaded.manifest) == ("single-log", ["prover-node.log"], None)
    assert (Path(loaded.root) / "prover-node.log").read_text() == LOG_LINES

    gz = tmp_path / "node.log.gz"
    gz.write_bytes(gzip.compress(LOG_LINES.encode()))
    zst = tmp_path / "compose.log.zst"
    compose_lines = "".join(f"prover-node-1  | {line}" for line in LOG_LINES.splitlines(keepends=True))
    zst.write_bytes(zstandard.ZstdCompressor(write_checksum=True).compress(compose_lines.encode()))
    for path, name, text in ((gz, "node.log", LOG_LINES), (zst, "compose.log", compose_lines)):
        loaded = open_input(path, workdir=tmp_path / "work")
        assert (loaded.kind, loaded.files) == ("single-log", [name])
        assert (Path(loaded.root) / name).read_text() == text
        assert Path(loaded.root).is_relative_to(tmp_path / "work")


def test_compressed_binary_is_not_a_log(tmp_path: Path) -> None:
    blob = tmp_path / "blob.gz"
    blob.write_bytes(gzip.compress(os.urandom(10_000)))
    _assert_one_line_error(blob, tmp_path / "work", "neither a tar archive nor text")


def test_zstd_frame_walk_spots_every_truncation(tmp_path: Path) -> None:
    """The decompressor reports a cut-off frame as a clean end of data; the frame walk does not."""
    from nodediag.bundle.safe_archive import ArchiveError, check_zstd_frames

    frame = zstandard.ZstdCompressor(write_checksum=True).compress(os.urandom(300_000) + bytes(300_000))
    whole = tmp_path / "whole.zst"
    whole.write_bytes(frame + frame)  # two frames, as `cat a.zst b.zst` gives
    check_zstd_frames(whole)
    cut = tmp_path / "cut.zst"
    for end in (3, 5, 20, len(frame) // 2, len(frame) - 1, len(frame) + 7, 2 * len(frame) - 4):
        cut.write_bytes((frame + frame)[:end])
        with pytest.raises(ArchiveError):
            check_zstd_frames(cut)
