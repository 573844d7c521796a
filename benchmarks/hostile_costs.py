"""The "Unbounded cost" table of issue 13, measured for a baseline build and for this checkout in
the same run, each input built here.

    python benchmarks/hostile_costs.py BASELINE_SITE [--scale 1.0] [--memory-mb 4096] [--timeout 150]

BASELINE_SITE is a folder nodediag is importable from for the "before" column, e.g. an older
commit installed with ``pip install --no-deps --target /tmp/base-site <checkout>``. Each run has
an address-space limit and a timeout: a "before" run that hits them is reported as such (it would
have gone further). Temp files are counted in a private TMPDIR and in the output folder, sampled
every 0.2 s; a run that writes more than --max-disk-mb is stopped and reported as above it.
Rows: the same inputs as the issue (sizes times --scale), but for ``collect`` (the collect
engineer's part of the issue).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import tempfile
import threading
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.unit import hostile_builders as hb  # noqa: E402


def folder_bytes(*folders: Path) -> int:
    total = 0
    for folder in folders:
        for root, _, names in os.walk(folder):
            for name in names:
                try:
                    total += os.lstat(os.path.join(root, name)).st_size
                except OSError:
                    pass
    return total


def measure(args: list[str], site: str | None, work: Path, memory_mb: int, timeout: float,
            max_disk: int) -> dict[str, object]:
    tmp, out = work / "tmp", work / "out"
    for folder in (tmp, out):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir()
    peak = [0]
    done = threading.Event()
    child: list[int] = []

    def watch() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], folder_bytes(tmp, out))
            if peak[0] > max_disk and child:
                try:
                    os.kill(child[0], signal.SIGKILL)  # the run this call started, by its pid
                except ProcessLookupError:
                    pass
            done.wait(0.2)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    argv = [a.replace("{out}", str(out)) for a in args]
    run = hb.run_limited(*argv, memory_mb=memory_mb, timeout=timeout, env={"TMPDIR": str(tmp)}, pythonpath=site,
                         cwd=work,  # (python -m puts the working folder first on sys.path)
                         on_start=child.append)
    done.set()
    watcher.join()
    report = out / "report.html"
    last = [line for line in run.stderr.splitlines() if line.strip()][-1:] or [""]
    outcome = "timeout" if run.timed_out else "memory limit" if "MemoryError" in run.stderr else \
        ("disk cap" if peak[0] > max_disk else f"exit {run.code}")
    return {"rss_mb": run.max_rss_mb, "seconds": run.seconds, "disk_mb": peak[0] / 2**20,
            "report_mb": report.stat().st_size / 2**20 if report.exists() else 0.0,
            "stdout_lines": len(run.stdout.splitlines()), "outcome": outcome, "last": last[0][:110]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("baseline_site")
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--memory-mb", type=int, default=4096)
    parser.add_argument("--timeout", type=float, default=150)
    parser.add_argument("--max-disk-mb", type=int, default=3072)
    parser.add_argument("--only", default="")
    parser.add_argument("--sides", default="baseline,this", help="which columns to measure")
    opts = parser.parse_args()
    s = opts.scale
    work = Path(tempfile.mkdtemp(prefix="hostile-costs-"))
    inputs = work / "inputs"
    inputs.mkdir()
    try:
        header = hb.huge_long_name_header(inputs / "header.tar.zst", int((1 << 30) * s))
        long_line = hb.long_line_bundle(inputs / "line.tar.zst", int(500e6 * s))
        fact = hb.big_fact_file(inputs / "fact.tar.zst", int(100e6 * s))
        bomb = hb.zstd_bomb(inputs / "bomb.tar.zst", int(8 * 2**30 * s))
        members_1m = hb.many_members(inputs / "1m.tar.zst", int(1_000_000 * s))
        members_20k = hb.many_members(inputs / "20k.tar.zst", 20_000)
        members_100k = hb.many_members(inputs / "100k.tar.zst", 100_000)
        rows = [
            (f"{header.stat().st_size // 1024} KB bundle, {int(s * 1024)} MiB long-name header", "verify",
             ["verify", str(header)]),
            ("(same)", "inspect", ["inspect", str(header)]),
            ("(same)", "redact", ["redact", str(header), "-o", "{out}/o.tar.zst"]),
            (f"{long_line.stat().st_size // 1024} KB bundle, one {int(500 * s)} MB log line", "analyze",
             ["analyze", str(long_line), "-o", "{out}/report.html"]),
            (f"{fact.stat().st_size // 1024} KB bundle, {int(100 * s)} MB JSON fact file", "analyze",
             ["analyze", str(fact), "-o", "{out}/report.html"]),
            (f"{bomb.stat().st_size // 1024} KB zstd bomb ({8 * s:.1f} GiB)", "redact",
             ["redact", str(bomb), "-o", "{out}/o.tar.zst"]),
            ("(same)", "analyze", ["analyze", str(bomb), "-o", "{out}/report.html"]),
            (f"{members_1m.stat().st_size // 1024} KB tar of {int(1_000_000 * s):,} members", "verify",
             ["verify", str(members_1m)]),
            ("(same)", "inspect", ["inspect", str(members_1m)]),
            ("20k members", "redact", ["redact", str(members_20k), "-o", "{out}/o.tar.zst"]),
            ("100k members", "redact", ["redact", str(members_100k), "-o", "{out}/o.tar.zst"]),
        ]
        print(f"{'input':48} {'command':8} {'side':9} {'RSS MB':>8} {'s':>7} {'disk MB':>8} {'report MB':>9} "
              f"{'lines':>7}  outcome: last stderr line")
        for label, command, args in rows:
            if opts.only and opts.only not in label + command:
                continue
            for side, site in (("baseline", opts.baseline_site), ("this", None)):
                if side not in opts.sides.split(","):
                    continue
                r = measure(args, site, work, opts.memory_mb, opts.timeout, opts.max_disk_mb << 20)
                print(f"{label:48} {command:8} {side:9} {r['rss_mb']:8.0f} {r['seconds']:7.1f} {r['disk_mb']:8.0f} "
                      f"{r['report_mb']:9.1f} {r['stdout_lines']:7}  {r['outcome']}: {r['last']}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
