"""What the report's context costs: `analyze` with and without its post-passes (evidence
context lines as grep -B/-A, the last lines before each exit, evidence anchoring), same bundle,
same run, alternating.

    python benchmarks/report_context.py [total MB of logs] [runs]     (defaults: 256, 3)

The post-passes read each log that holds evidence once more (decompressing a bundle's frames
again), so their cost grows with log size; the baseline is the same analysis with them turned
off. No target: the figure tells whether they need a budget.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from analyze_throughput import build_bundle  # noqa: E402

from nodediag.analyzer import analysis  # noqa: E402
from nodediag.analyzer.facts import load_facts  # noqa: E402
from nodediag.analyzer.inputs import open_input  # noqa: E402


def timed(bundle: Path, with_context: bool) -> float:
    saved = analysis.add_context, analysis.add_last_lines, analysis.anchor_evidence
    if not with_context:
        analysis.add_context = analysis.add_last_lines = analysis.anchor_evidence = lambda *args, **kw: None  # type: ignore[assignment]
    try:
        with tempfile.TemporaryDirectory(prefix="nodediag-bench-") as work:
            inp = open_input(bundle, workdir=Path(work))
            started = time.perf_counter()
            analysis.analyze_input(inp, load_facts(inp))
            return time.perf_counter() - started
    finally:
        analysis.add_context, analysis.add_last_lines, analysis.anchor_evidence = saved


def main() -> None:
    total_mb = int(sys.argv[1]) if len(sys.argv) > 1 else 256
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    with tempfile.TemporaryDirectory(prefix="nodediag-bench-") as tmp:
        bundle = Path(tmp) / "bench.tar.zst"
        build_bundle(bundle, total_mb)
        without, with_ = [], []
        print(f"{'run':>4} {'baseline (no context) s':>24} {'with context s':>15}")
        for run in range(runs):
            without.append(timed(bundle, False))
            with_.append(timed(bundle, True))
            print(f"{run + 1:>4} {without[-1]:>24.2f} {with_[-1]:>15.2f}")
        base, mine = statistics.median(without), statistics.median(with_)
        print(f"median over {runs} run(s): baseline {base:.2f}s ({total_mb / base:.1f} MB/s), with context "
              f"{mine:.2f}s ({total_mb / mine:.1f} MB/s): +{100 * (mine / base - 1):.0f}%")


if __name__ == "__main__":
    main()
