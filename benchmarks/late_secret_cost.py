"""What a secret learnt late costs `nodediag redact` of a log file, beside the same file with the
secret known from the start, in the same run.

    python benchmarks/late_secret_cost.py [MB] [--repeat N]     (default: 100 MB, 3 runs)

The log is realistic pino text (redaction_speed.py's lines) with an RPC key printed bare on one
line in 500; three variants, each redacted by redact_log_file (the code `nodediag redact LOG`
runs) and timed by wall clock and CPU of this process:
  known:   the key is an operator --secret: known before the first line (the baseline);
  late:    the key is learnt from the LAST line (`Authorization: Bearer <key>`): every earlier
           line is redacted without it, then the whole output is checked and rewritten (late.py);
  absent:  a key learnt from the last line that appears nowhere before: the check finds nothing
           and nothing is rewritten (what a deployment whose logs teach a header pays).
Prints MB/s (input bytes / seconds) and each variant's cost relative to `known`.
"""

from __future__ import annotations

import random
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from redaction_speed import _log_line  # noqa: E402

from nodediag.redact import redact_log_file  # noqa: E402
from nodediag.redaction import Redactor  # noqa: E402

KEY = "Tq7vR2xL9mK4pW8zN3bY6cJ1dH5sF0gA"
OTHER = "Hs4kP9wL2xQ7mR3vT8nZ5bC1yJ6dF0gE"


def make(path: Path, size: int, variant: str) -> None:
    rng = random.Random(7)
    written, i = 0, 0
    with path.open("w") as fh:
        while written < size:
            lines = []
            for _ in range(2000):
                i += 1
                line = _log_line(rng, i, "NoKeyHere0000")
                if variant != "absent" and i % 500 == 0:
                    line = line[:-1] + f" upstream said {KEY}\n"
                lines.append(line)
            chunk = "".join(lines)
            fh.write(chunk)
            written += len(chunk)
        if variant != "known":
            fh.write(f"2026-11-27T19:00:00.000000000Z [19:00:00.000] INFO: http Authorization: Bearer "
                     f"{KEY if variant == 'late' else OTHER}\n")


def run(src: Path, dst: Path, variant: str) -> tuple[float, float]:
    redactor = Redactor()
    if variant == "known":
        redactor.add_secret(KEY, "literal")
    dst.unlink(missing_ok=True)
    wall, cpu = time.perf_counter(), time.process_time()
    redact_log_file(src, dst, redactor)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    text = dst.read_text()
    assert KEY not in text, f"{variant}: the key survived"
    return wall, cpu


def main(argv: list[str]) -> int:
    repeat = 3
    if "--repeat" in argv:
        at = argv.index("--repeat")
        repeat = int(argv[at + 1])
        argv = argv[:at] + argv[at + 2:]
    mb = int(argv[0]) if argv else 100
    with tempfile.TemporaryDirectory(prefix="nodediag-late-", dir="/var/tmp") as tmp:
        results: dict[str, tuple[float, float]] = {}
        for variant in ("known", "late", "absent"):
            src = Path(tmp) / f"{variant}.log"
            make(src, mb * 1_000_000, variant)
            size = src.stat().st_size / 1e6
            best = min((run(src, Path(tmp) / "out.log", variant) for _ in range(repeat)), key=lambda r: r[1])
            results[variant] = best
            print(f"{variant:<7} {size:7.0f} MB  wall {size / best[0]:7.1f} MB/s  cpu {size / best[1]:7.1f} MB/s  "
                  f"cost vs known: {best[1] / results['known'][1]:5.2f}x cpu")
            src.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
