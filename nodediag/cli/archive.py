"""`nodediag archive`: keep every bundle and its analysis, search them, re-diagnose them, see trends.

The store itself lives in the analyzer (``nodediag.analyzer.archive``); this module parses options,
hands the archive the analysis to run (the same as ``nodediag analyze``) and prints.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from nodediag.cli.common import fail, parse_duration

if TYPE_CHECKING:
    from nodediag.analyzer.archive import Archive

F = TypeVar("F", bound=Callable[..., Any])
SEVERITY_CHOICES = ["info", "low", "medium", "high", "critical"]
ROLE_CHOICES = ["prover-node", "prover-broker", "prover-agent", "other"]


def db_options(func: F) -> F:
    func = click.option("--store", type=click.Path(path_type=Path), metavar="DIR",
                        help="Folder of the stored bundles (default: beside a SQLite archive; "
                             "$NODEDIAG_ARCHIVE_STORE). A team's server needs a shared path.")(func)
    func = click.option("--db", metavar="URL",
                        help="Archive database: a SQLite file, or postgresql://user@host/db for a team "
                             "(default: $NODEDIAG_ARCHIVE_DB, else $XDG_DATA_HOME/nodediag/archive.db).")(func)
    return func


def open_archive(db: str | None, store: Path | None) -> Archive:
    from nodediag.analyzer.archive import Archive, ArchiveError

    try:
        return Archive.open(db, store)
    except ArchiveError as exc:
        fail(str(exc))


def analyze_to_json(path: Path, name: str) -> dict[str, Any]:
    """What `nodediag analyze -f json` would write for ``path``, as a dict."""
    from nodediag.analyzer.pipeline import analyze_path
    from nodediag.analyzer.report.json_report import result_to_dict

    return result_to_dict(analyze_path(path, name=name))


def parse_moment(text: str, option: str) -> datetime:
    """An ISO date or time (UTC unless it says otherwise), or a duration ago (``7d``, ``12h``); naive UTC."""
    value = text.strip()
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        try:
            moment = datetime.now(timezone.utc) - parse_duration(value)
        except click.BadParameter:
            fail(f"{option} {text!r} is neither a date/time (2026-11-27, 2026-11-27T18:00Z) nor a duration ago (7d)")
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return moment


def _archive_error() -> type[Exception]:
    from nodediag.analyzer.archive import ArchiveError

    return ArchiveError


@click.group()
def archive() -> None:
    """The postmortem archive: every bundle and its analysis, searchable (SQLite by default,
    PostgreSQL for a team)."""


@archive.command("add")
@click.argument("sources", nargs=-1, required=True, type=click.Path(path_type=Path))
@db_options
@click.option("--case-id", default="", help="Your ticket or case reference, kept with the entry.")
@click.option("--note", default="", help="A free-text note kept with the entry.")
@click.option("--force", is_flag=True, help="Store a bundle that fails verification, marked as damaged.")
def add(sources: tuple[Path, ...], db: str | None, store: Path | None, case_id: str, note: str, force: bool) -> None:
    """Verify, store (by sha256: the same file twice is one entry) and analyze each SOURCE: a bundle,
    the manual guide's archive or a log file."""
    ArchiveError = _archive_error()
    refused = 0
    with open_archive(db, store) as arc:
        for source in sources:
            try:
                outcome = arc.add(source, analyze_to_json, case_id=case_id, note=note, force=force)
            except ArchiveError as exc:
                fail(str(exc))
            if outcome.status == "refused":
                refused += 1
                click.echo(f"nodediag: error: {outcome.message}", err=True)
            elif outcome.status == "duplicate":
                click.echo(f"#{outcome.id} {source}: already archived")
            else:
                damaged = " (stored as DAMAGED)" if outcome.damaged else ""
                click.echo(f"#{outcome.id} {source}{damaged}: {outcome.message}")
    if refused:
        sys.exit(1)


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M") if moment else "-"


@archive.command("list")
@db_options
@click.option("--rule", help="Entries with a finding of this rule id.")
@click.option("--severity", type=click.Choice(SEVERITY_CHOICES), help="Entries with a finding this severe or worse.")
@click.option("--role", type=click.Choice(ROLE_CHOICES), help="Entries with a finding in a container of this role.")
@click.option("--host", help="Entries collected on this host name.")
@click.option("--since", help="From this date/time (UTC) or this long ago (7d).")
@click.option("--until", help="Up to this date/time (UTC) or this long ago.")
@click.option("--text", "words", help="Words that must all occur in a finding or the verdict (full-text search).")
@click.option("--limit", default=100, show_default=True, help="Show at most this many (0: all).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (one array) instead of a table.")
def list_(db: str | None, store: Path | None, rule: str | None, severity: str | None, role: str | None,
          host: str | None, since: str | None, until: str | None, words: str | None, limit: int,
          as_json: bool) -> None:
    """Archived incidents, newest first. Filters on findings (--rule, --severity, --role) apply to
    the same finding."""
    from nodediag.analyzer.archive import Filters

    if limit < 0:
        fail("--limit must be 0 (all) or more")
    filters = Filters(rule=rule, severity=severity, role=role, host=host,
                      since=parse_moment(since, "--since") if since else None,
                      until=parse_moment(until, "--until") if until else None,
                      text=words, limit=limit + 1 if limit else None)
    ArchiveError = _archive_error()
    with open_archive(db, store) as arc:
        try:
            entries = arc.find(filters, with_rules=as_json)
        except ArchiveError as exc:
            fail(str(exc))
    more = bool(limit) and len(entries) > limit
    entries = entries[:limit] if limit else entries
    if as_json:
        click.echo(json.dumps([e.as_json() for e in entries], indent=2, ensure_ascii=False))
        return
    if not entries:
        click.echo("No archived incident matches.", err=True)
        return
    click.echo(f"{'ID':>5}  {'WHEN (UTC)':16}  {'HOST':16}  {'DEPLOYMENT':16}  {'WORST':8}  ROOT CAUSE")
    for e in entries:
        flags = (" [damaged]" if e.damaged else "") + (f" case={e.case_id}" if e.case_id else "")
        cause = e.verdict_rule or ("analysis failed" if e.error else "none")
        click.echo(f"{e.id:>5}  {_when(e.occurred_at):16}  {e.host[:16]:16}  {e.deployment[:16]:16}  "
                   f"{e.max_severity or '-':8}  {cause}{flags}")
    if more:
        click.echo(f"(more than {limit}: narrow the filters or raise --limit)", err=True)


list_.name = "list"


def _entry_id(text: str) -> int:
    value = text.strip().lstrip("#")
    if not value.isdigit():
        fail(f"{text!r} is not an archive id (a number `nodediag archive list` shows)")
    return int(value)


@archive.command("show")
@click.argument("entry")
@db_options
@click.option("-f", "--format", "fmt", type=click.Choice(["html", "md", "json"]), default="md", show_default=True)
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Write the report here (default: stdout; "
              "html: <name>-report.html).")
@click.option("--history", is_flag=True,
              help="Print the entry's verdict history instead (which version said what, when).")
def show(entry: str, db: str | None, store: Path | None, fmt: str, output: Path | None, history: bool) -> None:
    """The report of archive entry ENTRY (its current analysis)."""
    from nodediag.analyzer.report import ReportError, write_report
    from nodediag.analyzer.report.json_report import ReportSchemaError, result_from_dict

    ArchiveError = _archive_error()
    bundle_id = _entry_id(entry)
    with open_archive(db, store) as arc:
        try:
            if history:
                for h in arc.history(bundle_id):
                    mark = "*" if h.current else " "
                    said = h.verdict_rule or ("analysis failed: " + h.error if h.error else "none")
                    click.echo(f"{mark} {h.analyzed_at:%Y-%m-%d %H:%M:%S}  nodediag {h.analyzer_version or '?':8}  "
                               f"{said}")
                return
            report = arc.report(bundle_id)
        except ArchiveError as exc:
            fail(str(exc))
    try:
        result = result_from_dict(report)
    except ReportSchemaError as exc:
        fail(f"archive entry #{bundle_id}: {exc}; `nodediag archive reanalyze {bundle_id}` rewrites it")
    try:
        write_report(result, fmt, output)
    except ReportError as exc:
        fail(str(exc))


@archive.command("reanalyze")
@click.argument("entries", nargs=-1)
@db_options
@click.option("--all", "everything", is_flag=True, help="Every archived bundle.")
def reanalyze(entries: tuple[str, ...], db: str | None, store: Path | None, everything: bool) -> None:
    """Run the current rules over stored bundles; each entry keeps its verdict history."""
    if everything == bool(entries):
        fail("give archive ids or --all (not both)")
    ArchiveError = _archive_error()
    failed = 0
    with open_archive(db, store) as arc:
        try:
            ids = arc.ids() if everything else [_entry_id(e) for e in entries]
            for bundle_id, before, after, error in arc.reanalyze(ids, analyze_to_json):
                if error:
                    failed += 1
                    click.echo(f"nodediag: error: #{bundle_id}: {error}", err=True)
                    continue
                change = "unchanged" if before == after else "CHANGED"
                click.echo(f"#{bundle_id}: {before or 'none'} -> {after or 'none'} ({change})")
        except ArchiveError as exc:
            fail(str(exc))
    if failed:
        sys.exit(1)


@archive.command("trends")
@db_options
@click.option("--by", type=click.Choice(["week", "day"]), default="week", show_default=True)
@click.option("--since", help="From this date/time (UTC) or this long ago (90d).")
@click.option("--until", help="Up to this date/time (UTC) or this long ago.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Write a self-contained HTML page here.")
def trends(db: str | None, store: Path | None, by: str, since: str | None, until: str | None, as_json: bool,
           output: Path | None) -> None:
    """How often each rule fired, per week or day, per host and deployment, with the incident list."""
    from nodediag.analyzer.archive import trends as trend_pages

    ArchiveError = _archive_error()
    with open_archive(db, store) as arc:
        try:
            entries = arc.incidents(parse_moment(since, "--since") if since else None,
                                    parse_moment(until, "--until") if until else None)
        except ArchiveError as exc:
            fail(str(exc))
        shown = arc.location.shown
    computed = trend_pages.compute(entries, "day" if by == "day" else "week")
    if output is not None:
        page = trend_pages.render_html(computed, archive=shown,
                                       generated_at=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))
        try:
            output.write_text(page, encoding="utf-8")
        except OSError as exc:
            fail(f"cannot write {output}: {exc.strerror or exc}")
        click.echo(f"Trends: {output}", err=True)
    if as_json:
        click.echo(json.dumps(computed.as_json(), indent=2, ensure_ascii=False))
    elif output is None:
        click.echo(trend_pages.render_text(computed), nl=False)
