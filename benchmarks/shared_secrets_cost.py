"""What sharing secrets between the raw inputs of one `analyze` costs, beside reading the copy.

    python benchmarks/shared_secrets_cost.py [MB] [secrets learnt by the other input] [runs]
    (defaults: 50, 20, 3)

Writes a redacted-looking log copy of MB megabytes (docker-timestamped pino lines, a hex hash or a
URL on most lines), then times, in alternating runs:
  baseline: reading the copy in the late fix's blocks (what any pass over it costs at least)
  check:    share_learnt's check of the copy for the other input's secrets (none present: the
            usual case, the copy is left as it is)
  rewrite:  the same with one of those secrets on 1 line in 1000 (the copy is rewritten)
and prints the best seconds and MB/s of each, side by side.
"""

from __future__ import annotations

import secrets
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from nodediag.analyzer.inputs.shared import share_learnt  # noqa: E402
from nodediag.analyzer.model import LoadedInput  # noqa: E402
from nodediag.redaction import Redactor  # noqa: E402
from nodediag.redaction.late import iter_blocks  # noqa: E402


def make_log(path: Path, mb: int, planted: str | None) -> None:
    line_no = 0
    with path.open("w") as out:
        written = 0
        while written < mb * 2**20:
            line_no += 1
            body = (f"2026-12-03T08:00:{line_no % 60:02d}.000000000Z [08:00:00.000] INFO: prover-client:proving-broker "
                    f"Proving job complete id=1:{line_no:06x} hash=0x{secrets.token_hex(32)} totalAttempts=1")
            if planted and line_no % 1000 == 0:
                body += f" upstream {planted}"
            line = body + "\n"
            out.write(line)
            written += len(line)


def main() -> None:
    mb = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    runs = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    teacher = Redactor()
    for _ in range(count):
        teacher.add_secret(secrets.token_urlsafe(24), "token")
    learnt = teacher.learnt()
    planted = next(lit.needle for lit in learnt if lit.needle.isalnum() or "-" in lit.needle or "_" in lit.needle)
    best: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        clean, dirty = root / "clean.log", root / "dirty.log"
        make_log(clean, mb, None)
        for _ in range(runs):
            started = time.perf_counter()
            with clean.open("rb") as fh:
                for _block in iter_blocks(fh):
                    pass
            best["baseline"] = min(best.get("baseline", 1e9), time.perf_counter() - started)
            started = time.perf_counter()
            share_learnt([LoadedInput(kind="single-log", root=root, files=["clean.log"], manifest=None, learnt=[]),
                          LoadedInput(kind="single-log", root=root, files=[], manifest=None, learnt=learnt)])
            best["check"] = min(best.get("check", 1e9), time.perf_counter() - started)
            make_log(dirty, mb, planted)
            started = time.perf_counter()
            share_learnt([LoadedInput(kind="single-log", root=root, files=["dirty.log"], manifest=None, learnt=[]),
                          LoadedInput(kind="single-log", root=root, files=[], manifest=None, learnt=learnt)])
            best["rewrite"] = min(best.get("rewrite", 1e9), time.perf_counter() - started)
            assert planted not in dirty.read_text().lower()
    print(f"{mb} MB copy, {len(learnt)} learnt literals ({count} secrets, every form) from the other input")
    for name in ("baseline", "check", "rewrite"):
        print(f"  {name:9s} {best[name]:7.2f} s  {mb / best[name]:8.1f} MB/s  x{best[name] / best['baseline']:.1f}")


if __name__ == "__main__":
    main()
