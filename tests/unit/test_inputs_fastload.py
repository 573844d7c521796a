"""open_input's fast bundle load: tar members are read in large blocks and each file's sha256 is
measured while it is extracted, so the manifest check does not read it again. Pinned here: the
bytes, gaps and refusals are those of a plain tarfile stream-mode extraction followed by a
check of every file on disk."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest
import zstandard

from nodediag.analyzer.inputs import InputError, open_input

TOP = "nodediag-prover-1-20261127T183000Z"
MiB = 1024 * 1024
# sizes around tar blocks (512), tarfile records (10 KiB) and the 1 MiB copy chunk
SIZES = (0, 1, 511, 512, 513, 10239, 10240, 10241, 65536, MiB - 1, MiB, MiB + 1, 3 * MiB + 5)


def log_bytes(size: int, seed: int) -> bytes:
    line = f"2026-11-27T18:00:01.123456789Z [18:00:01.123] INFO: prover-node seed {seed} job\n".encode()
    return (line * (size // len(line) + 1))[:size]


def sample_files() -> dict[str, bytes]:
    return {f"containers/c{i}/logs.txt": log_bytes(size, i) for i, size in enumerate(SIZES)}


def manifest_for(files: dict[str, bytes]) -> dict[str, object]:
    return {"format": "nodediag-bundle", "format_version": 1, "status": "complete", "sources": [],
            "files": [{"path": p, "size": len(b), "sha256": hashlib.sha256(b).hexdigest(), "source": "test"}
                      for p, b in files.items()]}


def tar_bytes(files: dict[str, bytes], *, prefix: str = f"{TOP}/", manifest: dict[str, object] | None = None,
              fmt: int = tarfile.PAX_FORMAT) -> bytes:
    """A v1 bundle's tar: ``files`` then manifest.json (listing ``files`` unless given)."""
    members = [*files.items(), ("manifest.json", json.dumps(manifest or manifest_for(files)).encode())]
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=fmt) as archive:
        for name, data in members:
            info = tarfile.TarInfo(prefix + name)
            info.size = len(data)
            info.mode = 0o644
            archive.addfile(info, io.BytesIO(data))
    return out.getvalue()


def write(path: Path, raw: bytes) -> Path:
    if path.name.endswith(".zst"):
        path.write_bytes(zstandard.ZstdCompressor(write_checksum=True).compress(raw))
    elif path.name.endswith(".gz"):
        path.write_bytes(gzip.compress(raw, mtime=0))
    else:
        path.write_bytes(raw)
    return path


def workdir_is_empty(work: Path) -> bool:
    return not work.exists() or list(work.iterdir()) == []


@pytest.mark.parametrize("name", ["b.tar.zst", "b.tar.gz", "b.tar"])
@pytest.mark.parametrize("prefix", [f"{TOP}/", "", f"./{TOP}/"])
def test_files_of_every_size_are_extracted_exactly_and_verify(tmp_path: Path, name: str, prefix: str) -> None:
    files = sample_files()
    bundle = write(tmp_path / name, tar_bytes(files, prefix=prefix))
    loaded = open_input(bundle, workdir=tmp_path / "work")
    assert loaded.kind == "bundle-v1"
    assert loaded.gaps == [] and loaded.warnings == []
    assert loaded.files == sorted([*files, "manifest.json"])
    for rel, data in files.items():
        assert (Path(loaded.root) / rel).read_bytes() == data


@pytest.mark.parametrize("size", [100, 10240, MiB + 1, 3 * MiB + 5])
@pytest.mark.parametrize("where", ["first", "middle", "last"])
def test_flipped_byte_inside_a_log_is_a_checksum_gap_naming_that_file(tmp_path: Path, size: int,
                                                                      where: str) -> None:
    files = {"containers/a/logs.txt": log_bytes(size, 1), "containers/b/logs.txt": log_bytes(size, 2),
             "host/summary.json": b'{"hostname": "prover-1"}'}
    tampered = bytearray(files["containers/b/logs.txt"])
    tampered[{"first": 0, "middle": size // 2, "last": size - 1}[where]] ^= 0x04
    stored = {**files, "containers/b/logs.txt": bytes(tampered)}
    bundle = write(tmp_path / "b.tar.zst", tar_bytes(stored, manifest=manifest_for(files)))
    loaded = open_input(bundle, workdir=tmp_path / "work")
    assert [(g.status, g.files) for g in loaded.gaps] == [("checksum-mismatch", ["containers/b/logs.txt"])]
    assert "does not match its sha256" in loaded.gaps[0].detail
    # the gap is about the file as extracted: what is on disk is the tampered copy
    assert (Path(loaded.root) / "containers/b/logs.txt").read_bytes() == bytes(tampered)


def test_wrong_size_in_the_manifest_is_a_size_gap(tmp_path: Path) -> None:
    files = sample_files()
    manifest = manifest_for(files)
    manifest["files"][7]["size"] += 1  # type: ignore[index]
    rel = manifest["files"][7]["path"]  # type: ignore[index]
    loaded = open_input(write(tmp_path / "b.tar.zst", tar_bytes(files, manifest=manifest)), workdir=tmp_path / "w")
    assert [(g.status, g.files) for g in loaded.gaps] == [("checksum-mismatch", [rel])]
    assert f"{rel} is {len(files[rel])} bytes, the manifest says {len(files[rel]) + 1}" in loaded.gaps[0].detail


def test_extracted_folder_is_still_hashed_from_disk(tmp_path: Path) -> None:
    files = sample_files()
    first = open_input(write(tmp_path / "b.tar.zst", tar_bytes(files)), workdir=tmp_path / "work")
    folder = tmp_path / "given" / TOP
    shutil.copytree(first.root, folder)
    assert open_input(folder, workdir=tmp_path / "work2").gaps == []
    # a change made on disk after extraction (same size) is seen: the folder's files are read
    target = folder / "containers/c11/logs.txt"
    data = bytearray(target.read_bytes())
    data[MiB // 2] ^= 0x01
    target.write_bytes(bytes(data))
    loaded = open_input(folder, workdir=tmp_path / "work2")
    assert loaded.kind == "folder-v1"
    assert [(g.status, g.files) for g in loaded.gaps] == [("checksum-mismatch", ["containers/c11/logs.txt"])]
    assert "does not match its sha256" in loaded.gaps[0].detail


@pytest.mark.parametrize("cut", [512 + 100, 512 + 10240, 512 + MiB - 3, 512 + MiB + 7, 512 + 2 * MiB])
def test_tar_cut_inside_a_member_is_refused_as_truncated(tmp_path: Path, cut: int) -> None:
    raw = tar_bytes({"containers/a/logs.txt": log_bytes(3 * MiB, 1)}, prefix="", fmt=tarfile.USTAR_FORMAT)
    bundle = write(tmp_path / "b.tar.zst", raw[:cut])  # a complete zstd frame around a cut tar
    with pytest.raises(InputError, match=r"ends in the middle of a file \(truncated download or copy\?\)"):
        open_input(bundle, workdir=tmp_path / "work")
    assert workdir_is_empty(tmp_path / "work")


def test_compression_bomb_member_stops_at_the_byte_cap(tmp_path: Path) -> None:
    bomb = write(tmp_path / "b.tar.zst", tar_bytes({"big.log": bytes(64 * MiB)}))
    with pytest.raises(InputError, match=r"expands to more than 2,000,000 bytes, the --max-bytes cap"):
        open_input(bomb, workdir=tmp_path / "work", max_bytes=2_000_000)
    assert workdir_is_empty(tmp_path / "work")


def test_oversized_headers_hit_the_stream_cap(tmp_path: Path) -> None:
    # pax headers are not content: only the cap on the decompressed stream (content cap +
    # 1 KiB per file + 1 MiB) stops them
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for i in range(3):
            info = tarfile.TarInfo(f"b/f{i}.log")
            info.size = 1000
            info.pax_headers = {"comment": "c" * 900_000}
            archive.addfile(info, io.BytesIO(b"y" * 1000))
    bundle = write(tmp_path / "b.tar.zst", out.getvalue())
    with pytest.raises(InputError, match=r"expands to more than 1,055,696 bytes, the --max-bytes cap"):
        open_input(bundle, workdir=tmp_path / "work", max_bytes=2000, max_files=5)
    assert workdir_is_empty(tmp_path / "work")


def test_negative_member_size_is_refused(tmp_path: Path) -> None:
    raw = bytearray(tar_bytes({"a.log": log_bytes(30000, 1), "b.log": log_bytes(5000, 2)}, prefix="",
                              fmt=tarfile.GNU_FORMAT))
    raw[124:136] = b"\xff" * 10 + b"\xf0\x00"  # base-256 size: -4096
    raw[148:156] = b"%06o\x00 " % (sum(raw[:148]) + 256 + sum(raw[156:512]))
    with pytest.raises(InputError, match=r"is not a readable tar archive \(seeking backwards is not allowed\)"):
        open_input(write(tmp_path / "b.tar.zst", bytes(raw)), workdir=tmp_path / "work")
    assert workdir_is_empty(tmp_path / "work")


@pytest.mark.skipif(shutil.which("tar") is None, reason="needs GNU tar to write a sparse member")
@pytest.mark.parametrize("options", [["--format=gnu"], ["--format=pax", "--sparse-version=0.1"],
                                     ["--format=pax", "--sparse-version=1.0"]])
def test_sparse_member_is_extracted_with_its_holes(tmp_path: Path, options: list[str]) -> None:
    src = tmp_path / "src" / "b"
    src.mkdir(parents=True)
    with (src / "sparse.log").open("wb") as fh:
        fh.write(b"start\n")
        fh.seek(3 * MiB)
        fh.write(b"middle\n")
        fh.seek(5 * MiB)
        fh.write(b"end\n")
    files = {"sparse.log": (src / "sparse.log").read_bytes(), "logs.txt": log_bytes(20000, 3)}
    (src / "logs.txt").write_bytes(files["logs.txt"])
    (src / "manifest.json").write_text(json.dumps(manifest_for(files)))
    try:
        raw = subprocess.run(["tar", "-c", "--sparse", *options, "-f", "-", "-C", str(src.parent),
                              "b/sparse.log", "b/logs.txt", "b/manifest.json"],
                             check=True, capture_output=True).stdout
    except subprocess.CalledProcessError:
        pytest.skip("this tar cannot write sparse members")
    loaded = open_input(write(tmp_path / "b.tar.zst", raw), workdir=tmp_path / "work")
    assert loaded.gaps == []
    assert (Path(loaded.root) / "sparse.log").read_bytes() == files["sparse.log"]
