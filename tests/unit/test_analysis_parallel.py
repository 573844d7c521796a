"""analyze_input shares the log files of distinct containers with a second process (or takes
them from workers started while the bundle was extracted) and merges what each file gave in file
order: the result is exactly the one-process result."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

from nodediag.analyzer.analysis import analyze_input
from nodediag.analyzer.facts import load_facts
from nodediag.analyzer.inputs import open_input
from nodediag.analyzer.log_scan import scan_each
from nodediag.analyzer.model import Facts, LoadedInput, LogFile
from nodediag.analyzer.rules.catalog import load_rules
from nodediag.analyzer.workers import EarlyScans, _finish_worker, _parallel_split, _start_worker
from nodediag.bundle.format import FORMAT, FORMAT_VERSION
from nodediag.bundle.writer import BundleWriter

T0 = datetime(2026, 11, 27, 10, 0, tzinfo=timezone.utc)
ROLES = {"aztec-prover-prover-node-1": "prover-node", "aztec-prover-prover-broker-1": "prover-broker",
         "aztec-prover-prover-agent-1": "prover-agent", "aztec-prover-prover-agent-2": "prover-agent"}


def line(i: int, level: str, body: str) -> str:
    at = T0 + timedelta(milliseconds=900 * i)
    stamp = at.strftime("%Y-%m-%dT%H:%M:%S.%f") + "000Z"
    return f"{stamp} [{at.strftime('%H:%M:%S.%f')[:-3]}] {level}: {body}"


def container_log(seed: int, n: int) -> list[str]:
    out = []
    for i in range(n):
        k = (i * 7919 + seed * 104729) % 100
        if k < 80:
            out.append(line(i, "INFO", f"archiver Processed tx 0x{i:04x} {{\"slot\":{i}}}"))
        elif k < 90:
            out.append(line(i, "WARN", "json-rpc:json_rpc_client JsonRpcClient request proverBroker_getProvingJob "
                                       f"to http://prover-broker:8080 failed. Will retry in {k % 3}s..."))
        elif k < 95:
            out.append(line(i, "ERROR", "prover-client:orchestrator Error thrown when proving job: "
                                        "Error: Broker facade stopped"))
        elif k < 97:
            out.append(line(i, "INFO", "prover-node Stopping ProverNode"))
            out.append("    at f (file:///x.js:1:2)")
        else:
            out.append(line(i, "INFO", f"prover-client:proving-broker Marking proving job as failed id={i}"))
    return out


def make_input(tmp_path: Path, logs: dict[str, list[str]]) -> tuple[LoadedInput, Facts]:
    files, log_files = [], []
    for name, lines in logs.items():
        rel = f"containers/{name}/logs.txt"
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("\n".join(lines) + "\n")
        files.append(rel)
        log_files.append(LogFile(path=rel, container=name, role=ROLES.get(name, "other")))
    inp = LoadedInput(kind="bundle-v1", root=tmp_path, files=files, manifest=None, gaps=[])
    return inp, Facts(containers=[], log_files=log_files, events=[])


def test_two_processes_give_exactly_the_one_process_result(tmp_path: Path) -> None:
    sizes = (3000, 12000, 500, 7000)  # unequal: the split is by size, the merge by file order
    inp, facts = make_input(tmp_path, {name: container_log(seed, n) for seed, (name, n) in
                                       enumerate(zip(ROLES, sizes, strict=True))})
    assert _parallel_split(str(tmp_path), facts.log_files, 0) is not None
    one = analyze_input(inp, facts, tool_version="t", parallel_min_bytes=1 << 62)
    two = analyze_input(inp, facts, tool_version="t", parallel_min_bytes=0)
    # one finding per rule names every container it hit (at least 8 container hits in all)
    assert sum(len(f.containers) or 1 for f in one.findings) >= 8 and len(one.timeline) > 100 and one.level_series
    assert [s.file for s in two.parse_stats] == [log.path for log in facts.log_files]
    assert replace(two, analyzed_at=one.analyzed_at) == one


def test_files_of_one_container_or_of_no_named_container_stay_in_one_process(tmp_path: Path) -> None:
    inp, facts = make_input(tmp_path, {"aztec-prover-prover-node-1": container_log(1, 50),
                                       "aztec-prover-prover-broker-1": container_log(2, 50)})
    root, (a, b) = str(tmp_path), facts.log_files
    assert sorted(_parallel_split(root, [a, b], 0)) == [[0], [1]]
    assert _parallel_split(root, [a, b], 1 << 30) is None  # too little log to be worth a process
    assert _parallel_split(root, [a, replace(b, container=a.container)], 0) is None
    assert _parallel_split(root, [a, replace(b, container="")], 0) is None  # compose output: mixed
    assert _parallel_split(root, [a], 0) is None


def test_a_worker_process_gives_what_this_process_gives_and_none_when_it_fails(tmp_path: Path) -> None:
    inp, facts = make_input(tmp_path / "in", {"aztec-prover-prover-node-1": container_log(3, 2000),
                                              "aztec-prover-prover-agent-1": container_log(4, 900)})
    root, rules = str(inp.root), load_rules()
    got = _finish_worker(_start_worker(tmp_path / "w", root, facts.log_files, rules, {}))
    assert got is not None and got == scan_each(root, facts.log_files, rules, {})
    assert sum(len(hits) for hits, _, _, _ in got) >= 4 and all(stats.lines for _, _, stats, _ in got)
    missing = [LogFile(path="containers/gone/logs.txt", container="gone", role="other")]
    assert _finish_worker(_start_worker(tmp_path / "x", root, missing, rules, {})) is None


def write_bundle(path: Path, logs: dict[str, list[str]], *, inspect_first: bool) -> None:
    """A v1 bundle, written with the collector's own BundleWriter: every inspect.json first (as the
    collector writes them), or each after its container's logs."""

    writer = BundleWriter.create(path)
    flags = {"prover-node": "--prover-node", "prover-broker": "--prover-broker", "prover-agent": "--prover-agent"}

    def inspect(k: int, name: str) -> None:
        data = {"Id": f"{k + 1:064x}", "Name": f"/{name}", "State": {"Status": "running", "ExitCode": 0},
                "Config": {"Image": "aztecprotocol/aztec:2.1.2", "Cmd": ["start", flags[ROLES[name]]], "Env": []}}
        writer.add_bytes(f"containers/{name}/inspect.json", json.dumps(data).encode(), f"container_inspect:{name}")

    if inspect_first:
        for k, name in enumerate(logs):
            inspect(k, name)
    for k, (name, lines) in enumerate(logs.items()):
        writer.add_bytes(f"containers/{name}/logs.txt", ("\n".join(lines) + "\n").encode(), f"container_logs:{name}")
        if not inspect_first:
            inspect(k, name)
    writer.finish({"format": FORMAT, "format_version": FORMAT_VERSION, "tool": {"name": "nodediag"},
                   "created_at": "2026-11-27T00:00:00Z", "status": "complete", "sources": []})


def test_logs_scanned_while_the_bundle_is_extracted_give_exactly_the_usual_result(tmp_path: Path) -> None:
    logs = {name: container_log(seed, n) for seed, (name, n) in enumerate(zip(ROLES, (3000, 5000, 400, 2000),
                                                                              strict=True))}
    for inspect_first in (True, False):
        bundle = tmp_path / f"b-{inspect_first}.tar.zst"
        write_bundle(bundle, logs, inspect_first=inspect_first)
        inp = open_input(bundle, workdir=tmp_path / f"plain-{inspect_first}")
        usual = analyze_input(inp, load_facts(inp), tool_version="t")
        with EarlyScans(load_rules(), min_bytes=50_000) as early:
            seen: list[str] = []

            def on_file(folder: Path, member: str, seen: list[str] = seen, early: EarlyScans = early) -> None:
                seen.append(member)
                early.on_file(folder, member)

            inp = open_input(bundle, workdir=tmp_path / f"early-{inspect_first}", on_file=on_file)
            started = len(early._started)
            result = analyze_input(inp, load_facts(inp), tool_version="t", early=early)
        assert sum(m.endswith("logs.txt") for m in seen) == 4
        # started while extracting, once a log and its inspect.json (either first) are on disk:
        # the three of 50 kB or more (the fourth is scanned after extraction)
        assert started == 3
        assert sum(len(f.containers) or 1 for f in result.findings) >= 8 and result.timeline
        assert replace(result, analyzed_at=usual.analyzed_at, input=usual.input) == usual


def test_an_early_scan_for_another_container_or_role_is_not_used(tmp_path: Path) -> None:
    inp, facts = make_input(tmp_path / "in", {"aztec-prover-prover-node-1": container_log(3, 2000),
                                              "aztec-prover-prover-agent-1": container_log(4, 900)})
    node, agent = facts.log_files
    with EarlyScans(load_rules(), min_bytes=0) as early:
        for log in (node, agent):
            folder = inp.root
            inspect = {"Name": f"/{log.container}",
                       "Config": {"Image": "aztecprotocol/aztec:2.1.2", "Cmd": ["start", "--prover-node"]}}
            (folder / log.path).parent.joinpath("inspect.json").write_text(json.dumps(inspect))
            early.on_file(folder, log.path.replace("logs.txt", "inspect.json"))
            early.on_file(folder, log.path)
        assert len(early._started) == 2
        assert early.take(str(inp.root), node, early.rules) is not None  # inspect says prover-node: as the facts
        assert early.take(str(inp.root), agent, early.rules) is None  # the facts say prover-agent: not used
        assert early.take(str(inp.root), node, early.rules) is None  # taken once
