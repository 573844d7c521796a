"""Collect throughput and peak memory against `docker logs -t C 2>&1 | zstd -3`, same containers, same run.

    python benchmarks/collect_throughput.py [MB per container ...]     (default: 100 300)

For each size: three containers each write that many MB of realistic pino lines to stderr (a
pre-generated file, so the engine's json-file log holds exactly that), then
  baseline: the three `docker logs -t | zstd -3` pipelines run concurrently, timed;
  nodediag: `nodediag collect --container A --container B --container C --log-cap <enough>`,
            timed, its peak RSS read from wait4().
Prints MB/s (log bytes as docker returns them / wall seconds) and peak RSS beside the baseline.

    --before PYTHON  also time `PYTHON -m nodediag collect` (another checkout's interpreter, e.g.
                   /work/main/.venv/bin/python) on the same containers, right after this one: the
                   cost of a change, in the same run.
    --late         each log prints an RPC key bare on one line in 500 and teaches it only on its
                   LAST line (`Authorization: Bearer <key>`): every file is then rewritten before it
                   is written (nodediag/bundle/held.py), the worst case for a secret learnt late.
Targets (issue 2): nodediag >= 0.5x the baseline's throughput; peak RSS < 150 MB at both sizes.
Uses the project's private engine (tests/engine/dockerd.sh), started and stopped here if needed.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_engine import start_engine, stop_engine
from peak_rss import run_measured

REPO = Path(__file__).resolve().parents[1]
IMAGE = "nodediag-test/busybox:1"
MODULES = ("prover-client:orchestrator", "prover-node", "archiver", "prover-client:proving-agent:job-controller-0a1",
           "world-state:database", "p2p:libp2p_service", "sequencer:publisher")


LATE_KEY = "Tq7vR2xL9mK4pW8zN3bY6cJ1dH5sF0gA"


def make_log(path: Path, size: int, seed: int, late: bool = False) -> None:
    rng = random.Random(seed)
    written = 0
    with open(path, "w") as fh:
        i = 0
        while written < size:
            lines = []
            for _ in range(2000):
                i += 1
                h = "0x" + rng.randbytes(32).hex()
                t = f"[{i // 3600000 % 24:02d}:{i // 60000 % 60:02d}:{i // 1000 % 60:02d}.{i % 1000:03d}]"
                r = rng.random()
                if r < 0.8:
                    line = f'{t} INFO: {rng.choice(MODULES)} Processed tx {h} {{"slot":{i},"blockNumber":{i // 7}}}'
                elif r < 0.95:
                    line = (f"{t} WARN: json-rpc:json_rpc_client JsonRpcClient request proverBroker_getProvingJob to "
                            "http://prover-broker:8080 failed. Will retry in 1s...")
                else:
                    line = (f"{t} ERROR: prover-client:orchestrator Error thrown when proving job: Error: "
                            "Broker facade stopped\n    at BrokerCircuitProverFacade.stop (file:///usr/src/a.js:1:2)")
                if late and i % 500 == 0:
                    line += f" upstream said {LATE_KEY}"
                lines.append(line)
            chunk = "\n".join(lines) + "\n"
            fh.write(chunk)
            written += len(chunk)
        if late:
            fh.write(f"[23:59:59.999] INFO: http request Authorization: Bearer {LATE_KEY}\n")


def main(sizes_mb: list[int], before: str | None = None, late: bool = False) -> int:
    env, started_engine = start_engine()
    print(f"{'size/container':>14} {'what':<28} {'MB/s':>8} {'peak RSS':>10} {'seconds':>8}")
    try:
        for mb in sizes_mb:
            with tempfile.TemporaryDirectory(prefix="nodediag-bench-", dir="/var/tmp") as tmp:
                tmpdir = Path(tmp)
                names = []
                for k in range(3):
                    log = tmpdir / f"log{k}.txt"
                    make_log(log, mb * 1024 * 1024, seed=k, late=late)
                    name = f"bench-{mb}-{k}-{os.getpid()}"
                    subprocess.run(["docker", "run", "--name", name, "--network", "none", "-v",
                                    f"{log}:/log.txt:ro", IMAGE, "sh", "-c", "cat /log.txt >&2"],
                                   env=env, check=True, capture_output=True)
                    names.append(name)
                    log.unlink()
                try:
                    # bytes docker returns, measured once (not timed)
                    total = 0
                    for n in names:
                        p = subprocess.Popen(f"docker logs -t {n} 2>&1 | wc -c", shell=True, env=env,
                                             stdout=subprocess.PIPE, text=True)
                        total += int(p.communicate()[0].strip())
                    mbytes = total / 1024 / 1024
                    pipeline = " & ".join(f"docker logs -t {n} 2>&1 | zstd -3 -q > /dev/null" for n in names)
                    secs, rss, rc = run_measured(["bash", "-c", pipeline + "; wait"], env=env)
                    print(f"{mb:>11} MB {'baseline docker logs|zstd -3':<28} {mbytes / secs:>8.1f} "
                          f"{rss / 2**20:>7.0f} MB {secs:>8.1f}")
                    out = tmpdir / "bundle.tar.zst"
                    args = [sys.executable, "-m", "nodediag", "collect", "--since", "2h", "--log-cap",
                            f"{mb * 3}MB", "-o", str(out)]
                    for n in names:
                        args += ["--container", n]
                    secs2, rss2, rc2 = run_measured(args, env=env)
                    if rc2 != 0:
                        print(f"nodediag collect failed (exit {rc2})")
                        return 1
                    what = "nodediag collect" + (" (late key)" if late else "")
                    print(f"{mb:>11} MB {what:<28} {mbytes / secs2:>8.1f} {rss2 / 2**20:>7.0f} MB "
                          f"{secs2:>8.1f}   ratio {secs / secs2:.2f}x, bundle {out.stat().st_size / 1e6:.1f} MB")
                    if late:
                        import zstandard
                        with out.open("rb") as fh:
                            data = zstandard.ZstdDecompressor().stream_reader(fh, read_across_frames=True).read()
                        assert LATE_KEY.encode() not in data, "the late key survived"
                    if before:
                        out3 = tmpdir / "before.tar.zst"
                        args3 = [before, *(a if a != str(out) else str(out3) for a in args[1:])]
                        secs3, rss3, rc3 = run_measured(args3, env={k: v for k, v in env.items() if k != "PYTHONPATH"})
                        print(f"{mb:>11} MB {'nodediag collect (before)':<28} {mbytes / secs3:>8.1f} "
                              f"{rss3 / 2**20:>7.0f} MB {secs3:>8.1f}   ratio {secs / secs3:.2f}x, exit {rc3}")
                finally:
                    subprocess.run(["docker", "rm", "-f", *names], env=env, capture_output=True)
    finally:
        if started_engine:
            stop_engine(env)
    return 0


if __name__ == "__main__":
    argv = sys.argv[1:]
    before_dir = None
    if "--before" in argv:
        at = argv.index("--before")
        before_dir = argv[at + 1]
        argv = argv[:at] + argv[at + 2:]
    late_key = "--late" in argv
    argv = [a for a in argv if a != "--late"]
    sys.exit(main([int(a) for a in argv] or [100, 300], before_dir, late_key))
