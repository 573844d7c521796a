"""Logic rules' edge cases: what must not fire (false positives cost operators' trust)."""

from __future__ import annotations

from nodediag.analyzer.analysis import run_logic_rules
from nodediag.analyzer.model import ContainerInfo, Facts, Filesystem, HostFacts, Probe
from nodediag.analyzer.rules import load_rules
from nodediag.analyzer.rules.fact_checks import invalid_log_levels

RULES = load_rules()


def fired(facts: Facts) -> list[str]:
    return sorted(f.rule_id for f in run_logic_rules(RULES, facts, None, {}))


def test_log_level_values() -> None:
    assert invalid_log_levels("info;debug:prover-client,archiver") == []
    assert invalid_log_levels("'VERBOSE'") == []
    assert invalid_log_levels("silent") == []
    assert invalid_log_levels("notice;warning:p2p") == ["notice", "warning"]


def test_settings_given_as_flags_or_a_built_in_broker_are_not_missing() -> None:
    node = ContainerInfo(
        name="node", role="prover-node", env={"PATH": "/usr/bin", "ETHEREUM_HOSTS": "[REDACTED:api_key#00ff00ff]"},
        cmd=["start", "--prover-node", "--prover-broker", "--l1-consensus-host-urls=http://beacon",
             "--l1-private-key", "[REDACTED:private_key#11]"],
    )
    assert fired(Facts(containers=[node])) == []


def test_an_empty_setting_counts_as_missing_and_a_container_without_env_is_not_judged() -> None:
    agent = ContainerInfo(name="agent", role="prover-agent", env={"PROVER_BROKER_HOST": " "})
    unknown = ContainerInfo(name="node", role="prover-node")
    found = run_logic_rules(RULES, Facts(containers=[agent, unknown]), None, {})
    assert [(f.rule_id, f.container) for f in found] == [("required-setting-missing", "agent")]


def test_poll_interval_below_an_explicit_broker_timeout_is_fine() -> None:
    broker = ContainerInfo(name="broker", role="prover-broker", env={"PROVER_BROKER_JOB_TIMEOUT_MS": "120000"})
    agent = ContainerInfo(name="agent", role="prover-agent",
                          env={"PROVER_BROKER_HOST": "http://broker:8080", "PROVER_AGENT_POLL_INTERVAL_MS": "30000"})
    assert fired(Facts(containers=[broker, agent])) == []
    broker.env["PROVER_BROKER_JOB_TIMEOUT_MS"] = "20000"
    assert fired(Facts(containers=[broker, agent])) == ["agent-poll-interval-too-long"]


def test_hardware_minimums_only_count_roles_present_and_tolerate_reported_ram() -> None:
    broker = ContainerInfo(name="broker", role="prover-broker")
    host = HostFacts(cpus=8, memory_total=int(15.2 * 1024**3))  # a "16 GB" machine as the kernel reports it
    assert fired(Facts(containers=[broker], host=host)) == []
    assert fired(Facts(host=HostFacts(cpus=1, memory_total=1024**3))) == []


def test_full_filesystem_severity_and_pseudo_filesystems() -> None:
    host = HostFacts(filesystems=[
        Filesystem("/", "/dev/sda1", "ext4", 100, 98, 2, 98.0),
        Filesystem("/snap/x", "/dev/loop1", "squashfs", 100, 100, 0, 100.0),
    ])
    (finding,) = run_logic_rules(RULES, Facts(host=host), None, {})
    assert finding.severity == "critical" and finding.details["mountpoint"] == "/"


def test_probes_404_or_skipped_are_not_unhealthy_but_unreachable_is() -> None:
    probes = [Probe("a", "http://a:8080/status", "host", 200), Probe("b", "", "skipped", None, "not published"),
              Probe("c", "http://c:8080/status", "netns", None, "connection refused")]
    found = run_logic_rules(RULES, Facts(probes=probes), None, {})
    assert [(f.container, f.details["answer"]) for f in found] == [("c", "unreachable (connection refused)")]
