"""A plain (non-editable) `pip install .` and a wheel both give a working `nodediag` that ships its
report templates and rule files: run from outside the checkout, so nothing is found by accident."""

from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LOG = REPO / "tests" / "fixtures" / "rules" / "proof-failed.log"


def make_venv(folder: Path) -> Path:
    venv.EnvBuilder(system_site_packages=True, with_pip=False).create(folder)
    return folder / "bin"


def pip(python: Path, *args: str) -> None:
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--disable-pip-version-check", *args], check=True, capture_output=True, timeout=300)


def check_installed(bin_dir: Path, workdir: Path) -> None:
    version = subprocess.run([str(bin_dir / "nodediag"), "--version"], capture_output=True, text=True,
                             cwd=workdir, check=True)
    assert version.stdout.startswith("nodediag, version ")
    report = workdir / "r.html"
    run = subprocess.run([str(bin_dir / "nodediag"), "analyze", str(LOG), "-o", str(report)],
                         capture_output=True, text=True, cwd=workdir, timeout=120)
    assert run.returncode == 0, run.stderr
    html = report.read_text()
    assert "<html" in html and "Marking proving job as failed" in html  # templates + rules shipped
    where = subprocess.run([str(bin_dir / "python"), "-c", "import analyzer, report_templates; "
                            "print(analyzer.__file__, report_templates.__file__)"],
                           capture_output=True, text=True, cwd=workdir, check=True).stdout
    assert str(REPO) not in where, "the installed copy must be used, not the checkout"


@pytest.mark.parametrize("how", ["pip-install-dot", "wheel"])
def test_installs_and_runs_from_outside_the_checkout(tmp_path, how):
    bin_dir = make_venv(tmp_path / "venv")
    python = bin_dir / "python"
    if how == "wheel":
        wheels = tmp_path / "wheels"
        subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                        "-w", str(wheels), str(REPO)], check=True, capture_output=True, timeout=300)
        (wheel,) = wheels.glob("nodediag-*.whl")
        pip(python, str(wheel))
    else:
        pip(python, str(REPO))
    work = tmp_path / "elsewhere"
    work.mkdir()
    check_installed(bin_dir, work)
