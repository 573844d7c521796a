"""The watcher's deployment examples (docs/watch/): the systemd unit and the compose service are
valid for their tools, and the command lines they run are valid `nodediag watch` command lines."""

from __future__ import annotations

import configparser
import shlex
import shutil
import subprocess
from pathlib import Path

import click
import yaml
from compose_tools import compose_binary

from nodediag.cli.watch import watch

DOCS = Path(__file__).resolve().parents[2] / "docs" / "watch"


def parse_watch_args(args: list[str]) -> dict:
    assert args[0] == "watch", args
    ctx = watch.make_context("watch", list(args[1:]), resilient_parsing=False)
    return dict(ctx.params)


def test_systemd_unit_is_valid(tmp_path):
    text = (DOCS / "nodediag-watch.service").read_text()
    unit = configparser.ConfigParser(strict=True, interpolation=None, comment_prefixes=("#", ";"))
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read_string(text)
    assert set(unit.sections()) == {"Unit", "Service", "Install"}
    exec_start = shlex.split(unit["Service"]["ExecStart"])
    assert exec_start[0] == "/usr/local/bin/nodediag"
    params = parse_watch_args(exec_start[1:])
    assert params["interval"] == "10s" and params["restart_after_capture"] is False
    assert unit["Service"]["KillSignal"] == "SIGTERM"
    if shutil.which("systemd-analyze"):  # Debian's systemd: the unit as systemd itself reads it
        local = tmp_path / "nodediag-watch.service"
        binary = shutil.which("nodediag") or "/bin/true"
        local.write_text(text.replace("/usr/local/bin/nodediag", binary))
        done = subprocess.run(["systemd-analyze", "verify", str(local)], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0 and not done.stderr.strip() and not done.stdout.strip(), done.stderr


def test_compose_service_is_valid():
    done = subprocess.run([str(compose_binary()), "-f", str(DOCS / "compose.yaml"), "config"], capture_output=True,
                          text=True, timeout=60, cwd=DOCS)
    assert done.returncode == 0, done.stderr
    service = yaml.safe_load(done.stdout)["services"]["nodediag-watch"]
    assert service["pid"] == "host" and service["network_mode"] == "host"
    assert any(v["target"] == "/var/run/docker.sock" for v in service["volumes"])
    params = parse_watch_args(service["command"])
    assert params["out_dir"] == Path("/bundles") and params["as_json"] is True


def test_an_invalid_watch_command_line_is_caught():
    try:
        parse_watch_args(["watch", "--no-such-option"])
    except click.UsageError:
        return
    raise AssertionError("an unknown option was accepted")
