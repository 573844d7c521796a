"""What analysing a deployment as several bundles costs, against the same logs as one bundle.

    python benchmarks/analyze_multi.py [MB of broker, agent and node logs] [runs]     (defaults: 200, 3)

Writes one extracted bundle holding a broker's, an agent's and a node's job traffic (docker-
timestamped pino lines, every job on the three sides: the node's facade logs each job enqueued
and resolved, and each epoch's start) and the same split in three bundles of three hosts (the
agent's clock 90 s fast, the node's 45 s slow), then times, in alternating runs:
  baseline: `nodediag analyze ONE` as before several inputs existed (open, facts, analyze_input)
  single:   `nodediag analyze ONE` now (plus the scan of broker and agent job lines)
  merged:   `nodediag analyze HOST-A HOST-B HOST-C` (open them, scan job lines, merge, analyze_input)
and prints seconds and MB/s side by side, the median ratios to the baseline, and the clock
corrections the merge found (the truth: -90 s and +45 s).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from nodediag.analyzer.analysis import analyze_input  # noqa: E402
from nodediag.analyzer.facts import load_facts  # noqa: E402
from nodediag.analyzer.inputs import open_input  # noqa: E402
from nodediag.analyzer.merge import merge_inputs, scan_jobs  # noqa: E402
from tests.bundle_tools import write_bundle_folder  # noqa: E402

BROKER, AGENT = "aztec-prover-prover-broker-1", "aztec-prover-prover-agent-1"
NODE = "aztec-prover-prover-node-1"
JOBS_PER_EPOCH = 1000
T0 = datetime(2026, 11, 27, 10, 0, tzinfo=timezone.utc)


def stamp(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.%f") + "000Z" + f" [{at.strftime('%H:%M:%S.%f')[:-3]}]"


def traffic(megabytes: int, agent_skew: timedelta, node_skew: timedelta) -> tuple[bytes, bytes, bytes]:
    broker, agent, node = [], [], []
    size, i = 0, 0
    while size < megabytes * 2**20:
        at = T0 + timedelta(milliseconds=50 * i)
        epoch = i // JOBS_PER_EPOCH
        job = f"{epoch}:{i:08x}"
        lines_b = [f"{stamp(at)} INFO: prover-client:proving-broker New proving job id={job} epochNumber={epoch}",
                   f"{stamp(at + timedelta(seconds=2))} INFO: prover-client:proving-broker Proving job complete "
                   f"id={job} type=PUBLIC_BASE_ROLLUP totalAttempts=1"]
        lines_a = [f"{stamp(at + timedelta(milliseconds=20) + agent_skew)} INFO: prover-client:proving-agent "
                   f"Starting job id={job} type=PUBLIC_BASE_ROLLUP inputsUri=data:...",
                   f"{stamp(at + timedelta(seconds=1) + agent_skew)} INFO: prover-client:proving-agent Job id={job} "
                   "type=PUBLIC_BASE_ROLLUP completed outputUri=data:..."]
        lines_n = [f"{stamp(at + timedelta(milliseconds=5) + node_skew)} VERBOSE: "
                   f"prover-client:broker-circuit-prover-facade Job enqueued with broker id={job} "
                   f"type=PUBLIC_BASE_ROLLUP epochNumber={epoch}",
                   f"{stamp(at + timedelta(seconds=2, milliseconds=600) + node_skew)} VERBOSE: "
                   f"prover-client:broker-circuit-prover-facade Resolved proving job id={job} type=PUBLIC_BASE_ROLLUP"]
        if i % JOBS_PER_EPOCH == 0:
            lines_n.insert(0, f"{stamp(at - timedelta(milliseconds=300) + node_skew)} INFO: prover-node "
                              f"Starting epoch {epoch} proving job with checkpoints 1 to 2")
        broker += lines_b
        agent += lines_a
        node += lines_n
        size += sum(len(x) + 1 for x in lines_b + lines_a + lines_n)
        i += 1
    return (("\n".join(sorted(broker)) + "\n").encode(), ("\n".join(agent) + "\n").encode(),
            ("\n".join(node) + "\n").encode())


def inspect(name: str, flag: str) -> bytes:
    return (f'{{"Name": "/{name}", "Path": "node", "Args": ["start", "{flag}"], "State": {{"Status": "running"}}, '
            f'"Config": {{"Image": "aztecprotocol/aztec:2.1.2", "Cmd": ["start", "{flag}"]}}}}').encode()


def timed(paths: list[Path], work: Path, mode: str) -> tuple[float, list[str]]:
    began = time.perf_counter()
    clocks: list[str] = []
    if mode == "merged":
        parts = []
        for index, path in enumerate(paths):
            inp = open_input(path, workdir=work / str(index))
            parts.append((inp, load_facts(inp)))
        merged = merge_inputs(parts, work)
        analyze_input(merged.input, merged.facts)
        clocks = [f"{h.label} {h.clock_offset_s:+.2f} s" + (f" ± {h.clock_error_s:.2f} s" if h.clock_error_s is not None
                                                               else " (error unknown)") for h in merged.facts.hosts]
    else:
        inp = open_input(paths[0], workdir=work)
        facts = load_facts(inp)
        if mode == "single":
            scan_jobs(inp, facts)
        analyze_input(inp, facts)
    return time.perf_counter() - began, clocks


def main(argv: list[str]) -> int:
    megabytes = int(argv[1]) if len(argv) > 1 else 200
    runs = int(argv[2]) if len(argv) > 2 else 3
    with tempfile.TemporaryDirectory(prefix="nodediag-bench-multi-") as tmp:
        root = Path(tmp)
        broker_log, agent_log, node_log = traffic(megabytes, timedelta(), timedelta())
        _, skewed_agent, skewed_node = traffic(megabytes, timedelta(seconds=90), timedelta(seconds=-45))
        files_b = {f"containers/{BROKER}/logs.txt": broker_log,
                   f"containers/{BROKER}/inspect.json": inspect(BROKER, "--prover-broker")}
        files_a = {f"containers/{AGENT}/inspect.json": inspect(AGENT, "--prover-agent")}
        files_n = {f"containers/{NODE}/inspect.json": inspect(NODE, "--prover-node")}
        one = write_bundle_folder(root / "one", {**files_b, **files_a, **files_n,
                                                 f"containers/{AGENT}/logs.txt": agent_log,
                                                 f"containers/{NODE}/logs.txt": node_log},
                                  hostname="prover-a", host_id="machine:a")
        host_a = write_bundle_folder(root / "a", files_b, hostname="prover-a", host_id="machine:a")
        host_b = write_bundle_folder(root / "b", {**files_a, f"containers/{AGENT}/logs.txt": skewed_agent},
                                     hostname="agent-b", host_id="machine:b")
        host_c = write_bundle_folder(root / "c", {**files_n, f"containers/{NODE}/logs.txt": skewed_node},
                                     hostname="node-c", host_id="machine:c")
        total = (len(broker_log) + len(agent_log) + len(node_log)) / 2**20
        print(f"{total:.0f} MB of broker, agent and node logs; {runs} run(s)")
        results: dict[str, list[float]] = {"baseline": [], "single": [], "merged": []}
        clocks: list[str] = []
        for run in range(runs):
            for mode, paths in (("baseline", [one]), ("single", [one]), ("merged", [host_a, host_b, host_c])):
                seconds, found = timed(paths, root / f"w-{run}-{mode}", mode)
                clocks = found or clocks
                results[mode].append(seconds)
                print(f"  run {run + 1} {mode:9s} {seconds:7.2f} s  {total / seconds:7.1f} MB/s")
        base = statistics.median(results["baseline"])
        for mode in ("single", "merged"):
            print(f"median {mode}: {statistics.median(results[mode]):.2f} s, "
                  f"{statistics.median(results[mode]) / base:.2f}x the baseline ({base:.2f} s)")
        print("clock corrections found: " + "; ".join(clocks) + " (truth: agent-b -90 s, node-c +45 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
