"""Large members in Zstandard frames of their own: the writer puts each container log of 1 MiB or
more alone in a frame that records its length; the analyzer reads those logs straight from the
bundle (in worker processes, none written to disk) and gives exactly the result it gives for the
same bundle extracted; what extraction refuses or reports, it refuses or reports too."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tarfile
from dataclasses import replace
from pathlib import Path

import pytest
import zstandard

from nodediag.analyzer.analysis import EarlyScans, analyze_input
from nodediag.analyzer.facts import load_facts
from nodediag.analyzer.inputs import InputError, open_input
from nodediag.analyzer.report.json_report import result_to_dict
from nodediag.analyzer.rules.catalog import load_rules
from nodediag.analyzer.rules.engine import LogRuleEngine
from nodediag.bundle.format import FORMAT, FORMAT_VERSION
from nodediag.bundle.frames import own_frames
from nodediag.bundle.safe_archive import zstd_frames
from nodediag.bundle.writer import BundleWriter
from tests.unit.test_analysis_parallel import ROLES, container_log

REPO = Path(__file__).resolve().parents[2]
NAMES = list(ROLES)[:3]


def big_log(seed: int, mb: float) -> bytes:
    """A container's log of about ``mb`` MB (the lab's mix of plain lines, warnings and errors)."""
    lines = container_log(seed, 200)
    text = ("\n".join(lines) + "\n").encode()
    return text * max(1, int(mb * 2**20 / len(text)) + 1)


def write_bundle(path: Path, logs: dict[str, bytes]) -> Path:
    writer = BundleWriter.create(path)
    flags = {"prover-node": "--prover-node", "prover-broker": "--prover-broker", "prover-agent": "--prover-agent"}
    for k, (name, data) in enumerate(logs.items()):
        writer.add_bytes(f"containers/{name}/logs.txt", data, f"container_logs:{name}")
        inspect = {"Id": f"{k + 1:064x}", "Name": f"/{name}", "State": {"Status": "running", "ExitCode": 0},
                   "Config": {"Image": "aztecprotocol/aztec:2.1.2", "Cmd": ["start", flags[ROLES[name]]], "Env": []}}
        writer.add_bytes(f"containers/{name}/inspect.json", json.dumps(inspect).encode(), f"container_inspect:{name}")
    writer.finish({"format": FORMAT, "format_version": FORMAT_VERSION, "tool": {"name": "nodediag"},
                   "created_at": "2026-11-27T00:00:00Z", "status": "complete", "sources": []})
    return path


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # two logs of 1 MiB or more (frames of their own) and one small one (shares a frame)
    logs = {NAMES[0]: big_log(1, 2.5), NAMES[1]: big_log(2, 0.2), NAMES[2]: big_log(3, 1.5)}
    return write_bundle(tmp_path_factory.mktemp("frames") / "b.tar.zst", logs)


def comparable(result) -> dict:
    body = result_to_dict(result)
    for key in ("analyzed_at",):
        body.pop(key)
    body["input"] = {k: v for k, v in body["input"].items() if k not in ("kind", "root", "name")}
    return body


def test_large_members_have_frames_of_their_own_and_standard_tools_read_the_bundle_as_before(bundle: Path) -> None:
    frames = own_frames(bundle)
    assert [(f.name.split("/", 1)[1], f.size) for f in frames] == [
        (f"containers/{NAMES[0]}/logs.txt", len(big_log(1, 2.5))),
        (f"containers/{NAMES[2]}/logs.txt", len(big_log(3, 1.5)))]
    with bundle.open("rb") as fh:
        walked = list(zstd_frames(fh, bundle.stat().st_size))
    assert all(f.length == length for f in frames for offset, length, _ in walked if offset == f.offset)
    assert all(content is None for offset, _, content in walked if offset not in {f.offset for f in frames})
    listing = subprocess.run(f"zstd -dc {bundle} | tar -tvf -", shell=True, capture_output=True, text=True,
                             check=True).stdout
    assert listing.count("logs.txt") == 3 and listing.rstrip().endswith("b/manifest.json")
    with zstandard.ZstdDecompressor().stream_reader(bundle.open("rb"), read_across_frames=True) as raw, \
            tarfile.open(fileobj=raw, mode="r|") as archive:
        sizes = {m.name: m.size for m in archive}
    assert sizes[f"b/containers/{NAMES[0]}/logs.txt"] == len(big_log(1, 2.5))


def test_logs_read_straight_from_the_bundle_give_the_result_of_the_extracted_bundle(bundle: Path,
                                                                                    tmp_path: Path) -> None:
    folder = tmp_path / "x"
    folder.mkdir()
    subprocess.run(f"zstd -dc {bundle} | tar -xf - -C {folder}", shell=True, check=True)
    extracted = open_input(folder / "b", workdir=tmp_path / "w0")
    usual = analyze_input(extracted, load_facts(extracted), tool_version="t")

    inp = open_input(bundle, workdir=tmp_path / "w1")
    assert set(inp.own_frames) == {f"containers/{NAMES[0]}/logs.txt", f"containers/{NAMES[2]}/logs.txt"}
    assert not (Path(inp.root) / f"containers/{NAMES[0]}/logs.txt").exists()  # never written to disk
    assert (Path(inp.root) / f"containers/{NAMES[1]}/logs.txt").exists()
    assert set(inp.files) == set(extracted.files) and not inp.gaps
    one = analyze_input(inp, load_facts(inp), tool_version="t", parallel_min_bytes=1 << 62)
    shared = analyze_input(inp, load_facts(inp), tool_version="t", parallel_min_bytes=0)
    assert len(usual.findings) >= 5 and sum(s.lines for s in usual.parse_stats) > 40_000
    assert comparable(one) == comparable(shared) == comparable(usual)

    with EarlyScans(load_rules(), min_bytes=1) as early:
        inp = open_input(bundle, workdir=tmp_path / "w2", on_file=early.on_file, on_frame=early.on_frame)
        assert len(early._started) == 3  # the two in frames of their own, and the small one once on disk
        result = analyze_input(inp, load_facts(inp), tool_version="t", early=early)
    assert comparable(result) == comparable(usual)


def test_logs_in_frames_are_read_line_by_line_when_the_rules_allow_no_skipping(bundle: Path, tmp_path: Path) -> None:
    rules = load_rules()
    first = next(r for r in rules if r.match is not None and not r.match.min_level)
    rules = [replace(first, id="unanchored", match=replace(first.match, regexes=(re.compile(r"(a|b)c"),))), *rules]
    assert LogRuleEngine(rules).skip_plan() is None
    folder = tmp_path / "x"
    folder.mkdir()
    subprocess.run(f"zstd -dc {bundle} | tar -xf - -C {folder}", shell=True, check=True)
    extracted = open_input(folder / "b", workdir=tmp_path / "w0")
    usual = analyze_input(extracted, load_facts(extracted), tool_version="t", rules=rules)
    inp = open_input(bundle, workdir=tmp_path / "w1")
    result = analyze_input(inp, load_facts(inp), tool_version="t", rules=rules, parallel_min_bytes=0)
    assert len(inp.own_frames) == 2 and not result.input.gaps
    assert comparable(result) == comparable(usual)


def rewrite_frame(bundle: Path, out: Path, index: int, change) -> None:
    """``bundle`` with its ``index``-th own frame replaced by ``change(decompressed frame)``,
    compressed again with its length recorded."""
    frame = own_frames(bundle)[index]
    data = bundle.read_bytes()
    content = zstandard.ZstdDecompressor().decompress(data[frame.offset:frame.offset + frame.length])
    again = zstandard.ZstdCompressor(write_content_size=True, write_checksum=True).compress(change(content))
    out.write_bytes(data[:frame.offset] + again + data[frame.offset + frame.length:])


def test_a_log_changed_after_collection_is_a_checksum_gap(bundle: Path, tmp_path: Path) -> None:
    changed = tmp_path / "changed.tar.zst"
    rewrite_frame(bundle, changed, 0, lambda c: c[:5000] + (b"X" if c[5000:5001] != b"X" else b"Y") + c[5001:])
    inp = open_input(changed, workdir=tmp_path / "w")
    assert len(inp.own_frames) == 2 and not inp.gaps  # known only once read
    result = analyze_input(inp, load_facts(inp), tool_version="t")
    (gap,) = result.input.gaps
    assert gap.status == "checksum-mismatch" and gap.files == [f"containers/{NAMES[0]}/logs.txt"]
    assert "sha256" in gap.detail


def analyze_cli(path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nodediag", "analyze", str(path), *args],
                          capture_output=True, text=True, cwd=path.parent, env={"PYTHONPATH": str(REPO), "PATH": ""})


def test_a_damaged_log_frame_is_one_plain_line_and_exit_2(bundle: Path, tmp_path: Path) -> None:
    frame = own_frames(bundle)[1]
    data = bytearray(bundle.read_bytes())
    data[frame.offset + frame.length // 2] ^= 0x55  # inside the compressed log: only its reader sees it
    damaged = tmp_path / "damaged.tar.zst"
    damaged.write_bytes(bytes(data))
    done = analyze_cli(damaged, "-o", str(tmp_path / "r.html"))
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert "damaged.tar.zst" in done.stderr and ("corrupt" in done.stderr or "checksum" in done.stderr)
    assert not (tmp_path / "r.html").exists()


def test_the_caps_count_the_logs_read_from_the_bundle(bundle: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="bytes"):
        open_input(bundle, workdir=tmp_path / "a", max_bytes=3 * 2**20)  # the two big logs alone exceed it
    with pytest.raises(InputError, match="files"):
        open_input(bundle, workdir=tmp_path / "b", max_files=8)
    assert open_input(bundle, workdir=tmp_path / "c", max_files=12).own_frames


def frame(content: bytes, *, size: bool = True) -> bytes:
    return zstandard.ZstdCompressor(write_content_size=size, write_checksum=True).compress(content)


def member(name: str, data: bytes) -> bytes:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info.tobuf(tarfile.PAX_FORMAT) + data + bytes(-len(data) % 512)


def bundle_of(frames: list[bytes], path: Path) -> Path:
    path.write_bytes(b"".join(frames))
    return path


def manifest(files: dict[str, bytes]) -> bytes:
    import hashlib

    entries = [{"path": p, "size": len(d), "sha256": hashlib.sha256(d).hexdigest(), "source": "s"}
               for p, d in files.items()]
    return json.dumps({"format": FORMAT, "format_version": 1, "status": "complete", "sources": [],
                       "files": entries}).encode()


def test_a_frame_holding_more_than_its_log_is_extracted_with_the_rest(tmp_path: Path) -> None:
    logs = big_log(4, 1.2)
    extra = b"{}"
    body = member("t/containers/c/logs.txt", logs) + member("t/containers/c/inspect.json", extra)
    end = member("t/manifest.json", manifest({"containers/c/logs.txt": logs, "containers/c/inspect.json": extra}))
    path = bundle_of([frame(body), frame(end + bytes(1024))], tmp_path / "t.tar.zst")
    assert own_frames(path) == []  # its recorded length is not the log's alone
    inp = open_input(path, workdir=tmp_path / "w")
    assert not inp.own_frames and not inp.gaps and (Path(inp.root) / "containers/c/logs.txt").exists()


def test_a_log_in_a_frame_of_its_own_and_again_in_the_stream_is_refused(tmp_path: Path) -> None:
    logs = big_log(5, 1.2)
    end = member("t/containers/c/logs.txt", b"again\n") + member("t/manifest.json", manifest({}))
    path = bundle_of([frame(member("t/containers/c/logs.txt", logs)), frame(end + bytes(1024))],
                     tmp_path / "t.tar.zst")
    assert len(own_frames(path)) == 1
    with pytest.raises(InputError, match="twice"):
        open_input(path, workdir=tmp_path / "w")


def test_a_log_in_two_frames_of_its_own_is_refused(tmp_path: Path) -> None:
    logs = member("t/containers/c/logs.txt", big_log(7, 1.2))
    path = bundle_of([frame(logs), frame(logs), frame(member("t/manifest.json", manifest({})) + bytes(1024))],
                     tmp_path / "t.tar.zst")
    assert len(own_frames(path)) == 2
    with pytest.raises(InputError, match="twice"):
        open_input(path, workdir=tmp_path / "w")


def test_a_log_frame_without_a_bundle_is_extracted_as_a_whole(tmp_path: Path) -> None:
    """Not a bundle (no manifest; here the manual guide's archive): nothing is read from frames,
    the archive is read as usual."""
    logs = big_log(6, 1.2)
    path = bundle_of([frame(member("t/containers/c/logs.txt", logs)),
                      frame(member("t/prover-node.log", b"x\n") + bytes(1024))], tmp_path / "t.tar.zst")
    assert len(own_frames(path)) == 1
    inp = open_input(path, workdir=tmp_path / "w")
    assert inp.kind == "manual-guide" and not inp.own_frames
    assert any(f.endswith("prover-node.log") for f in inp.files)


def test_a_truncated_bundle_is_refused_before_anything_is_read(bundle: Path, tmp_path: Path) -> None:
    cut = tmp_path / "cut.tar.zst"
    cut.write_bytes(bundle.read_bytes()[: own_frames(bundle)[1].offset + 1000])
    with pytest.raises(InputError, match="truncated"):
        open_input(cut, workdir=tmp_path / "w")
