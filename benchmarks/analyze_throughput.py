"""Analyze throughput and peak memory against `zstd -dc BUNDLE | grep -cE 'ERROR|WARN'`, same bundle, same run.

    python benchmarks/analyze_throughput.py [total MB of logs] [runs]     (defaults: 1024, 3)

Builds a v1 bundle (with the project's own BundleWriter, as `nodediag collect` writes one: each
log in a Zstandard frame of its own) holding three containers' docker-timestamped pino logs that
add up to the given size, then times
  baseline: zstd -dc BUNDLE | grep -cE 'ERROR|WARN'
  nodediag: nodediag analyze BUNDLE -o report.html   (peak RSS from wait4())
and prints MB/s of log bytes and peak RSS side by side, for ``runs`` alternating pairs (the
machine's load varies between runs), then the median ratio.
Targets (issue 3): nodediag >= 0.25x the baseline's throughput; peak RSS < 400 MB.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import sys
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from peak_rss import run_measured  # noqa: E402

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


def build_bundle(path: Path, total_mb: int) -> int:
    writer = BundleWriter.create(path)
    start = datetime(2026, 11, 27, 0, 0, tzinfo=timezone.utc)
    per = total_mb * 1024 * 1024 // len(ROLES)
    total = 0
    for k, (name, flag) in enumerate(ROLES):
        rng = random.Random(k)
        spool = writer.spool(f"containers/{name}/logs.txt", f"container_logs:{name}")
        i = 0
        while spool.size < per:
            block, i = log_block(rng, start, i, 5000)
            spool.write(block.encode())
        total += spool.size
        writer.commit(spool)
        inspect = {"Id": f"{k + 1:064x}", "Name": f"/{name}",
                   "Config": {"Image": "aztecprotocol/aztec:2.1.2", "Cmd": ["start", flag], "Env": []},
                   "State": {"Status": "running", "ExitCode": 0}}
        writer.add_bytes(f"containers/{name}/inspect.json", json.dumps(inspect).encode(), f"container_inspect:{name}")
    writer.finish({"format": FORMAT, "format_version": FORMAT_VERSION, "tool": {"name": "nodediag"},
                   "created_at": "2026-11-27T00:00:00Z", "status": "complete", "sources": []})
    return total


def main(total_mb: int, runs: int) -> int:
    with tempfile.TemporaryDirectory(prefix="nodediag-bench-", dir="/var/tmp") as tmp:
        bundle = Path(tmp) / "bench.tar.zst"
        log_bytes = build_bundle(bundle, total_mb)
        os.sync()  # building wrote ~2x the logs' size: let that reach the disk before anything is timed
        mb = log_bytes / 1024 / 1024
        print(f"bundle: {bundle.stat().st_size / 1e6:.1f} MB compressed, {mb:.0f} MB of logs")
        print(f"{'what':<36} {'MB/s':>8} {'peak RSS':>10} {'seconds':>8}")
        ratios = []
        for _ in range(runs):
            secs, rss, rc = run_measured(f"zstd -dc {bundle} | grep -cE 'ERROR|WARN'", shell=True)
            print(f"{'baseline zstd -dc | grep -cE':<36} {mb / secs:>8.1f} {rss / 2**20:>7.0f} MB {secs:>8.1f}")
            secs2, rss2, rc2 = run_measured([sys.executable, "-m", "nodediag", "analyze", str(bundle),
                                             "-o", str(Path(tmp) / "r.html")],
                                            env={**os.environ, "PYTHONPATH": str(REPO)})
            if rc2 != 0:
                print(f"nodediag analyze failed (exit {rc2})")
                return 1
            ratios.append(secs / secs2)
            print(f"{'nodediag analyze':<36} {mb / secs2:>8.1f} {rss2 / 2**20:>7.0f} MB {secs2:>8.1f}   "
                  f"ratio {ratios[-1]:.3f}x")
        print(f"median ratio over {runs} run(s): {statistics.median(ratios):.3f}x (target >= 0.25x)")
    return 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 1024, int(sys.argv[2]) if len(sys.argv) > 2 else 3))
