"""One call from paths to an AnalysisResult: what `nodediag analyze` and the archive both run.

Opening each input, loading its facts (several inputs are joined into one deployment first:
merge.py) and running the rules, with the container logs of a single input scanned by worker
processes while the rest of a bundle is extracted; then the gaps in the evidence (the agents'
side missing, a host's bundle missing). The temporary folder is removed before it returns.
Raises ``InputError`` (one plain line) for an input that cannot be analysed.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

from nodediag.analyzer.analysis import EarlyScans, analyze_input
from nodediag.analyzer.facts import load_facts
from nodediag.analyzer.inputs import DEFAULT_MAX_BYTES, DEFAULT_MAX_FILES, InputError, open_input
from nodediag.analyzer.inputs.redact_ahead import ReadTooEarly, finish_growing, stop_growing
from nodediag.analyzer.inputs.shared import raw_fix, scrub_result, share_learnt
from nodediag.analyzer.log_scan import Progress
from nodediag.analyzer.merge import JobLog, add_evidence_gaps, evidence_gaps, merge_inputs, scan_jobs
from nodediag.analyzer.model import AnalysisResult, Facts, LoadedInput
from nodediag.analyzer.rules.catalog import load_rules, rules_tagged
from nodediag.bundle.limits import DEFAULT_LIMITS
from nodediag.bundle.safe_archive import ArchiveError
from nodediag.redaction import RedactionCounts
from nodediag.version import __version__

JOB_ROLES = frozenset(("prover-broker", "prover-agent"))  # whose logs scan_jobs reads


def analyze_path(source: Path, *, max_bytes: int = DEFAULT_MAX_BYTES, max_files: int = DEFAULT_MAX_FILES,
                 header_limit: int | None = None, name: str | None = None,
                 progress: Progress | None = None) -> AnalysisResult:
    """Analyze a bundle, an extracted bundle, the manual guide's archive or a log file.
    ``name`` replaces the input's name in the report (e.g. the file name the user added, not
    the archive's store path)."""
    return analyze_paths([source], max_bytes=max_bytes, max_files=max_files, header_limit=header_limit,
                         name=name, progress=progress)


def analyze_paths(sources: Sequence[Path], *, max_bytes: int = DEFAULT_MAX_BYTES,
                  max_files: int = DEFAULT_MAX_FILES, header_limit: int | None = None, name: str | None = None,
                  progress: Progress | None = None, notices: list[str] | None = None,
                  ahead: bool = True) -> AnalysisResult:
    """Analyze one input, or several (the bundles of one deployment's hosts) as one deployment:
    one timeline, causes linked across hosts, each host's clock set against the broker's host.
    ``notices`` receives what the user must be told about the joining (inputs of different
    deployments, clock estimates); the report says it too. ``max_bytes``/``max_files``: each input."""
    header = DEFAULT_LIMITS.max_header_bytes if header_limit is None else header_limit
    with tempfile.TemporaryDirectory(prefix="nodediag-analyze-") as work, EarlyScans(load_rules()) as early:
        if progress is not None:
            progress(f"reading {sources[0].name}", -1, -1)
        if len(sources) == 1:
            # (a large raw log is redacted by a child process while the scan reads it: redact_ahead.py)
            inp = open_input(sources[0], workdir=Path(work), max_bytes=max_bytes, max_files=max_files,
                             on_file=early.on_file, on_frame=early.on_frame, header_limit=header,
                             redact_ahead=ahead)
            try:
                return _analyze_one(inp, name, early, progress)
            except ReadTooEarly:
                pass  # (a secret learnt late: what was read of the growing copy may hold it)
            finally:
                stop_growing(inp)
        else:
            opened: list[LoadedInput] = []
            try:
                for index, each in enumerate(sources):
                    opened.append(open_input(each, workdir=Path(work) / f"input-{index}", max_bytes=max_bytes,
                                             max_files=max_files, header_limit=header))
                for each_input in opened:  # every copy complete before the inputs share their secrets
                    _finish(each_input)
                # a secret learnt in one raw input is removed from the others before anything reads them
                share_learnt(opened)
                parts = [(each_input, load_facts(each_input)) for each_input in opened]
            finally:
                for each_input in opened:
                    stop_growing(each_input)
            late = raw_fix(opened)
            try:
                merged = merge_inputs(parts, Path(work))
            except OSError as exc:
                raise InputError(f"cannot join the inputs in {work} ({exc.strerror or exc}): free space there") from exc
            if notices is not None:
                notices.extend(merged.notices)
            result = _analyzed(merged.input, merged.facts, merged.jobs, name, early, progress)
            if late is not None:  # a bundle beside raw inputs: what the report shows of it loses their secrets
                scrub_result(result, late, RedactionCounts())
            return result
    # the log redacted ahead was rewritten at its end: analyzed again, redacted first this time
    return analyze_paths(sources, max_bytes=max_bytes, max_files=max_files, header_limit=header_limit, name=name,
                         progress=progress, notices=notices, ahead=False)


def _finish(inp: LoadedInput) -> None:
    """Wait for the children still redacting ``inp`` (one-line InputError if they failed)."""
    try:
        finish_growing(inp)
    except ArchiveError as exc:
        raise InputError(" ".join(f"{inp.name} {exc}".split())) from None


def _analyze_one(inp: LoadedInput, name: str | None, early: EarlyScans, progress: Progress | None) -> AnalysisResult:
    """One input, opened: its facts, job lines and analysis."""
    facts = load_facts(inp)
    if inp.growing and any(log.role in JOB_ROLES for log in facts.log_files):
        try:  # the job lines are read from the whole log: wait for its redaction
            finish_growing(inp)
        except ArchiveError as exc:
            raise InputError(" ".join(f"{inp.name} {exc}".split())) from None
    return _analyzed(inp, facts, scan_jobs(inp, facts), name, early, progress)


def _analyzed(inp: LoadedInput, facts: Facts, job_lines: JobLog, name: str | None, early: EarlyScans,
              progress: Progress | None) -> AnalysisResult:
    if name is not None:
        inp.name = name
    result = analyze_input(inp, facts, tool_version=__version__, early=early, progress=progress)
    agent_symptoms = {r.id for r in rules_tagged(early.rules, "agent-symptom")}
    gaps = evidence_gaps(facts, result.findings, job_lines, agent_symptoms)
    result.findings = add_evidence_gaps(result.findings, gaps)
    if gaps and result.verdict.confidence != "high":  # the verdict says what it could not see
        result.verdict.headline += " " + " ".join(f"{g.title}." for g in gaps)
    return result
