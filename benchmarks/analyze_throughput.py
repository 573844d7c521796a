"""Analyze throughput and peak memory beside `zstd -dc | grep -cE` / `grep -cE`, same input, same run.

    python benchmarks/analyze_throughput.py [--before PYTHON] [MB] [runs] [mix ...]
        MB     size of each log (default 200; the issue's second size is 1024)
        runs   alternating baseline/analyze pairs per row (default 1); the median ratio is shown
        mix    any of pretty json mixed storm synthetic (default: all five)
        --before PYTHON   also time `PYTHON -m nodediag analyze` (an interpreter that imports an
               earlier nodediag, e.g. a venv over a checkout of the commit before a change) on the
               same inputs, in the same run, right after each baseline: rows "... before"

For each mix, one container's log of that size (realistic_logs.py: real Aztec messages, every line
with its own values; ``synthetic`` is the old three-template log, kept as one more row, not the
target) is timed in two input kinds:
  bundle: a v1 bundle written with the project's BundleWriter as `nodediag collect` writes one
          (the log in a Zstandard frame of its own);  baseline: zstd -dc BUNDLE | grep -cE 'ERROR|WARN'
  file:   the log as a single plain file;              baseline: grep -cE 'ERROR|WARN' FILE
and `nodediag analyze INPUT -o report.html` (the report written in the time measured). It prints
MB/s and peak RSS of both, the ratio (baseline seconds / analyze seconds), and the same ratio of
CPU seconds (user + system, children included), which load on a shared machine disturbs less.
Targets (issue 14): ratio >= 0.25x on every mix and input kind; peak RSS < 400 MB at 1 GB.
"""

from __future__ import annotations

import json
import os
import random
import resource
import shlex
import statistics
import sys
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from peak_rss import run_measured  # noqa: E402
from realistic_logs import MIXES, write_log  # noqa: E402

from nodediag.bundle.format import FORMAT, FORMAT_VERSION  # noqa: E402
from nodediag.bundle.writer import BundleWriter  # noqa: E402

ROLES = (("aztec-prover-prover-node-1", "--prover-node"), ("aztec-prover-prover-broker-1", "--prover-broker"),
         ("aztec-prover-prover-agent-1", "--prover-agent"))
MODULES = ("prover-client:orchestrator", "prover-node", "archiver", "world-state:database", "p2p:libp2p_service")


def log_block(rng: random.Random, start: datetime, i0: int, n: int) -> tuple[str, int]:
    out = []
    for i in range(i0, i0 + n):
        t = start + timedelta(milliseconds=i * 7)
        stamp = t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond:06d}123Z"
        clock = t.strftime("%H:%M:%S.") + f"{t.microsecond // 1000:03d}"
        r = rng.random()
        if r < 0.85:
            line = (f'[{clock}] INFO: {rng.choice(MODULES)} Processed tx 0x{rng.randbytes(32).hex()} '
                    f'{{"slot":{i},"blockNumber":{i // 7}}}')
        elif r < 0.97:
            line = (f"[{clock}] WARN: json-rpc:json_rpc_client JsonRpcClient request proverBroker_getProvingJob "
                    "to http://prover-broker:8080 failed. Will retry in 1s...")
        else:
            line = (f"[{clock}] ERROR: prover-client:orchestrator Error thrown when proving job: "
                    "Error: Broker facade stopped")
        out.append(f"{stamp} {line}\n")
    return "".join(out), i0 + n


def write_synthetic(path: Path, size: int) -> int:
    """The old benchmark's log: 85 % one INFO template, 12 % one WARN text, 3 % one ERROR text."""
    rng = random.Random(0)
    start = datetime(2026, 11, 27, 0, 0, tzinfo=timezone.utc)
    written = i = 0
    with open(path, "wb") as out:
        while written < size:
            block, i = log_block(rng, start, i, 5000)
            data = block.encode()
            out.write(data)
            written += len(data)
    return written


def build_bundle(path: Path, log: Path) -> None:
    """A bundle of one prover-node container whose logs.txt is ``log``, written as collect writes it."""
    name, flag = ROLES[0]
    writer = BundleWriter.create(path)
    spool = writer.spool(f"containers/{name}/logs.txt", f"container_logs:{name}")
    with open(log, "rb") as src:
        while chunk := src.read(4 * 2**20):
            spool.write(chunk)
    writer.commit(spool)
    inspect = {"Id": f"{1:064x}", "Name": f"/{name}",
               "Config": {"Image": "aztecprotocol/aztec:2.1.2", "Cmd": ["start", flag], "Env": []},
               "State": {"Status": "running", "ExitCode": 0}}
    writer.add_bytes(f"containers/{name}/inspect.json", json.dumps(inspect).encode(), f"container_inspect:{name}")
    writer.finish({"format": FORMAT, "format_version": FORMAT_VERSION, "tool": {"name": "nodediag"},
                   "created_at": "2026-11-27T00:00:00Z", "status": "complete", "sources": []})


def measured(cmd: list[str] | str, *, shell: bool = False, env: dict | None = None) -> tuple[float, float, int, int]:
    """run_measured, plus the CPU seconds (user + system) of the command and its children."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    secs, rss, rc = run_measured(cmd, shell=shell, env=env)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return secs, cpu, rss, rc


def measure(label: str, baseline: str, target: Path, out: Path, mb: float, runs: int,
            python: str = sys.executable, before: str | None = None) -> tuple[float, float, float]:
    """Print ``runs`` alternating pairs of baseline and analyze rows (with ``before``, a third
    row: that interpreter's analyze, right after); the median ratio of wall times, the median
    ratio of CPU times, and the largest peak RSS of analyze (MB)."""
    ratios, cpu_ratios, peaks = [], [], []
    for _ in range(runs):
        secs, cpu, rss, _ = measured(baseline, shell=True)
        for interpreter, row in ((python, label), *(((before, f"{label} before"),) if before else ())):
            env = {**os.environ, "PYTHONPATH": str(REPO)} if interpreter == python else dict(os.environ)
            secs2, cpu2, rss2, rc2 = measured([interpreter, "-m", "nodediag", "analyze", str(target), "-o", str(out)],
                                              env=env)
            if rc2 != 0:
                raise SystemExit(f"nodediag analyze {target} failed (exit {rc2})")
            if interpreter == python:
                ratios.append(secs / secs2)
                cpu_ratios.append(cpu / cpu2)
                peaks.append(rss2 / 2**20)
            print(f"{row:<18} {mb / secs:>9.1f} {rss / 2**20:>7.0f} MB {mb / secs2:>9.1f} {rss2 / 2**20:>7.0f} MB "
                  f"{secs:>7.2f} {secs2:>7.2f} {secs / secs2:>7.3f}x {cpu:>7.2f} {cpu2:>7.2f} {cpu / cpu2:>7.3f}x",
                  flush=True)
    return statistics.median(ratios), statistics.median(cpu_ratios), max(peaks)


def main(total_mb: int, runs: int, mixes: list[str], before: str | None = None) -> int:
    size = total_mb * 2**20
    print(f"{'mix / input':<18} {'base MB/s':>9} {'base RSS':>10} {'nd MB/s':>9} {'nd RSS':>10} "
          f"{'base s':>7} {'nd s':>7} {'ratio':>8} {'base cpu':>7} {'nd cpu':>7} {'cpu ratio':>8}")
    summary = []
    with tempfile.TemporaryDirectory(prefix="nodediag-bench-", dir="/var/tmp") as tmp:
        for mix in mixes:
            log = Path(tmp) / f"{mix}.log"
            written = write_synthetic(log, size) if mix == "synthetic" else write_log(log, mix, size)  # type: ignore[arg-type]
            bundle = Path(tmp) / f"{mix}.tar.zst"
            build_bundle(bundle, log)
            os.sync()  # let the writes reach the disk before anything is timed
            mb = written / 2**20
            out = Path(tmp) / "report.html"
            for kind, target, baseline in (
                    ("bundle", bundle, f"zstd -dc {shlex.quote(str(bundle))} | grep -cE 'ERROR|WARN'"),
                    ("file", log, f"grep -cE 'ERROR|WARN' {shlex.quote(str(log))}")):
                ratio, cpu_ratio, peak = measure(f"{mix} {kind}", baseline, target, out, mb, runs, before=before)
                summary.append((f"{mix} {kind}", ratio, cpu_ratio, peak))
            log.unlink()
            bundle.unlink()
    print(f"\nmedian ratio per row ({runs} run(s) each; target >= 0.25x, peak RSS < 400 MB at 1 GB);")
    print("the CPU ratio (user + system seconds) is steadier than wall time on a shared machine:")
    for label, ratio, cpu_ratio, peak in summary:
        print(f"  {label:<18} wall {ratio:>7.3f}x  cpu {cpu_ratio:>7.3f}x  {peak:>5.0f} MB")
    return 0


if __name__ == "__main__":
    args = sys.argv[1:]
    earlier = None
    if args[:1] == ["--before"]:
        if len(args) < 2:
            sys.exit("--before needs the interpreter that runs the earlier nodediag")
        earlier, args = args[1], args[2:]
    chosen = [a for a in args[2:]] or [*MIXES, "synthetic"]
    unknown = [m for m in chosen if m not in (*MIXES, "synthetic")]
    if unknown:
        sys.exit(f"unknown mix {unknown[0]!r}: choose from {', '.join((*MIXES, 'synthetic'))}")
    sys.exit(main(int(args[0]) if args else 200, int(args[1]) if len(args) > 1 else 1, chosen, earlier))
