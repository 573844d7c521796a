"""Throughput of the log stream redactor beside `zstd -3` on the same data, in the same run.

    python benchmarks/redaction_speed.py [--repeat N] [MB] [literal counts...]
    (default: 3 runs each, 100 MB, 64 and 500 literals)

Feeds a realistic pino log (Docker timestamps, a URL or a hex hash on most lines, JSON data) in
~1 MB blocks of complete lines through Redactor.stream with the given numbers of known literals,
then the same with both leak gates over each redacted block (what collect and redact run before
writing), then compresses the same bytes with the zstd command line at level 3 (single thread, as a
yardstick of "fast"). Each is run N times; prints the best MB/s by wall clock and the best by CPU
time of this process (the machine may be shared: CPU time is the steadier figure). Targets:
>= 100 MB/s at 64 literals, >= 50 at 500.

The known RPC key sits in the URL of a quarter of the lines (a retry loop logging it): a worst
case for the literal pass, which replaces ~1000 occurrences per MB; a real log leaks far less.

    python benchmarks/redaction_speed.py --realistic [--before PYTHON] [--repeat N] [MB] [mix ...]
    (default: 2 runs each, 60 MB, all four mixes)

The redactor on logs shaped like real prover logs (realistic_logs.py: pretty, json, mixed, storm),
the way `nodediag redact LOG` and analyze's redact-ahead child run it (redact_log_file: the log
stream in 1 MB reads, both leak gates over each output, the copy written), in CPU seconds of the
process that does it and MB/s of CPU, beside baselines measured in the same run on the same file:
``copy``, reading, decoding, encoding and writing the same bytes (what any redactor must pay), and
with ``--before PYTHON`` the same redaction by that interpreter (one that imports an earlier
nodediag, e.g. a venv over a checkout of the commit before a change). Rows alternate per run, so
load on a shared machine falls on both; the best of N is shown.
"""

from __future__ import annotations

import random
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# This checkout, not whatever `collector` an installed (perhaps editable, perhaps stale) nodediag
# would otherwise supply when the script is run by path.
REPO = Path(__file__).resolve().parent.parent
if "--installed" not in sys.argv:  # (--before's child imports the nodediag its interpreter has)
    sys.path.insert(0, str(REPO))

from nodediag.redaction.counts import RedactionCounts  # noqa: E402
from nodediag.redaction.redactor import Redactor  # noqa: E402

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


def measure(total_mb: int, literal_count: int, blocks: list[str], gated: bool = False) -> tuple[float, float]:
    """(wall MB/s, CPU MB/s) of redacting total_mb of the blocks with literal_count known literals;
    ``gated``: each redacted block also goes through both leak gates (Redactor.output_leak), as
    collect and redact do before writing it."""
    redactor = Redactor()
    redactor.add_secret(URL_KEY, "api_key")
    for n in range(literal_count - 1):
        if n % 2:
            redactor.add_secret("0x" + secrets.token_hex(32), "private_key")
        else:
            redactor.add_secret(secrets.token_urlsafe(24), "api_key")
    stream = redactor.stream(RedactionCounts())
    done = 0
    start, cpu = time.perf_counter(), time.process_time()
    k = 0
    while done < total_mb * 1_000_000:
        block = blocks[k % len(blocks)]
        out = stream.feed(block)
        if gated and redactor.output_leak(out, "bench.log") is not None:
            raise SystemExit("the leak gate refused the benchmark's own output")
        done += len(block)
        k += 1
    stream.close()
    return done / (time.perf_counter() - start) / 1e6, done / (time.process_time() - cpu) / 1e6


def measure_zstd(total_mb: int, blocks: list[str]) -> tuple[float, float] | None:
    """(wall MB/s, CPU MB/s) of `zstd -3 -T1` over the same bytes, or None without the zstd command."""
    if shutil.which("zstd") is None:
        return None
    data = "".join(blocks).encode()
    with tempfile.NamedTemporaryFile(suffix=".log") as fh:
        for _ in range(max(1, total_mb * 1_000_000 // len(data))):
            fh.write(data)
        fh.flush()
        size = fh.tell()
        start = time.perf_counter()
        before = _children_cpu()
        subprocess.run(["zstd", "-3", "-T1", "-q", "-c", fh.name], stdout=subprocess.DEVNULL, check=True)
        wall, cpu = time.perf_counter() - start, _children_cpu() - before
    return size / wall / 1e6, size / max(cpu, 1e-9) / 1e6


def _children_cpu() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# --- realistic logs through redact_log_file ----------------------------------------------------------

def _redact_file_cpu(src: Path, dst: Path) -> float:
    """CPU seconds of this process to redact src into dst as `nodediag redact` does."""
    from nodediag.redact import redact_log_file

    dst.unlink(missing_ok=True)
    cpu = time.process_time()
    redact_log_file(src, dst, Redactor(key=b"k" * 32))
    return time.process_time() - cpu


def _copy_file_cpu(src: Path, dst: Path) -> float:
    """CPU seconds to read, decode, encode and write src in the same 1 MB reads: the floor."""
    import codecs

    dst.unlink(missing_ok=True)
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    cpu = time.process_time()
    with open(src, "rb") as fh, open(dst, "wb") as out:
        while block := fh.read(1 << 20):
            out.write(decoder.decode(block).encode("utf-8"))
    return time.process_time() - cpu


def _before_cpu(python: str, src: Path, dst: Path) -> float:
    done = subprocess.run([python, __file__, "--installed", "--measure-file", str(src), str(dst)],
                          capture_output=True, text=True, check=True, cwd=tempfile.gettempdir())
    return float(done.stdout.split()[-1])


def realistic(argv: list[str]) -> None:
    before: str | None = None
    repeat = 2
    while argv[:1] in (["--before"], ["--repeat"]):
        if argv[0] == "--before":
            before = argv[1]
        else:
            repeat = max(1, int(argv[1]))
        argv = argv[2:]
    size = int(argv[0]) if argv else 60
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from realistic_logs import MIXES, write_log

    mixes = [m for m in argv[1:] if m in MIXES] or list(MIXES)
    best = f"best of {repeat}"
    with tempfile.TemporaryDirectory(prefix="nodediag-redaction-speed-") as tmp:
        for mix in mixes:
            src, dst = Path(tmp) / f"{mix}.log", Path(tmp) / "out.log"
            write_log(src, mix, size * 1_000_000)
            mb = src.stat().st_size / 1e6
            rows: dict[str, list[float]] = {"copy": [], "redact": []}
            if before:
                rows["redact before"] = []
            for _ in range(repeat):  # alternating: load falls on every row
                rows["copy"].append(_copy_file_cpu(src, dst))
                if before:
                    rows["redact before"].append(_before_cpu(before, src, dst))
                rows["redact"].append(_redact_file_cpu(src, dst))
            for name, runs in rows.items():
                cpu = min(runs)
                extra = ""
                if name == "redact" and before:
                    extra = f"   {min(rows['redact before']) / cpu:4.2f}x less CPU than before"
                print(f"{mix:7s} {mb:5.0f} MB  {name:14s} {cpu:6.2f} CPU s  {mb / cpu:6.1f} MB/s CPU ({best}){extra}")


def main(argv: list[str]) -> None:
    argv = list(argv)
    if argv[:1] == ["--installed"]:
        argv = argv[1:]
    if argv[:1] == ["--measure-file"]:  # --before's child: one redaction, its CPU seconds on stdout
        print(f"{_redact_file_cpu(Path(argv[1]), Path(argv[2])):.4f}")
        return
    if argv[:1] == ["--realistic"]:
        realistic(argv[1:])
        return
    repeat = 3
    if argv[:1] == ["--repeat"]:
        repeat = max(1, int(argv[1]))
        argv = argv[2:]
    total = int(argv[0]) if argv else 100
    counts = [int(a) for a in argv[1:]] or [64, 500]
    blocks = make_blocks()
    best = f"(best of {repeat})" if repeat > 1 else ""
    for count in counts:
        runs = [measure(total, count, blocks) for _ in range(repeat)]
        wall, cpu = max(w for w, _ in runs), max(c for _, c in runs)
        print(f"redaction  {total} MB pino log, {count:3d} literals: {wall:6.1f} MB/s wall, {cpu:6.1f} MB/s CPU {best}")
        runs = [measure(total, count, blocks, gated=True) for _ in range(repeat)]
        wall, cpu = max(w for w, _ in runs), max(c for _, c in runs)
        print(f"  + both leak gates,        {count:3d} literals: {wall:6.1f} MB/s wall, {cpu:6.1f} MB/s CPU {best}")
    zruns = [measure_zstd(total, blocks) for _ in range(repeat)]
    if zruns[0] is None:
        print("zstd -3    (no zstd command on PATH)")
    else:
        wall, cpu = max(z[0] for z in zruns if z), max(z[1] for z in zruns if z)
        print(f"zstd -3    {total} MB same log, one thread:     {wall:6.1f} MB/s wall, {cpu:6.1f} MB/s CPU {best}")


if __name__ == "__main__":
    main(sys.argv[1:])
