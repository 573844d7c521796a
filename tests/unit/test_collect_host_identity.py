"""collect records which host it ran on (a stable id that does not reveal /etc/machine-id) and
what is known of the host clock, so that `analyze B1 B2` can tell hosts apart and set clocks."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import zstandard

from nodediag.collector.sources.host import clock_state, host_id, parse_chronyc_tracking, parse_timedatectl
from tests.unit.test_collect_cli import manifest_of, run


def test_host_id_hashes_the_machine_id_and_falls_back_to_the_boot_id(tmp_path: Path) -> None:
    machine, boot = tmp_path / "machine-id", tmp_path / "boot_id"
    machine.write_text("0123456789abcdef0123456789abcdef\n")
    boot.write_text("9b2c1f0e-1111-2222-3333-444455556666\n")
    first = host_id((str(machine),), str(boot))
    assert first.startswith("machine:") and len(first) == len("machine:") + 24
    assert "0123456789abcdef" not in first  # the machine id itself is not disclosed
    assert first == host_id((str(machine),), str(boot))  # stable
    machine.write_text("fedcba98765432100123456789abcdef\n")
    assert host_id((str(machine),), str(boot)) != first  # another machine, another id
    assert host_id((str(tmp_path / "none"), str(tmp_path / "empty")), str(boot)).startswith("boot:")
    assert host_id((str(tmp_path / "none"),), str(tmp_path / "none")) == ""


def test_timedatectl_and_chrony_outputs_give_the_sync_state() -> None:
    assert parse_timedatectl("Timezone=Etc/UTC\nNTP=yes\nNTPSynchronized=no\n") == {
        "synchronized": False, "ntp_service": True, "timezone": "Etc/UTC"}
    chrony = parse_chronyc_tracking(
        "Reference ID    : C0A80101 (192.168.1.1)\nStratum         : 3\n"
        "System time     : 0.250000000 seconds fast of NTP time\nRoot delay      : 0.020000 seconds\n"
        "Root dispersion : 0.003000 seconds\nLeap status     : Normal\n")
    assert chrony["offset_s"] == 0.25 and chrony["root_dispersion_s"] == 0.003 and chrony["synchronized"] is True
    assert parse_chronyc_tracking("System time     : 1.5 seconds slow of NTP time\n")["offset_s"] == -1.5
    assert parse_chronyc_tracking("Leap status     : Not synchronised\n")["synchronized"] is False


def test_clock_state_has_the_time_and_a_known_or_unknown_sync_state() -> None:
    clock = clock_state()
    assert clock["time"].endswith("Z") and clock["synchronized"] in (True, False, None)


def test_a_collected_bundle_names_its_host_and_clock(tmp_path: Path) -> None:
    proc = run("-o", str(tmp_path / "b.tar.zst"), cwd=tmp_path)
    assert proc.returncode == 4, proc.stderr  # no Docker here: a host-only bundle
    manifest = manifest_of(tmp_path / "b.tar.zst")
    assert manifest["host"]["host_id"] == host_id() != ""
    with zstandard.open(tmp_path / "b.tar.zst", "rb") as fh:
        with tarfile.open(fileobj=fh, mode="r|") as tar:
            summary = next(json.load(tar.extractfile(m))  # type: ignore[arg-type]
                           for m in tar if m.name.endswith("host/summary.json"))
    assert summary["host_id"] == manifest["host"]["host_id"]
    assert summary["clock"]["time"].endswith("Z") and "sync" in summary["clock"]
