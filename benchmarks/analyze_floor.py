"""What the least a Python analyzer must do costs, beside issue 14's baselines, same input, same run.

    python benchmarks/analyze_floor.py [MB] [mix ...]     (default: 200 MB, pretty storm)

Issue 14's target is `nodediag analyze` in at most 4x the time of `zstd -dc BUNDLE | grep -cE
'ERROR|WARN'` (bundle) or `grep -cE 'ERROR|WARN' FILE` (file). This prints, for each input, that
budget beside the time of programs that do less than any analysis can:

  python -c pass      the interpreter starting and stopping, nothing read
  nodediag --version  the interpreter and nodediag's command line imported
  floor: read         every byte read (decompressed from the bundle's frames) in 16 MB blocks
  floor: lines        ... and split into lines, each WARN/ERROR line found: grep -c's answer, in
                      Python, one membership test per line and nothing else (no parse, no rule,
                      no redaction, no report)
  nodediag analyze    the real thing, its report written

A floor row above the budget means no analyzer written in Python can meet the target on that input:
the budget is spent before the first record is parsed. Rows are wall seconds (the median of
``runs`` alternations), so read them on a quiet machine.
"""

from __future__ import annotations

import os
import shlex
import statistics
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from analyze_throughput import build_bundle  # noqa: E402
from peak_rss import run_measured  # noqa: E402
from realistic_logs import MIXES, write_log  # noqa: E402

# the floor programs: argv[1] is the input; they print the WARN/ERROR line count (grep -c's answer)
READ_FILE = """
import sys
with open(sys.argv[1], "rb") as h:
    while h.read(1 << 24):
        pass
"""
READ_BUNDLE = """
import sys, zstandard
with open(sys.argv[1], "rb") as raw, zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True) as z:
    while z.read(1 << 24):
        pass
"""
LINES = """
def count(blocks):
    n, tail = 0, b""
    for block in blocks:
        lines = (tail + block).split(b"\\n")
        tail = lines.pop()
        for line in lines:
            if b"WARN" in line or b"ERROR" in line:
                n += 1
    return n + (1 if b"WARN" in tail or b"ERROR" in tail else 0)
"""
LINES_FILE = LINES + """
import sys
with open(sys.argv[1], "rb") as h:
    print(count(iter(lambda: h.read(1 << 24), b"")))
"""
LINES_BUNDLE = LINES + """
import sys, zstandard
with open(sys.argv[1], "rb") as raw, zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True) as z:
    print(count(iter(lambda: z.read(1 << 24), b"")))
"""


def timed(cmd: list[str] | str, runs: int, *, shell: bool = False) -> float:
    """The median wall seconds of ``runs`` runs of ``cmd`` (which must succeed)."""
    times = []
    for _ in range(runs):
        secs, _, rc = run_measured(cmd, shell=shell)
        if rc != 0:
            raise SystemExit(f"{cmd if isinstance(cmd, str) else shlex.join(cmd)} failed (exit {rc})")
        times.append(secs)
    return statistics.median(times)


def rows(kind: str, target: Path, out: Path, runs: int) -> list[tuple[str, float]]:
    py = sys.executable
    quoted = shlex.quote(str(target))
    baseline = (f"zstd -dc {quoted} | grep -cE 'ERROR|WARN'" if kind == "bundle"
                else f"grep -cE 'ERROR|WARN' {quoted}")
    return [
        ("baseline", timed(baseline, runs, shell=True)),
        ("python -c pass", timed([py, "-c", "pass"], runs)),
        ("nodediag --version", timed([py, "-m", "nodediag", "--version"], runs)),
        ("floor: read", timed([py, "-c", READ_BUNDLE if kind == "bundle" else READ_FILE, str(target)], runs)),
        ("floor: lines", timed([py, "-c", LINES_BUNDLE if kind == "bundle" else LINES_FILE, str(target)], runs)),
        ("nodediag analyze", timed([py, "-m", "nodediag", "analyze", str(target), "-o", str(out)], runs)),
    ]


def main(total_mb: int, mixes: list[str], runs: int = 3) -> int:
    print(f"{'mix / input':<16} {'row':<20} {'seconds':>8} {'x baseline':>11}  within the 0.25x budget?")
    with tempfile.TemporaryDirectory(prefix="nodediag-floor-", dir="/var/tmp") as tmp:
        for mix in mixes:
            log = Path(tmp) / f"{mix}.log"
            write_log(log, mix, total_mb * 2**20)  # type: ignore[arg-type]
            bundle = Path(tmp) / f"{mix}.tar.zst"
            build_bundle(bundle, log)
            os.sync()
            for kind, target in (("bundle", bundle), ("file", log)):
                measured = rows(kind, target, Path(tmp) / "report.html", runs)
                base = measured[0][1]
                budget = 4 * base
                for row, secs in measured:
                    verdict = "" if row == "baseline" else ("yes" if secs <= budget else "no")
                    print(f"{mix + ' ' + kind:<16} {row:<20} {secs:>8.3f} {base / secs:>10.3f}x  {verdict}",
                          flush=True)
                print(f"{mix + ' ' + kind:<16} {'(budget: 4x base)':<20} {budget:>8.3f}")
            log.unlink()
            bundle.unlink()
    return 0


if __name__ == "__main__":
    args = sys.argv[1:]
    chosen = args[1:] or ["pretty", "storm"]
    unknown = [m for m in chosen if m not in MIXES]
    if unknown:
        sys.exit(f"unknown mix {unknown[0]!r}: choose from {', '.join(MIXES)}")
    sys.exit(main(int(args[0]) if args else 200, chosen))
