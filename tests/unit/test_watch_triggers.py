"""Which samples and events become triggers, and the cooldown that keeps a restart loop from
producing one bundle per restart."""

from __future__ import annotations

from nodediag.analyzer.rules.live import LiveRuleMatcher
from nodediag.collector.watch.events import ContainerEvent, to_event
from nodediag.collector.watch.sampler import Tick, Watched
from nodediag.collector.watch.store import Sample
from nodediag.collector.watch.triggers import TriggerState

AGENT = Watched("p-prover-agent-1", "a" * 64, "prover-agent", "prover-agent", "p")
BROKER = Watched("p-prover-broker-1", "b" * 64, "prover-broker", "prover-broker", "p")
WATCHED = {w.name: w for w in (AGENT, BROKER)}


def status_tick(t: float, code: int | None, error: str = "") -> Tick:
    return Tick(samples=[Sample(t, "status", BROKER.name, {"role": "prover-broker", "via": "netns", "status": code,
                                                           "error": error})])


def test_docker_events_of_watched_containers_only():
    state = TriggerState(600)
    die = to_event({"Type": "container", "Action": "die", "timeNano": 1_700_000_000_500_000_000,
                    "Actor": {"ID": "a" * 64, "Attributes": {"name": AGENT.name, "exitCode": "137"}}})
    assert die is not None and die.time == 1_700_000_000.5
    trigger = state.from_event(die, WATCHED)
    assert trigger is not None and trigger.kind == "container-died" and trigger.container == AGENT.name
    assert trigger.data == {"exit_code": 137} and "137" in trigger.detail
    assert trigger.as_manifest()["time"] == "2023-11-14T22:13:20.500Z"
    other = ContainerEvent(1.0, "die", "someone-else", "c" * 64, {"exitCode": "1"})
    assert state.from_event(other, WATCHED) is None
    assert to_event({"Type": "container", "Action": "start", "Actor": {}}) is None
    assert to_event({"Type": "network", "Action": "die", "Actor": {}}) is None


def test_status_failing_three_times_in_a_row_triggers_once():
    state = TriggerState(600)
    assert state.from_tick(status_tick(1, 500), WATCHED) == []
    assert state.from_tick(status_tick(2, 500), WATCHED) == []
    assert state.from_tick(status_tick(3, 200), WATCHED) == []  # a success resets the count
    assert state.from_tick(status_tick(4, None, "ConnectionRefusedError: refused"), WATCHED) == []
    assert state.from_tick(status_tick(5, 500), WATCHED) == []
    found = state.from_tick(status_tick(6, 500), WATCHED)
    assert [t.kind for t in found] == ["status-failing"] and "HTTP 500" in found[0].detail
    assert state.from_tick(status_tick(7, 500), WATCHED) == []  # still failing: no new trigger


def test_filesystem_full_and_memory_low_trigger_when_crossing():
    state = TriggerState(600)

    def tick(t: float, percent: float, avail: int) -> Tick:
        return Tick(samples=[Sample(t, "fs", "b:/data", {"percent": percent, "used": 1, "total": 2, "container": "b"}),
                             Sample(t, "host", "", {"mem_total": 1000, "mem_available": avail})])

    assert state.from_tick(tick(1, 89.9, 51), WATCHED) == []
    kinds = sorted(t.kind for t in state.from_tick(tick(2, 90.0, 49), WATCHED))
    assert kinds == ["filesystem-full", "memory-low"]
    assert state.from_tick(tick(3, 95.0, 10), WATCHED) == []  # still full: already triggered
    assert state.from_tick(tick(4, 50.0, 500), WATCHED) == []
    assert [t.kind for t in state.from_tick(tick(5, 99.0, 500), WATCHED)] == ["filesystem-full"]


def test_restart_count_rising_between_samples_triggers():
    state = TriggerState(600)
    found = state.from_tick(Tick(samples=[], restarted=[(AGENT, 2, 3)]), WATCHED)
    assert [t.kind for t in found] == ["container-restarted"] and "2 -> 3" in found[0].detail


def test_log_lines_hitting_high_rules_trigger_through_the_matcher():
    state = TriggerState(600, matcher=LiveRuleMatcher(min_severity="high"))
    lines = ["2026-01-02T03:04:05.000000000Z [03:04:05.000] INFO: prover-client:proving-broker Proving job done",
             "2026-01-02T03:04:06.000000000Z [03:04:06.000] ERROR: kv-store Failed to commit transaction: "
             "Error: ENOSPC: no space left on device, write"]
    found = state.from_tick(Tick(samples=[], new_lines={BROKER.name: lines}), WATCHED)
    assert [(t.kind, t.data["rule"]) for t in found] == [("rule-hit", "disk-full-in-logs")]
    assert found[0].time == 1767323046.0  # when the line was written, not when it was read
    assert found[0].role == "prover-broker"


def test_cooldown_per_kind_and_subject_and_the_gap_between_captures():
    state = TriggerState(cooldown_s=100, min_gap_s=30)
    died = state.from_event(ContainerEvent(0, "die", AGENT.name, AGENT.id, {"exitCode": "1"}), WATCHED)
    oom = state.from_event(ContainerEvent(0, "oom", AGENT.name, AGENT.id), WATCHED)
    assert died is not None and oom is not None
    assert state.admit(died, now=0) == "capture"
    assert state.admit(oom, now=1) == "cooldown"  # an OOM kill is also a death: same kind for the cooldown
    # a restart loop: one capture per cooldown, not one per restart
    verdicts = [state.admit(died, now=t) for t in range(10, 400, 10)]
    assert verdicts.count("capture") == 3  # at 100, 200, 300
    # another kind on another subject within the gap after a capture is covered by that bundle
    broker_died = state.from_event(ContainerEvent(0, "die", BROKER.name, BROKER.id, {"exitCode": "1"}), WATCHED)
    assert broker_died is not None
    assert state.admit(broker_died, now=305) == "covered"
    assert state.admit(broker_died, now=400) == "cooldown"  # its cooldown started when it was covered
    assert state.admit(broker_died, now=406) == "capture"
    # a failure well after the last capture started may not be in its bundle: it captures, even right after
    agent_oom = state.from_event(ContainerEvent(415.0, "oom", AGENT.name, AGENT.id), WATCHED)
    assert agent_oom is not None and state.admit(agent_oom, now=415.5) == "capture"
    late = state.from_event(ContainerEvent(416.0, "die", BROKER.name, BROKER.id, {"exitCode": "1"}), WATCHED)
    assert late is not None and state.admit(late, now=417) == "cooldown"


def test_a_status_streak_set_aside_fires_again_if_it_goes_on():
    """The watcher sets aside /status failing while it restarts a service (its echo); rearmed, the same
    streak fires again three failures later, so a service that never came back still gets its bundle."""
    state = TriggerState(600)
    fired = [t for n in range(1, 4) for t in state.from_tick(status_tick(n, 500), WATCHED)]
    assert [t.kind for t in fired] == ["status-failing"]
    state.rearm_status(BROKER.name)
    assert state.from_tick(status_tick(4, 500), WATCHED) == []
    assert state.from_tick(status_tick(5, 500), WATCHED) == []
    assert [t.kind for t in state.from_tick(status_tick(6, 500), WATCHED)] == ["status-failing"]
