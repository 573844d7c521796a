"""One call from a path to an AnalysisResult: what `nodediag analyze` and the archive both run.

Opening the input, loading its facts and running the rules, with the container logs scanned by
worker processes while the rest of a bundle is extracted; the temporary folder is removed before
it returns. Raises ``InputError`` (one plain line) for an input that cannot be analysed.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from nodediag.analyzer.analysis import EarlyScans, analyze_input
from nodediag.analyzer.facts import load_facts
from nodediag.analyzer.inputs import DEFAULT_MAX_BYTES, DEFAULT_MAX_FILES, open_input
from nodediag.analyzer.log_scan import Progress
from nodediag.analyzer.model import AnalysisResult
from nodediag.analyzer.rules.catalog import load_rules
from nodediag.version import __version__


def analyze_path(source: Path, *, max_bytes: int = DEFAULT_MAX_BYTES, max_files: int = DEFAULT_MAX_FILES,
                 header_limit: int | None = None, name: str | None = None,
                 progress: Progress | None = None) -> AnalysisResult:
    """Analyze a bundle, an extracted bundle, the manual guide's archive or a log file.
    ``name`` replaces the input's name in the report (e.g. the file name the user added, not
    the archive's store path)."""
    with tempfile.TemporaryDirectory(prefix="nodediag-analyze-") as work, EarlyScans(load_rules()) as early:
        if progress is not None:
            progress(f"reading {source.name}", -1, -1)
        limits = {} if header_limit is None else {"header_limit": header_limit}
        inp = open_input(source, workdir=Path(work), max_bytes=max_bytes, max_files=max_files,
                         on_file=early.on_file, on_frame=early.on_frame, **limits)
        if name is not None:
            inp.name = name
        facts = load_facts(inp)
        return analyze_input(inp, facts, tool_version=__version__, early=early, progress=progress)
