"""Peak memory of `nodediag collect` for a container that prints ONE huge line, against the same
number of bytes printed as ordinary lines (the baseline), same engine, same run.

    python benchmarks/collect_long_line.py [MB]     (default: 200)

Two busybox containers write MB megabytes to stderr: one as a single line (no newline until the
end), one as 100-byte lines. Each is collected with `--log-cap 50MB` (default --line-cap 1MB);
wall time and peak RSS (process tree, see peak_rss.py) are printed side by side.
Target (issue 13): the one-line log costs no more than 1.5x the baseline's peak RSS and stays
under 150 MB (before the line cap it took 2.1 GB for a 300 MB line).
Uses the project's private engine (tests/engine/dockerd.sh), started and stopped here if needed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_engine import start_engine, stop_engine
from peak_rss import run_measured

REPO = Path(__file__).resolve().parents[1]
IMAGE = "nodediag-test/busybox:1"


def main(mb: int) -> int:
    env, started_engine = start_engine()
    size = mb * 1024 * 1024
    scripts = {
        "baseline: 100-byte lines": f"yes {'x' * 98} | head -c {size} >&2",
        "one line": f"head -c {size} /dev/zero | tr '\\0' 'z' >&2; echo >&2",
    }
    names: list[str] = []
    print(f"{'log of ' + str(mb) + ' MB':<28} {'seconds':>8} {'peak RSS':>10}")
    try:
        results = {}
        for what, script in scripts.items():
            name = f"bench-longline-{len(names)}-{os.getpid()}"
            subprocess.run(["docker", "run", "--name", name, "--network", "none", IMAGE, "sh", "-c", script],
                           env=env, check=True, capture_output=True)
            names.append(name)
            with tempfile.TemporaryDirectory(prefix="nodediag-bench-", dir="/var/tmp") as tmp:
                args = [sys.executable, "-m", "nodediag", "collect", "--container", name, "--since", "2h",
                        "--log-cap", "50MB", "-q", "-o", str(Path(tmp) / "b.tar.zst")]
                secs, rss, rc = run_measured(args, env=env)
            if rc not in (0, 4):
                print(f"nodediag collect failed (exit {rc})")
                return 1
            results[what] = rss
            print(f"{what:<28} {secs:>8.1f} {rss / 2**20:>7.0f} MB")
        base, one = results["baseline: 100-byte lines"], results["one line"]
        print(f"one line / baseline peak RSS: {one / base:.2f}x (target <= 1.5x, and < 150 MB)")
    finally:
        if names:
            subprocess.run(["docker", "rm", "-f", *names], env=env, capture_output=True)
        if started_engine:
            stop_engine(env)
    return 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 200))
