"""Render an AnalysisResult as the incident report: HTML, Markdown or JSON.

The HTML report is one self-contained file (CSS and a small script inlined from
``report_templates/``) that makes no network request and reads fully with JavaScript off.
All bundle text is escaped: the HTML environment autoescapes and no template marks bundle data
safe; Markdown escapes inline text and fences code safely.
"""

from __future__ import annotations

import base64
import hashlib
import os
import sys
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from nodediag.analyzer.model import AnalysisResult
from nodediag.analyzer.report import markdown as report_markdown
from nodediag.analyzer.report.formatting import fmt_bytes, fmt_duration, fmt_time, iso_z, line_range
from nodediag.analyzer.report.json_report import render_json
from nodediag.analyzer.report.view import build_view
from nodediag.bundle.terminal import visible

FORMATS = ("html", "json", "md")

__all__ = ["FORMATS", "ReportError", "render_html", "render_json", "render_markdown", "write_report"]


class ReportError(OSError):
    """A report that cannot be written where the user asked. ``str()`` is the full one-line message;
    ``strerror`` the reason alone (so ``except OSError`` callers that print strerror read well)."""

    def __init__(self, message: str, reason: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.strerror = reason or message

    def __str__(self) -> str:
        return self.message


def _filters(env: Environment) -> Environment:
    env.filters.update(
        time=fmt_time, iso=iso_z, bytes=fmt_bytes, duration=fmt_duration, lines=line_range,
    )
    return env


_LINE_EXCERPT = 4096  # characters of one line (a log line, a message) a report shows


def _shown(value: Any) -> Any:
    """Every value a template prints, with control and bidi characters from the bundle made visible
    (``\\x1b``, ``\\u202e``): they would reorder or hide report text; and one line (a value
    without a newline: a log line, a message) shown as an excerpt of at most _LINE_EXCERPT
    characters, so that no input line can blow the report up (issue 13)."""
    if isinstance(value, Markup):
        return Markup(visible(str(value), keep_layout=True))
    if isinstance(value, str):
        if len(value) > _LINE_EXCERPT and "\n" not in value:
            value = f"{value[:_LINE_EXCERPT]} [... {len(value) - _LINE_EXCERPT:,} more characters not shown]"
        return visible(value, keep_layout=True)
    return value


def _environment(*, autoescape: bool, keep_trailing_newline: bool = False) -> Environment:
    env = Environment(loader=PackageLoader("nodediag.report_templates", "."), autoescape=autoescape,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                      keep_trailing_newline=keep_trailing_newline)
    env.finalize = _shown  # (set before any template is compiled: the code generator reads it)
    return _filters(env)


@lru_cache(maxsize=1)
def _html_env() -> Environment:
    return _environment(autoescape=True)  # every piece of bundle text is escaped


@lru_cache(maxsize=1)
def _markdown_env() -> Environment:
    env = _environment(autoescape=False, keep_trailing_newline=True)
    env.filters.update(md=report_markdown.md_text, prose=report_markdown.md_prose, code=report_markdown.md_code,
                       cell=report_markdown.md_cell, grep_lines=report_markdown.grep_lines,
                       numbered=report_markdown.numbered, fence=report_markdown.fence)
    return env


@dataclass(frozen=True, slots=True)
class InlineAssets:
    """The report's own stylesheet and script (package files, never bundle data) and their CSP hashes."""

    style: Markup
    script: Markup
    style_hash: str
    script_hash: str


def _csp_hash(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")


@lru_cache(maxsize=1)
def _inline_assets() -> InlineAssets:
    folder = resources.files("nodediag.report_templates")
    style = folder.joinpath("report.css").read_text(encoding="utf-8")
    script = folder.joinpath("report.js").read_text(encoding="utf-8")
    if "</" in style or "</" in script:
        raise RuntimeError("report.css/report.js must not contain '</' (it would end the inline element)")
    return InlineAssets(Markup(style), Markup(script), _csp_hash(style), _csp_hash(script))


def render_html(result: AnalysisResult) -> str:
    """The self-contained HTML report."""
    template = _html_env().get_template("report.html")
    return template.render(view=build_view(result), r=result, assets=_inline_assets())


def render_markdown(result: AnalysisResult) -> str:
    """A short Markdown report for a ticket or a chat."""
    text = _markdown_env().get_template("report.md").render(view=build_view(result), r=result)
    return report_markdown.tidy(text)


def default_report_name(result: AnalysisResult, fmt: str) -> str:
    """``<input name>-report.<fmt>`` in the current folder, e.g. ``nodediag-prover-1-...-report.html``."""
    stem = Path(result.input.name or "nodediag").name
    for suffix in (".tar.zst", ".log", ".txt"):
        if stem.endswith(suffix):
            stem = stem[: -len(suffix)]
    stem = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in stem).strip("._") or "nodediag"
    return f"{stem}-report.{fmt}"


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_report(result: AnalysisResult, fmt: str, output: Path | None) -> Path | None:
    """Write the report in ``fmt`` (html, json, md) to ``output``.

    With ``output`` None, JSON and Markdown go to stdout (returns None) and HTML goes to
    ``default_report_name`` in the current folder. Returns the path written. The file is written
    whole or not at all (temporary file, then rename).
    """
    if fmt not in FORMATS:
        raise ReportError(f"unknown report format {fmt!r}: use one of {', '.join(FORMATS)}")
    text = {"html": render_html, "json": render_json, "md": render_markdown}[fmt](result)
    if output is None and fmt != "html":
        sys.stdout.write(text)
        sys.stdout.flush()
        return None
    path = Path(output) if output is not None else Path(default_report_name(result, fmt))
    if path.is_dir():
        path = path / default_report_name(result, fmt)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        reason = f"folder {folder} does not exist"
        raise ReportError(f"cannot write the report to {path}: {reason}", reason)
    try:
        handle, temp_name = tempfile.mkstemp(prefix=".nodediag-report-", dir=folder)
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as stream:
            stream.write(text)
        os.chmod(temp_name, 0o666 & ~_umask())
        os.replace(temp_name, path)
    except OSError as exc:
        if "temp_name" in locals() and os.path.exists(temp_name):
            os.unlink(temp_name)
        reason = f"{exc.strerror or exc} ({path})"
        raise ReportError(f"cannot write the report to {path}: {exc.strerror or exc}", reason) from None
    return path
