"""write_report: where each format goes, and the one-line errors a user can cause."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_report_sample import full_result

from nodediag.analyzer.report import ReportError, write_report


def test_json_and_markdown_go_to_stdout_without_an_output(capsys: pytest.CaptureFixture[str]) -> None:
    assert write_report(full_result(), "json", None) is None
    assert json.loads(capsys.readouterr().out)["schema"] == "nodediag-report"
    assert write_report(full_result(), "md", None) is None
    assert capsys.readouterr().out.startswith("## nodediag: ")


def test_html_without_an_output_is_named_after_the_input(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    written = write_report(full_result(), "html", None)
    assert written == Path("nodediag-prover-1-20261127T183000Z-report.html")
    assert (tmp_path / written).read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert [p.name for p in tmp_path.iterdir()] == [written.name]  # no temporary file left behind


def test_an_output_folder_gets_the_default_name_and_a_file_is_replaced(tmp_path: Path) -> None:
    assert write_report(full_result(), "md", tmp_path) == tmp_path / "nodediag-prover-1-20261127T183000Z-report.md"
    target = tmp_path / "r.json"
    target.write_text("old")
    assert write_report(full_result(), "json", target) == target
    assert json.loads(target.read_text())["schema_version"] == 1


def test_user_errors_are_one_line_report_errors(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match=r"^unknown report format 'pdf': use one of html, json, md$"):
        write_report(full_result(), "pdf", None)
    with pytest.raises(ReportError, match="does not exist") as missing:
        write_report(full_result(), "html", tmp_path / "no-such-folder" / "r.html")
    assert "\n" not in str(missing.value)
    assert isinstance(missing.value, OSError)  # callers catching OSError print strerror, the reason alone
    assert missing.value.strerror == f"folder {tmp_path / 'no-such-folder'} does not exist"
