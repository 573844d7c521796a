"""What the health markers (rules with ``report: false``: role-at-work, epoch-proof-done) cost
the log scan, against the same scan without them and against the rule files as they were before
the markers (git ref 440e69c), same log, same run.

    python benchmarks/marker_rules_cost.py [MB of log] [runs] [git ref]     (defaults: 64, 3, 440e69c)

The markers make the lines that show a role working (an agent's "Starting job id=" and
"completed outputUri=", the broker's "Proving job complete", the node's proofs) reach the rule
engine instead of being skipped by the sieve. The log here is a busy agent/broker mix: 30 % of
its lines are such job lines (far more than a real deployment's, where they are a few per
proof), the rest ordinary INFO records and a few warnings.
  before:   the rule files of the git ref (skipped when git or the ref is not at hand)
  no-mark:  every packaged rule but the markers
  markers:  every packaged rule
Prints MB/s for each, alternating, and the median ratios. Target: markers >= 1.0x before (the
earlier rules already parsed every "Job id=" line; the markers parse one line per job).
"""

from __future__ import annotations

import io
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from nodediag.analyzer.model import ParseStats  # noqa: E402
from nodediag.analyzer.parsing.logs import parse_log_stream  # noqa: E402
from nodediag.analyzer.rules import load_rules  # noqa: E402
from nodediag.analyzer.rules.engine import LogRuleEngine  # noqa: E402


def make_log(total_mb: int) -> bytes:
    rng = random.Random(7)
    start = datetime(2026, 11, 27, tzinfo=timezone.utc)
    out: list[str] = []
    size, i = 0, 0
    while size < total_mb * 1024 * 1024:
        t = start + timedelta(milliseconds=i * 5)
        stamp = t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond:06d}123Z"
        clock = t.strftime("%H:%M:%S.") + f"{t.microsecond // 1000:03d}"
        job = f"{i // 50}:PUBLIC_BASE_ROLLUP:0x{rng.getrandbits(64):016x}"
        r = rng.random()
        if r < 0.10:
            text = f"INFO: prover-client:proving-agent Starting job id={job} type=PUBLIC_BASE_ROLLUP inputsUri=data:x"
        elif r < 0.20:
            text = f"INFO: prover-client:proving-agent Job id={job} type=PUBLIC_BASE_ROLLUP completed outputUri=data:y"
        elif r < 0.30:
            text = (f"INFO: prover-client:proving-broker Proving job complete id={job} type=PUBLIC_BASE_ROLLUP "
                    "totalAttempts=1")
        elif r < 0.98:
            text = f"INFO: archiver Processed tx 0x{rng.getrandbits(128):032x} {{\"slot\":{i}}}"
        else:
            text = "WARN: json-rpc:json_rpc_client JsonRpcClient request proverBroker_getProvingJob to " \
                   "http://prover-broker:8080 failed. Will retry in 1s..."
        line = f"{stamp} [{clock}] {text}\n"
        out.append(line)
        size += len(line)
        i += 1
    return "".join(out).encode()


def scan(data: bytes, rules: list) -> float:
    engine = LogRuleEngine(rules)
    started = time.perf_counter()
    stats = ParseStats(file="logs.txt")
    for record in parse_log_stream(io.BytesIO(data), file="logs.txt", container="agent", role="prover-agent",
                                   stats=stats, skip=engine.skip_plan(), repeats=True):
        if hasattr(record, "items"):
            engine.feed_repeats(record)  # type: ignore[arg-type]
        else:
            engine.feed_ids(record)  # type: ignore[arg-type]
    return time.perf_counter() - started


def rules_at(ref: str, folder: Path) -> list | None:
    """The packaged rule files as they were at git ``ref``, or None."""
    names = ("checks.yaml", "l1.yaml", "node.yaml", "proving.yaml")
    for name in names:
        done = subprocess.run(["git", "-C", str(REPO), "show", f"{ref}:analyzer/rules/{name}"],
                              capture_output=True, text=True, check=False)
        if done.returncode != 0:
            return None
        (folder / name).write_text(done.stdout)
    return load_rules(folder)


def main() -> None:
    total_mb = int(sys.argv[1]) if len(sys.argv) > 1 else 64
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    ref = sys.argv[3] if len(sys.argv) > 3 else "440e69c"
    data = make_log(total_mb)
    rules = load_rules()
    without = [r for r in rules if r.report]
    with tempfile.TemporaryDirectory() as folder:
        before = rules_at(ref, Path(folder))
    mb = len(data) / 1024 / 1024
    to_before, to_without = [], []
    print(f"{mb:.0f} MB of log, {sum(r.report is False for r in rules)} marker rules")
    for run in range(runs):
        took_before = scan(data, before) if before is not None else None
        took_without = scan(data, without)
        took = scan(data, rules)
        to_without.append(took_without / took)
        line = f"run {run + 1}: "
        if took_before is not None:
            to_before.append(took_before / took)
            line += f"before ({ref}) {mb / took_before:6.1f} MB/s   "
        print(line + f"no-mark {mb / took_without:6.1f} MB/s   markers {mb / took:6.1f} MB/s")
    if to_before:
        print(f"median markers / before: {statistics.median(to_before):.2f}x (target >= 1.0x)")
    print(f"median markers / no-mark: {statistics.median(to_without):.2f}x (what the markers cost)")


if __name__ == "__main__":
    main()
