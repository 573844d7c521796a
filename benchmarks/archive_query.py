"""The postmortem archive with 10,000 stored analyses: `list --rule` and `list --text` on SQLite and
on PostgreSQL, beside the baseline `grep -l` over the same reports kept as JSON files; and `archive
add` of a sample-sized bundle beside `analyze` of the same bundle. Printed in the same run.

    python benchmarks/archive_query.py [--count N] [--repeat R] [--pg-url URL]

The analyses are the JSON reports of the bundles in samples/, each stored N/11 times under a
different sha256, host (50 hosts) and collection time (spread over a year), through the same
``Archive.store_report`` code path `archive add` uses after analysing. PostgreSQL: the server
``--pg-url`` (or ``NODEDIAG_TEST_PG_URL``) names, else a private one started with
tests/engine/postgres.sh and stopped at the end. Each query runs R times (default 5); the median
is printed, for the command's default ``--limit 100`` and for every match (``--limit 0``), with
each entry's rule ids (what ``--json`` prints; the table needs one query less).
Budget: each query under 200 ms on both backends; add under 1 s.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

SAMPLES = REPO / "samples"
RULE = "container-oom-killed"
WORDS = "heap memory"


def median_ms(fn: Callable[[], object], repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), out


def sample_reports() -> list[tuple[Path, dict[str, Any]]]:
    from nodediag.analyzer.pipeline import analyze_path
    from nodediag.analyzer.report.json_report import result_to_dict

    paths = sorted(SAMPLES.glob("*.tar.zst"))
    return [(p, result_to_dict(analyze_path(p, name=p.name))) for p in paths]


def variants(reports: list[tuple[Path, dict[str, Any]]], count: int) -> Iterator[tuple[str, dict[str, Any]]]:
    """One variant at a time (10,000 reports held at once would take gigabytes)."""
    start = datetime(2025, 12, 1, tzinfo=timezone.utc)
    for i in range(count):
        path, base = reports[i % len(reports)]
        report = copy.deepcopy(base)
        when = start + timedelta(minutes=i * 52)
        manifest = report["input"]["manifest"]
        manifest["created_at"] = when.strftime("%Y-%m-%dT%H:%M:%SZ")
        manifest["host"]["hostname"] = f"prover-{i % 50:02d}"
        report["input"]["name"] = f"{path.name.removesuffix('.tar.zst')}-{i}.tar.zst"
        yield hashlib.sha256(f"{i}-{path.name}".encode()).hexdigest(), report


def fill(db: str, store: Path, rows: Iterable[tuple[str, dict[str, Any]]]) -> float:
    from nodediag.analyzer.archive import Archive

    start = time.perf_counter()
    with Archive.open(db, store) as arc:
        for sha, report in rows:
            arc.store_report(report, sha256=sha, name=report["input"]["name"])
    return time.perf_counter() - start


def queries(db: str, store: Path, repeat: int) -> dict[str, tuple[float, int]]:
    from nodediag.analyzer.archive import Archive, Filters

    found: dict[str, tuple[float, int]] = {}
    with Archive.open(db, store) as arc:
        for label, filters in (("list --rule", Filters(rule=RULE, limit=101)),
                               ("list --rule --limit 0", Filters(rule=RULE)),
                               ("list --text", Filters(text=WORDS, limit=101)),
                               ("list --text --limit 0", Filters(text=WORDS))):
            ms, entries = median_ms(lambda f=filters: arc.find(f), repeat)  # type: ignore[misc]
            found[label] = (ms, len(entries))  # type: ignore[arg-type]
    return found


def grep_baseline(folder: Path, repeat: int) -> dict[str, tuple[float, int]]:
    def grep(*args: str) -> int:
        run = subprocess.run(["grep", "-l", "-r", *args, str(folder)], capture_output=True, text=True, check=False)
        return len(run.stdout.splitlines())

    rule_ms, rule_n = median_ms(lambda: grep("-F", f'"rule_id": "{RULE}"'), repeat)

    def both_words() -> int:  # files holding every word, as --text does
        first = subprocess.run(["grep", "-l", "-r", "-i", "-w", "heap", str(folder)], capture_output=True,
                               text=True, check=False).stdout.split()
        if not first:
            return 0
        second = subprocess.run(["grep", "-l", "-i", "-w", "memory", *first], capture_output=True, text=True,
                                check=False)
        return len(second.stdout.splitlines())

    text_ms, text_n = median_ms(both_words, repeat)
    return {"list --rule": (rule_ms, int(rule_n)), "list --text": (text_ms, int(text_n))}  # type: ignore[call-overload]


def add_timing(reports: list[tuple[Path, dict[str, Any]]], workdir: Path, repeat: int) -> tuple[float, float]:
    from nodediag.analyzer.archive import Archive
    from nodediag.analyzer.pipeline import analyze_path
    from nodediag.analyzer.report.json_report import result_to_dict

    def analyze(path: Path, name: str) -> dict[str, Any]:
        return result_to_dict(analyze_path(path, name=name))

    bundle = next(p for p, _ in reports if p.name == "broker-died.tar.zst")
    analyze_ms, _ = median_ms(lambda: analyze(bundle, bundle.name), repeat)
    add_times = []
    for i in range(repeat):
        with Archive.open(str(workdir / f"add-{i}.db"), workdir / f"store-{i}") as arc:
            start = time.perf_counter()
            outcome = arc.add(bundle, analyze)
            add_times.append((time.perf_counter() - start) * 1000)
            assert outcome.status == "added", outcome
    return statistics.median(add_times), analyze_ms


def start_postgres(state: str) -> str:
    script = REPO / "tests" / "engine" / "postgres.sh"
    run = subprocess.run(["bash", str(script), "start"], capture_output=True, text=True, check=True,
                         env={**os.environ, "NODEDIAG_PG_DIR": state})
    return run.stdout.strip().splitlines()[-1].split("=", 1)[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--pg-url", default=os.environ.get("NODEDIAG_TEST_PG_URL", ""))
    args = parser.parse_args()
    import psycopg

    work = Path(tempfile.mkdtemp(prefix="nodediag-archive-bench-"))
    pg_state = ""
    try:
        reports = sample_reports()
        json_dir = work / "reports"
        json_dir.mkdir()
        for sha, report in variants(reports, args.count):
            (json_dir / f"{sha}.json").write_text(json.dumps(report, indent=2, ensure_ascii=False))
        size_mb = sum(p.stat().st_size for p in json_dir.iterdir()) / 1e6
        print(f"{args.count} analyses ({len(reports)} sample reports varied); as JSON files: {size_mb:.0f} MB",
              flush=True)

        server = args.pg_url
        if not server:
            pg_state = f"/tmp/nodediag-pg-bench-{os.getpid()}"
            server = start_postgres(pg_state)
        name = f"bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        base, _, query = server.partition("?")
        pg_db = f"{base.rsplit('/', 1)[0]}/{name}" + (f"?{query}" if query else "")
        targets = {"sqlite": str(work / "archive.db"), "postgresql": pg_db}
        results: dict[str, dict[str, tuple[float, int]]] = {}
        for backend, db in targets.items():
            seconds = fill(db, work / "store", variants(reports, args.count))
            print(f"filled {backend} in {seconds:.0f} s ({args.count / seconds:.0f} analyses/s)", flush=True)
            results[backend] = queries(db, work / "store", args.repeat)
        results["grep -l (baseline)"] = grep_baseline(json_dir, args.repeat)

        print(f"\nmedian of {args.repeat} runs, ms (matches); budget < 200 ms")
        labels = ["list --rule", "list --rule --limit 0", "list --text", "list --text --limit 0"]
        print(f"{'query':24} " + " ".join(f"{b:>20}" for b in results))
        for label in labels:
            cells = []
            for backend in results:
                value = results[backend].get(label) or results[backend].get(label.replace(" --limit 0", ""))
                cells.append(f"{value[0]:9.1f} ({value[1]:>6})" if value else "")
            print(f"{label:24} " + " ".join(f"{c:>20}" for c in cells))
        add_ms, analyze_ms = add_timing(reports, work, args.repeat)
        print(f"\narchive add of broker-died.tar.zst (15 KB): {add_ms:.0f} ms; "
              f"baseline analyze of the same bundle: {analyze_ms:.0f} ms; budget < 1000 ms")
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        if pg_state:
            subprocess.run(["bash", str(REPO / "tests" / "engine" / "postgres.sh"), "stop"], check=False,
                           env={**os.environ, "NODEDIAG_PG_DIR": pg_state})
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
