"""`nodediag watch`: sample continuously and capture a bundle the moment something breaks.

Wires the two sides: the collector's watcher (nodediag.collector.watch) gets the analyzer's rule
pack as a plain callable (rules of severity high and above, matched against new log lines).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

import click

from nodediag.cli.common import fail, key_options, operator_rules, parse_duration, parse_size, redaction_options
from nodediag.version import __version__

FORCED_EXIT_S = 4.7  # SIGTERM: exit 0 within 5 s, whatever Docker does


@click.command()
@click.option("--project", "projects", multiple=True, help="Compose project to watch (repeatable).")
@click.option("--container", "containers", multiple=True, help="Container name or id to watch (repeatable).")
@click.option("--interval", default="10s", show_default=True, help="Time between two samples.")
@click.option("--out", "out_dir", default="./nodediag-watch", show_default=True, type=click.Path(path_type=Path),
              help="Folder for the bundles and the sample database (samples.sqlite).")
@click.option("--cooldown", default="30m", show_default=True,
              help="Least time between two bundles for the same kind of trigger on the same subject.")
@click.option("--keep", default=20, show_default=True, type=click.IntRange(min=1),
              help="Most bundles kept in --out; the oldest go first, never the newest.")
@click.option("--max-disk", default="2GB", show_default=True, help="Most bytes of bundles kept in --out.")
@click.option("--retain", default="7d", show_default=True, help="How long samples are kept in the database.")
@click.option("--max-samples-size", default="64MB", show_default=True, help="Size cap of the sample database.")
@click.option("--history", default="6h", show_default=True, help="How much of the samples a bundle carries.")
@click.option("--since", default="6h", show_default=True, help="How far back a bundle takes logs and events.")
@click.option("--on-capture", metavar="CMD", help="Run CMD with the bundle's path as its last argument "
              "(or in place of {bundle}) after each capture; its failure is logged, never fatal.")
@click.option("--restart-after-capture", is_flag=True,
              help="After a bundle is written and verified, restart the container that failed (docker restart; "
                   "volumes are never touched). Off by default.")
@redaction_options
@key_options
@click.option("--json", "as_json", is_flag=True, help="One JSON object per event on stderr instead of text.")
def watch(projects, containers, interval, out_dir, cooldown, keep, max_disk, retain, max_samples_size, history,
          since, on_capture, restart_after_capture, secrets, secrets_files, patterns, redact_ips, as_json,
          key_choice) -> None:
    """Sample the deployment and the host every interval; capture a bundle the moment something breaks
    (a container dies, is OOM-killed or restarts; /status fails 3 times; a high-severity log line; a disk
    at 90 %; host memory under 5 %). Runs until SIGTERM or Ctrl-C."""
    from nodediag.collector.collect import CollectOptions
    from nodediag.collector.watch.capture import CaptureSettings
    from nodediag.collector.watch.loop import EventLog, Watcher, WatchSettings
    from nodediag.collector.watch.store import StoreError

    operator_secrets, operator_patterns = operator_rules(secrets, secrets_files, patterns)
    try:
        interval_s = parse_duration(interval).total_seconds()
        cooldown_s = parse_duration(cooldown).total_seconds()
        retain_s = parse_duration(retain).total_seconds()
        history_s = parse_duration(history).total_seconds()
        since_td = parse_duration(since)
        disk_cap = parse_size(max_disk)
        store_cap = parse_size(max_samples_size)
    except click.BadParameter as exc:
        fail(str(exc))
    if interval_s < 1:
        fail("--interval must be at least 1s")
    if out_dir.exists() and not out_dir.is_dir():
        fail(f"--out {out_dir} is a file; give a folder for the bundles and the sample database")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        fail(f"--out {out_dir} cannot be created: {exc.strerror or exc}")
    if not os.access(out_dir, os.W_OK | os.X_OK):
        fail(f"--out {out_dir} is not writable")
    options = CollectOptions(since=since_td, timeout=300.0, projects=projects, containers=containers,
                             command_line=["nodediag", *sys.argv[1:]], secrets=operator_secrets,
                             patterns=operator_patterns, redact_ips=redact_ips, redaction_key=key_choice.load())
    capture = CaptureSettings(out_dir=out_dir, collect_options=options, history_s=history_s, interval_s=interval_s,
                              keep=keep, max_disk=disk_cap, on_capture=on_capture,
                              restart_after_capture=restart_after_capture)
    settings = WatchSettings(capture=capture, interval_s=interval_s, cooldown_s=cooldown_s, retain_s=retain_s,
                             store_max_bytes=store_cap, projects=projects, containers=containers)
    log = EventLog(as_json=as_json)
    try:
        watcher = Watcher(settings, matcher=rule_matcher(), log=log)
    except StoreError as exc:
        fail(str(exc))

    def force_exit() -> None:  # a Docker call hung past the promise of exiting within 5 s
        log("stopped", "watcher stopped (a call to Docker did not return in time)", forced=True)
        os._exit(0)

    def on_signal(signum: int, frame: FrameType | None) -> None:
        if not watcher.stopping:
            log("stopping", f"{signal.Signals(signum).name} received: stopping")
            watchdog = threading.Timer(FORCED_EXIT_S, force_exit)
            watchdog.daemon = True
            watchdog.start()
        watcher.request_stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    log("version", f"nodediag {__version__} watch", version=__version__)
    code = watcher.run()
    sys.stdout.flush()
    sys.stderr.flush()
    # a collection thread abandoned in a hung Docker call must not hold the process open
    if any(t.is_alive() and not t.daemon and t is not threading.main_thread() for t in threading.enumerate()):
        os._exit(code)
    sys.exit(code)


def rule_matcher():  # -> LineMatcher
    """The analyzer's rule pack as the watcher's line matcher: rules at severity high and above."""
    from nodediag.analyzer.rules.live import LiveRuleMatcher

    return LiveRuleMatcher(min_severity="high")
