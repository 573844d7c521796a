"""BundleWriter's files: reserved names for concurrent collects, owner-only modes, nothing left behind."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from nodediag.bundle.verify import verify_bundle
from nodediag.bundle.writer import BundleError, BundleWriter, remove_temporaries

MANIFEST = {"format": "nodediag-bundle", "format_version": 1}


def write_one(writer: BundleWriter, text: str) -> Path:
    writer.add_bytes("host/summary.json", text.encode(), "host_summary")
    return writer.finish(dict(MANIFEST))


def test_two_collects_into_one_name_keep_both_bundles(tmp_path):
    out = tmp_path / "nodediag-host-20261203T080000Z.tar.zst"
    first = BundleWriter.create(out, unique=True)
    second = BundleWriter.create(out, unique=True)  # same second, same default name
    assert second.output != first.output and second.output.name == "nodediag-host-20261203T080000Z-2.tar.zst"
    assert second.warnings and str(second.output) in second.warnings[0]
    a, b = write_one(second, "{}"), write_one(first, "{}")
    assert {a, b} == {first.output, second.output}
    for path in (a, b):
        assert path.exists() and verify_bundle(path).ok
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([a.name, b.name])


def test_an_explicit_name_taken_by_a_running_collect_gets_the_next_free_name(tmp_path):
    out = tmp_path / "mine.tar.zst"
    first = BundleWriter.create(out)
    second = BundleWriter.create(out)
    assert second.output == tmp_path / "mine-2.tar.zst"
    assert "being written by another nodediag collect" in second.warnings[0]
    write_one(first, "{}")
    write_one(second, "{}")
    assert verify_bundle(out).ok and verify_bundle(tmp_path / "mine-2.tar.zst").ok


def test_a_file_that_appears_under_the_name_is_never_replaced(tmp_path):
    out = tmp_path / "b.tar.zst"
    writer = BundleWriter.create(out)
    out.write_bytes(b"someone else's")
    placed = write_one(writer, "{}")
    assert out.read_bytes() == b"someone else's"
    assert placed == tmp_path / "b-2.tar.zst" and placed.exists() and verify_bundle(placed).ok
    assert any(str(placed) in w for w in writer.warnings)  # the message names a file that exists


def test_an_existing_explicit_output_is_refused(tmp_path):
    out = tmp_path / "b.tar.zst"
    out.write_bytes(b"precious")
    with pytest.raises(BundleError, match="already exists"):
        BundleWriter.create(out)
    assert out.read_bytes() == b"precious" and sorted(p.name for p in tmp_path.iterdir()) == ["b.tar.zst"]


def test_every_file_is_owner_only_whatever_the_umask(tmp_path):
    old = os.umask(0)
    try:
        writer = BundleWriter.create(tmp_path / "b.tar.zst")
        spool = writer.spool("host/x.json", "s")
        modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in tmp_path.rglob("*")}
        spool.discard()
        path = write_one(writer, "{}")
    finally:
        os.umask(old)
    assert all(mode in (0o600, 0o700) for mode in modes.values()), modes
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_abort_and_exit_cleanup_leave_nothing(tmp_path):
    writer = BundleWriter.create(tmp_path / "b.tar.zst")
    writer.add_bytes("host/summary.json", b"{}", "host_summary")
    writer.abort()
    assert list(tmp_path.iterdir()) == []
    BundleWriter.create(tmp_path / "c.tar.zst")  # never finished nor aborted: removed at exit
    assert list(tmp_path.iterdir())
    remove_temporaries()
    assert list(tmp_path.iterdir()) == []
