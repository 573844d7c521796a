"""End to end: each failure-lab scenario really fails in real containers, `nodediag collect`
bundles it, and `nodediag analyze --format json` names the expected root cause and container.

Every scenario runs once, all in parallel, each in a private Docker engine of its own (the
module fixture `lab_runs`: engine up, compose up under a unique project name, wait for the
failure, collect, compose down -v, engine down); the tests then analyze the bundles. The
expected diagnosis is the one samples/expected.json promises for the committed sample of the
same scenario (same rule id, same compose service)."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lab_runner import (
    REPO_ROOT,
    RunResult,
    analyze,
    engine_work_dir,
    load_scenario,
    run_all,
    scenario_names,
    unique_project,
    verify,
)

pytestmark = pytest.mark.docker

EXPECTED = json.loads((REPO_ROOT / "samples" / "expected.json").read_text())["samples"]
SCENARIOS = scenario_names()


def _params() -> list:
    params = []
    for name in SCENARIOS:
        gap = EXPECTED[name].get("analyzer_gap")
        marks = [pytest.mark.xfail(strict=True, reason=f"analyzer gap: {gap}")] if gap else []
        params.append(pytest.param(name, id=name, marks=marks))
    return params


@pytest.fixture(scope="module")
def lab_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, RunResult]:
    if shutil.which("dockerd") is None or shutil.which("docker") is None:
        pytest.fail("Docker engine not installed: run `bash .ci/setup`", pytrace=False)
    work = engine_work_dir()
    try:
        return run_all(SCENARIOS, tmp_path_factory.mktemp("lab-bundles"), work, project=unique_project)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def test_every_scenario_has_an_expected_diagnosis() -> None:
    assert set(SCENARIOS) <= set(EXPECTED), sorted(set(SCENARIOS) - set(EXPECTED))
    for name in SCENARIOS:
        assert load_scenario(name).wait_for, f"{name} has no wait condition"


def test_scenarios_fail_for_real_and_bundle_small(lab_runs: dict[str, RunResult]) -> None:
    problems = {name: run.error for name, run in lab_runs.items() if run.error}
    assert not problems, problems
    for name, run in lab_runs.items():
        assert run.failed_after_s < load_scenario(name).timeout_s
        assert run.bundle is not None and run.bundle.stat().st_size < 500 * 1024, name
        done = verify(run.bundle)
        assert done.returncode == 0, f"{name}: {done.stderr}"


@pytest.mark.parametrize("name", _params())
def test_scenario_diagnosis(name: str, lab_runs: dict[str, RunResult]) -> None:
    run = lab_runs[name]
    assert not run.error, run.error
    assert run.bundle is not None
    report = analyze(run.bundle)
    expected = EXPECTED[name]
    verdict = report["verdict"]
    services = [expected["service"], *expected.get("also_services", [])]
    containers = [f"{run.project}-{service}-1" if service else "" for service in services]
    assert verdict["rule_id"] == expected["rule_id"], verdict["headline"]
    assert verdict["container"] in containers, verdict["headline"]
    assert expected.get("headline_contains", "") in verdict["headline"], verdict["headline"]
    if expected["rule_id"]:
        top = next(f for f in report["findings"] if f["category"] != "data-gap")
        assert (top["rule_id"], top["container"]) == (verdict["rule_id"], verdict["container"])
        assert top["evidence"], f"{name}: the root-cause finding carries no evidence"


@pytest.mark.parametrize("name", sorted(n for n in SCENARIOS if EXPECTED[n].get("unexplained")))
def test_scenario_errors_no_rule_explains_are_listed(name: str, lab_runs: dict[str, RunResult]) -> None:
    run = lab_runs[name]
    assert not run.error and run.bundle is not None, run.error
    report = analyze(run.bundle)
    shown = {group["message"]: group for group in report["unexplained"]}
    for message in EXPECTED[name]["unexplained"]:
        assert message in shown, f"{name}: {message!r} not in {sorted(shown)}"
        group = shown[message]
        assert group["count"] >= 2 and group["containers"] == [f"{run.project}-prover-node-1"]
        assert group["file"].endswith("/logs.txt") and group["line"] > 0 and group["example"]
