"""Fixtures for the headless-Chromium report tests (marker ``browser``)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))  # the hand-built AnalysisResults

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="module")
def chromium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    if not os.access(CHROMIUM, os.X_OK):
        message = "Debian's chromium is not installed: run `bash .ci/setup` (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(message, pytrace=False)  # CI installs it: a skip there would hide the report tests
        pytest.skip(message)
    pytest.importorskip("websocket", reason="websocket-client is not installed (test dependency)")
    from cdp import Chromium

    browser = Chromium(tmp_path_factory.mktemp("chromium-profile"))
    try:
        yield browser
    finally:
        browser.close()
