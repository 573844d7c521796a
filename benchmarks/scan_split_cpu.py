"""CPU seconds on each side of the split scan of one large log, beside an earlier nodediag, same run.

    python benchmarks/scan_split_cpu.py [--before PYTHON] [MB] [runs] [mix ...]
        MB     size of the log (default 200)
        runs   alternating runs per row (default 3); the median is shown
        mix    any of pretty json mixed storm (default: pretty storm)
        --before PYTHON   an interpreter that imports an earlier nodediag (a venv over a checkout
               of the commit before a change): rows "... before", measured right after each run

A log of ``MB`` (realistic_logs.py: real Aztec messages, every line with its own values) is
scanned as ``analyze`` scans one large log (log_scan.scan_each: a forked child reads, sieves and
parses it, this process matches the rules and keeps the hits, unexplained groups and timeline,
parse_child.py). Printed: this process's CPU seconds (the parent), the child's (its rusage), the
wall time, and per record sent (WARN and above, and what a rule's anchor marks) the microseconds
of each side. The wall time is the larger side's when both get a core: both must get cheaper.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from realistic_logs import MIXES, write_log

# run by the interpreter measured (this one or --before's): only APIs both have
MEASURE = """
import json, resource, sys, time
from pathlib import Path
from nodediag.analyzer import forking, log_scan, parse_child
from nodediag.analyzer.model import LogFile
from nodediag.analyzer.rules.catalog import load_rules
log = Path(sys.argv[1])
forking.can_fork_helper = lambda: True  # (the split is what is measured, whatever else runs here)
parse_child.SPLIT_MIN_BYTES = 0
container, role = "aztec-prover-prover-node-1", "prover-node"
rules = load_rules()
start_cpu, start_wall = time.process_time(), time.perf_counter()
parts = log_scan.scan_each(str(log.parent), [LogFile(log.name, container, role)], rules, {container: role})
parent, wall = time.process_time() - start_cpu, time.perf_counter() - start_wall
child = resource.getrusage(resource.RUSAGE_CHILDREN)
stats = parts[0][2]
print(json.dumps({"parent": parent, "child": child.ru_utime + child.ru_stime, "wall": wall,
                  "records": stats.records}))
"""


def measure(python: str, log: Path) -> dict[str, float]:
    done = subprocess.run([python, "-c", MEASURE, str(log)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"{python} failed on {log}:\n{done.stderr}")
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def count_sent(log: Path) -> int:
    """The records the child sends: those the sieve does not skip (Repeats count one each)."""
    from nodediag.analyzer.model import ParseStats
    from nodediag.analyzer.parsing.logs import Repeats, parse_log_stream
    from nodediag.analyzer.rules.catalog import load_rules
    from nodediag.analyzer.rules.engine import LogRuleEngine

    skip = LogRuleEngine(load_rules()).skip_plan()
    with open(log, "rb") as handle:
        return sum(len(item.items) if isinstance(item, Repeats) else 1
                   for item in parse_log_stream(handle, file=log.name, stats=ParseStats(file=log.name), skip=skip,
                                                repeats=True))


def main(total_mb: int, runs: int, mixes: list[str], before: str | None) -> int:
    print(f"{'mix':<16} {'parent cpu':>10} {'child cpu':>10} {'wall':>7} {'records':>8} "
          f"{'parent us/rec':>13} {'child us/rec':>12}")
    with tempfile.TemporaryDirectory(prefix="nodediag-split-") as folder:
        for mix in mixes:
            log = Path(folder) / f"{mix}.log"
            write_log(log, mix, total_mb * 2**20, seed=1)  # type: ignore[arg-type]
            sent = count_sent(log)
            rows: dict[str, list[dict[str, float]]] = {mix: [], f"{mix} before": []}
            for _ in range(runs):
                rows[mix].append(measure(sys.executable, log))
                if before:
                    rows[f"{mix} before"].append(measure(before, log))
            for label, found in rows.items():
                if not found:
                    continue
                parent = statistics.median(r["parent"] for r in found)
                child = statistics.median(r["child"] for r in found)
                wall = statistics.median(r["wall"] for r in found)
                print(f"{label:<16} {parent:>10.2f} {child:>10.2f} {wall:>7.2f} {sent:>8} "
                      f"{parent / sent * 1e6:>13.1f} {child / sent * 1e6:>12.1f}")
            log.unlink()
    return 0


if __name__ == "__main__":
    args = sys.argv[1:]
    before_python = None
    if args[:1] == ["--before"]:
        if len(args) < 2:
            sys.exit("--before needs the interpreter that runs the earlier nodediag")
        before_python, args = args[1], args[2:]
    try:
        mb = int(args[0]) if args else 200
        count = int(args[1]) if len(args) > 1 else 3
    except ValueError:
        sys.exit("usage: scan_split_cpu.py [--before PYTHON] [MB] [runs] [mix ...]")
    chosen = args[2:] or ["pretty", "storm"]
    unknown = [m for m in chosen if m not in MIXES]
    if unknown:
        sys.exit(f"unknown mix {unknown[0]!r}: choose from {', '.join(MIXES)}")
    sys.exit(main(mb, count, chosen, before_python))
