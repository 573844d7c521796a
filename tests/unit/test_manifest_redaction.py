"""Every byte of a bundle is redacted, the manifest too: a credential in DOCKER_HOST never reaches it."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest
import zstandard

from nodediag.bundle.writer import BundleError, BundleWriter
from nodediag.collector.collect import CollectOptions, collect
from nodediag.redaction import RedactionCounts, Redactor

PASSWORD = "Vq7pL2mXk9RtW4zN"


def _all_bytes(bundle: Path) -> bytes:
    data = zstandard.ZstdDecompressor().stream_reader(bundle.open("rb"), read_across_frames=True).read()
    out = b""
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for member in tar:
            fh = tar.extractfile(member) if member.isfile() else None
            out += fh.read() if fh else b""
    return out


def test_docker_host_credentials_never_reach_the_manifest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"tcp://admin:{PASSWORD}@127.0.0.1:9")
    out = tmp_path / "b.tar.zst"
    outcome = collect(CollectOptions(output=out, docker_timeout=2, timeout=120, no_logs=True,
                                     excludes=("host_processes", "kernel_oom", "probe_status")))
    assert outcome.path == out
    data = _all_bytes(out)
    assert PASSWORD.encode() not in data
    assert b"127.0.0.1" in data  # the error is kept, without its credential


def test_the_writer_refuses_a_manifest_the_gate_refuses(tmp_path: Path) -> None:
    writer = BundleWriter.create(tmp_path / "c.tar.zst")
    redactor = Redactor(b"k" * 32)
    with pytest.raises(BundleError, match="manifest.json"):
        writer.finish({"error": "AKIAIOSFODNN7EXAMPLE"}, redact=lambda text: text,
                      gate=lambda text: redactor.output_leak(text, "manifest.json"))
    writer.abort()
    writer = BundleWriter.create(tmp_path / "d.tar.zst")
    path = writer.finish({"error": "AKIAIOSFODNN7EXAMPLE"},
                         redact=lambda text: redactor.redact_text(text, RedactionCounts()),
                         gate=lambda text: redactor.output_leak(text, "manifest.json"))
    assert b"AKIAIOSFODNN7EXAMPLE" not in _all_bytes(path)
