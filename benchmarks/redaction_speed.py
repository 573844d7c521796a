"""Throughput of the log stream redactor: `python benchmarks/redaction_speed.py [MB] [counts...]`.

Feeds a realistic pino log (Docker timestamps, a URL or a hex hash on most lines, JSON data) in
~1 MB blocks of complete lines through Redactor.stream with 5, 64 and 500 known literals.
"""

from __future__ import annotations

import random
import secrets
import sys
import time

from collector.redaction.counts import RedactionCounts
from collector.redaction.redactor import Redactor

_MODULES = ("prover-client:orchestrator", "prover-node", "archiver", "sequencer:publisher",
            "prover-client:proving-agent:job-controller-052bf782", "world-state:database", "p2p:libp2p_service")


def _log_line(rng: random.Random, i: int, url_key: str) -> str:
    ts = f"2026-11-27T18:{i // 60000 % 60:02d}:{i // 1000 % 60:02d}.{i % 1000:03d}123456Z"
    module = rng.choice(_MODULES)
    h = "0x" + rng.randbytes(32).hex()
    choice = rng.random()
    if choice < 0.35:
        msg = f'Processing tx {h} in block {i} {{"txHash":"{h}","slot":{i * 7},"fee":"{rng.randint(1, 10**9)}"}}'
    elif choice < 0.6:
        msg = (f"JsonRpcClient request proverBroker_getProvingJob to http://prover-broker:8080 failed. "
               f"Will retry in 1s... {{\"url\":\"https://eth-sepolia.g.alchemy.com/v2/{url_key}\"}}")
    elif choice < 0.8:
        msg = f"Proving job complete id={rng.randbytes(32).hex()} type=BASE_PARITY duration={rng.randint(10, 9000)}ms"
    else:
        msg = f"Synced to block {i} archive root {h} l1 block {i * 3} epoch {i // 32} peers {rng.randint(1, 90)}"
    return f"{ts} [18:30:00.{i % 1000:03d}] INFO: {module} {msg}\n"


URL_KEY = "Xk3vQ9pL2mN7rT4wZ8yB1cD6"  # the RPC key the deployment uses, known to the redactor


def make_blocks(block_mb: float = 1.0, distinct: int = 4, seed: int = 1) -> list[str]:
    rng = random.Random(seed)
    blocks, i = [], 0
    for _ in range(distinct):
        lines, size = [], 0
        while size < block_mb * 1_000_000:
            line = _log_line(rng, i, URL_KEY)
            lines.append(line)
            size += len(line)
            i += 1
        blocks.append("".join(lines))
    return blocks


def measure(total_mb: int, literal_count: int, blocks: list[str]) -> float:
    redactor = Redactor()
    redactor.add_secret(URL_KEY, "api_key")
    for n in range(literal_count - 1):
        if n % 2:
            redactor.add_secret("0x" + secrets.token_hex(32), "private_key")
        else:
            redactor.add_secret(secrets.token_urlsafe(24), "api_key")
    stream = redactor.stream(RedactionCounts())
    done = 0
    start = time.perf_counter()
    k = 0
    while done < total_mb * 1_000_000:
        block = blocks[k % len(blocks)]
        stream.feed(block)
        done += len(block)
        k += 1
    stream.close()
    return done / (time.perf_counter() - start) / 1e6


def main(argv: list[str]) -> None:
    total = int(argv[0]) if argv else 100
    counts = [int(a) for a in argv[1:]] or [5, 64, 500]
    blocks = make_blocks()
    for count in counts:
        print(f"{total} MB pino log, {count:3d} literals: {measure(total, count, blocks):6.1f} MB/s")


if __name__ == "__main__":
    main(sys.argv[1:])
