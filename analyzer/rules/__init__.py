"""Rules: data rules (YAML files here) matched on log records, and logic rules (Python checks)
run on facts. ``catalog`` loads and validates the rule files; ``engine`` runs log rules on a
stream of records; ``fact_checks`` / ``runtime_checks`` run the logic rules; ``correlation``
links causes to their symptoms."""

from nodediag.analyzer.rules.catalog import Rule, RuleFileError, load_rules

__all__ = ["Rule", "RuleFileError", "load_rules"]
