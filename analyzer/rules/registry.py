"""The logic rules' checks by name, and the ``params`` each one reads.

``check:`` in a rule file names one of ``CHECKS``; its ``params`` may only hold keys that check
reads, with values of the declared kind (``int``, ``number``, ``str``, ``bool``, ``mapping``,
``list[str]``). ``catalog.load_rules`` enforces both, so a parameter nobody reads, or a check
renamed on one side only, is an error when the rules load, not a silent no-op.
"""

from __future__ import annotations

from collections.abc import Callable

from nodediag.analyzer.model import Finding
from nodediag.analyzer.rules.catalog import Rule
from nodediag.analyzer.rules.fact_checks import FACT_CHECK_PARAMS, FACT_CHECKS, CheckContext
from nodediag.analyzer.rules.runtime_checks import RUNTIME_CHECK_PARAMS, RUNTIME_CHECKS

Check = Callable[[Rule, CheckContext], list[Finding]]
CHECKS: dict[str, Check] = {**FACT_CHECKS, **RUNTIME_CHECKS}
CHECK_PARAMS: dict[str, dict[str, str]] = {name: {} for name in CHECKS}
CHECK_PARAMS.update(FACT_CHECK_PARAMS)
CHECK_PARAMS.update(RUNTIME_CHECK_PARAMS)
