"""Prover logs shaped like real ones, for benchmarks: `docker logs -t` output of an Aztec node.

    python benchmarks/realistic_logs.py MIX MB OUT        (MIX: pretty, json, mixed, storm)

What makes them honest (issue 14): the messages come from ``aztec_log_templates.tsv``, 450 log
calls read from the published @aztec packages with their real modules; every ``{}`` gets a value
of its own on every line (hashes, ids, counters, durations, slots), so no two lines repeat
exactly; about half the lines carry pino's data object; docker timestamps are monotonic with
nanoseconds, pino's time of day a little before them; levels come in realistic shares (DEBUG
and VERBOSE present, about 10 % WARN); some errors are followed by a stack trace (its own lines
in pretty output, ``\\n`` inside ``msg`` in JSON).

Mixes:
- ``pretty``: pino's default output;
- ``json``: ``LOG_JSON=1`` (every line a pino JSON object);
- ``mixed``: runs of JSON and pretty lines (a node restarted with another LOG_JSON);
- ``storm``: a failure storm, pretty and JSON mixed, 30 % WARN/ERROR with varied text: retries
  with counters, job ids, timeouts, broker errors, facade bursts.
"""

from __future__ import annotations

import json
import random
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Literal

Mix = Literal["pretty", "json", "mixed", "storm"]
MIXES: tuple[Mix, ...] = ("pretty", "json", "mixed", "storm")
TEMPLATES = Path(__file__).with_name("aztec_log_templates.tsv")
START = datetime(2026, 11, 27, 0, 0, tzinfo=timezone.utc)
PINO_LEVEL = {"trace": 10, "debug": 20, "verbose": 25, "info": 30, "warn": 40, "error": 50, "fatal": 60}

# level shares: an ordinary node, and a failure storm (30 % WARN/ERROR)
SHARES = {
    "normal": (("debug", 0.33), ("verbose", 0.14), ("info", 0.42), ("warn", 0.09), ("error", 0.02)),
    "storm": (("debug", 0.25), ("verbose", 0.10), ("info", 0.35), ("warn", 0.18), ("error", 0.12)),
}

# what a node in trouble repeats with varied values (domain notes: retries, timeouts, bursts)
FAILURES = (
    ("warn", "prover-client:proving-broker", "Retrying proving job id={job} type={type} retry={n} err={err}"),
    ("warn", "prover-client:proving-broker", "Proving job id={job} timed out. Adding it back to the queue."),
    ("warn", "json-rpc:json_rpc_client",
     "JsonRpcClient request proverBroker_getProvingJob to http://prover-broker:8080 failed. Will retry in {n}s..."),
    ("warn", "foundation:retry", "Error while retrying JsonRpcClient request to http://prover-broker:8080: "
     "connect ECONNREFUSED 172.18.0.{n}:8080 (attempt {n})"),
    ("error", "prover-client:broker-facade", "Job errored with 'Broker facade stopped' id={job} type={type}"),
    ("error", "prover-client:orchestrator", "Error thrown when proving job {job}: Error: Broker facade stopped"),
    ("warn", "prover-node", "Stopping job due to deadline hit for epoch {n} after {ms}ms"),
    ("error", "prover-client:proving-agent", "Job id={job} type={type} failed err=Error: Timeout after {ms}ms"),
    ("warn", "sequencer:publisher", "L1 request failed (attempt {n}): Details: Too Many Requests; took {ms}ms"),
    ("error", "archiver", "Error syncing archiver: Error: Gateway Time-out (504) for slot {n} block {hash}"),
)
ERRORS = ("Error: Timeout after 30000ms", "Error: socket hang up", "Error: fetch failed",
          "Error: Failed to generate proof. Exit code null. Signal SIGKILL.")
TYPES = ("PUBLIC_VM", "BASE_PARITY", "ROOT_PARITY", "PRIVATE_TX_BASE_ROLLUP", "MERGE_ROLLUP",
         "BLOCK_ROOT_ROLLUP", "CHECKPOINT_ROOT_ROLLUP", "TUBE_PROOF")
WORDS = ("pending", "proven", "finalized", "latest", "committee", "attestation", "gossipsub", "tx",
         "block_proposal", "checkpoint", "ready", "syncing", "L1", "archiver", "true", "false")
DATA_KEYS = ("slot", "blockNumber", "checkpointNumber", "epochNumber", "txCount", "duration", "peerId",
             "txHash", "archive", "numTxs", "gasUsed", "l1BlockNumber", "attempt", "jobId")
FUNCTIONS = ("ProvingOrchestrator.deferredProving", "BrokerCircuitProverFacade.enqueueJob",
             "ProverNode.handleEpochReadyToProve", "JsonRpcClient.request", "retry", "async Promise.all",
             "EpochProvingJob.run", "ProvingAgent.work", "Archiver.sync", "L1TxUtils.sendAndMonitorTransaction")
FILES = ("prover-client/dest/orchestrator/orchestrator.js",
         "prover-client/dest/proving_broker/broker_prover_facade.js", "prover-node/dest/prover-node.js",
         "foundation/dest/json-rpc/client/fetch.js", "foundation/dest/retry/index.js",
         "prover-node/dest/job/epoch-proving-job.js", "archiver/dest/archiver/archiver.js")


def load_templates() -> dict[str, list[tuple[str, str]]]:
    """level -> [(module, message template)], from aztec_log_templates.tsv."""
    by_level: dict[str, list[tuple[str, str]]] = {}
    for line in TEMPLATES.read_text().splitlines():
        if not line or line.startswith("#"):
            continue
        level, module, message = line.split("\t")
        by_level.setdefault(level, []).append((module, message))
    return by_level


class LogGenerator:
    """Yields the lines (str, with their newline) of one container's log in ``mix``."""

    def __init__(self, mix: Mix, seed: int = 1) -> None:
        self.mix = mix
        self.rng = random.Random(seed)
        self.templates = load_templates()
        shares = SHARES["storm" if mix == "storm" else "normal"]
        self.levels = [level for level, _ in shares]
        self.weights = [weight for _, weight in shares]
        self.now = START
        self.run_left = 0  # lines left in the current run of one kind (mixed, storm)
        self.run_json = False  # ... and whether they are JSON
        self.pid = self.rng.randrange(7, 90)
        self.host = self.rng.randbytes(6).hex()

    # --- values ---------------------------------------------------------------------------------

    def value(self) -> str:
        rng = self.rng
        kind = rng.random()
        if kind < 0.22:
            return "0x" + rng.randbytes(32).hex()
        if kind < 0.45:
            return str(rng.randrange(0, 40))
        if kind < 0.62:
            return str(rng.randrange(10_000, 9_000_000))
        if kind < 0.72:
            return f"{rng.uniform(0.1, 90_000):.2f}ms"
        if kind < 0.86:
            return f"{rng.randrange(1, 3000)}:{rng.choice(TYPES)}:0x{rng.randbytes(8).hex()}"
        if kind < 0.93:
            return rng.choice(WORDS)
        return "16Uiu2HAm" + "".join(rng.choices("ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz123456789", k=44))

    def fill(self, template: str) -> str:
        rng = self.rng
        if "{" not in template:
            return template
        if "{job}" in template or "{n}" in template:  # the failure templates
            job = f"{rng.randrange(1, 3000)}:{rng.choice(TYPES)}:0x{rng.randbytes(8).hex()}"
            return (template.replace("{job}", job)
                    .replace("{type}", rng.choice(TYPES)).replace("{err}", rng.choice(ERRORS))
                    .replace("{ms}", str(rng.randrange(50, 600_000))).replace("{hash}", "0x" + rng.randbytes(32).hex())
                    .replace("{n}", str(rng.randrange(1, 250))))
        parts = template.split("{}")
        return "".join(p + (self.value() if i < len(parts) - 1 else "") for i, p in enumerate(parts))

    def data(self) -> dict[str, object]:
        rng = self.rng
        found: dict[str, object] = {}
        for key in rng.sample(DATA_KEYS, rng.randrange(1, 5)):
            if key in ("txHash", "archive", "peerId", "jobId"):
                found[key] = self.value() if key != "txHash" else "0x" + rng.randbytes(32).hex()
            elif key == "duration":
                found[key] = round(rng.uniform(0.01, 5000), 3)
            else:
                found[key] = rng.randrange(0, 2_000_000)
        return found

    def stack(self) -> list[str]:
        rng = self.rng
        return [f"    at {rng.choice(FUNCTIONS)} (file:///usr/src/yarn-project/{rng.choice(FILES)}:"
                f"{rng.randrange(1, 900)}:{rng.randrange(1, 80)})" for _ in range(rng.randrange(4, 11))]

    # --- lines ----------------------------------------------------------------------------------

    def record(self) -> tuple[str, str, str, dict[str, object] | None, list[str]]:
        """(level, module, message, data, stack lines) of the next record."""
        rng = self.rng
        level = rng.choices(self.levels, self.weights)[0]
        if self.mix == "storm" and level in ("warn", "error") and rng.random() < 0.6:
            level, module, template = rng.choice(FAILURES)
        else:
            module, template = rng.choice(self.templates[level])
        if module.endswith("job-controller"):
            module += "-" + rng.randbytes(4).hex()
        message = self.fill(template)
        stack: list[str] = []
        if level == "error" and rng.random() < 0.3:
            message += f": Error: {rng.choice(ERRORS).removeprefix('Error: ')}"
            stack = self.stack()
        data = self.data() if rng.random() < 0.5 else None
        return level, module, message, data, stack

    def as_json(self) -> bool:
        if self.mix == "json":
            return True
        if self.mix == "pretty":
            return False
        if self.run_left <= 0:  # runs of one kind, switching now and then
            self.run_left = self.rng.randrange(1, 400)
            self.run_json = self.rng.random() < 0.5
        self.run_left -= 1
        return self.run_json

    def lines(self) -> Iterator[str]:
        rng = self.rng
        while True:
            self.now += timedelta(microseconds=rng.randrange(1, 180_000))
            level, module, message, data, stack = self.record()
            now = self.now
            stamp = now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond:06d}{rng.randrange(1000):03d}Z"
            written = now - timedelta(microseconds=rng.randrange(20, 1500))  # pino's clock, a little earlier
            if self.as_json():
                obj: dict[str, object] = {"level": PINO_LEVEL[level],
                                          "time": int(written.timestamp() * 1000), "pid": self.pid,
                                          "hostname": self.host, "module": module,
                                          "msg": "\n".join((message, *stack))}
                if data:
                    obj.update(data)
                yield f"{stamp} {json.dumps(obj, separators=(',', ':'))}\n"
                continue
            clock = written.strftime("%H:%M:%S.") + f"{written.microsecond // 1000:03d}"
            tail = f" {json.dumps(data, separators=(',', ':'))}" if data else ""
            yield f"{stamp} [{clock}] {level.upper()}: {module} {message}{tail if not stack else ''}\n"
            for frame in stack:
                yield f"{stamp} {frame}\n"
            if stack and tail:
                yield f"{stamp}{tail}\n"


def write_log(path: Path, mix: Mix, size: int, seed: int = 1) -> int:
    """Write about ``size`` bytes of ``mix`` log to ``path`` (whole lines); the bytes written."""
    written = 0
    lines = LogGenerator(mix, seed).lines()
    with open(path, "wb") as out:
        while written < size:
            chunk = "".join(next(lines) for _ in range(2000)).encode()
            out.write(chunk)
            written += len(chunk)
    return written


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] not in MIXES:
        sys.exit(f"usage: {sys.argv[0]} {{{','.join(MIXES)}}} MB OUT")
    print(write_log(Path(sys.argv[3]), sys.argv[1], int(sys.argv[2]) * 2**20))  # type: ignore[arg-type]
