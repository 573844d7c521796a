"""The engine finds a record's anchors with one automaton: the same rules as trying every rule."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from nodediag.analyzer.model import LEVELS, Record
from nodediag.analyzer.rules.catalog import load_rules
from nodediag.analyzer.rules.engine import LogRuleEngine, _rule_matches

RULES = load_rules()
ENGINE = LogRuleEngine(RULES)
ANCHORS = sorted({a for plan in ENGINE._by_level.values() for a in plan.anchors})
# two anchors sharing letters ("broker facade stopped" + "stopped provernode"): found apart
OVERLAPS = sorted({a + b[k:] for a in ANCHORS for b in ANCHORS if a != b
                   for k in range(1, min(len(a), len(b))) if a.endswith(b[:k])} | {b for a in ANCHORS for b in ANCHORS
                                                                                     if a != b and a in b})
PIECES = st.one_of(st.sampled_from(ANCHORS), st.sampled_from(OVERLAPS), st.sampled_from(ANCHORS).map(str.upper),
                   st.sampled_from(ANCHORS).map(lambda a: a[: len(a) // 2]), st.text(max_size=8))


@settings(max_examples=300, deadline=None)
@given(st.lists(PIECES, max_size=6).map(" ".join), st.lists(PIECES, max_size=2), st.sampled_from((None, *LEVELS)),
       st.sampled_from(("prover-node", "proving-agent", "proving-broker", "other")),
       st.sampled_from((None, "prover-node", "prover-client:orchestrator", "archiver")))
def test_the_engine_matches_what_trying_every_rule_matches(message, stack, level, role, module):
    record = Record("c", role, "logs.txt", 1, 1, None, level, module, message, {}, stack, message, "pino")
    text = record.text
    every = {r.id for r in ENGINE.rules if _rule_matches(r, record, text, text.lower())}
    assert set(ENGINE.match_ids(record)[1]) == every
    assert LogRuleEngine(RULES).match_ids(record)[1] == ENGINE.match_ids(record)[1]  # cached or not
    # explained: a rule it matched always ends in a finding (so it is no unexplained error)
    rules, _, explained = ENGINE.match_ids(record)
    assert explained == any(r.min_count <= 1 and r.ignore_first == 0 for r in rules)
