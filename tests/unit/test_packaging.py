"""A plain (non-editable) `pip install .` and a wheel both give a working `nodediag` that ships its
report templates and rule files, as ONE import package: run from outside the checkout, so nothing is
found by accident. Everything is built from a temporary copy of the sources, so the checkout is left
exactly as it was (no build/, no *.egg-info)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path, PurePosixPath

import pytest

REPO = Path(__file__).resolve().parents[2]
LOG = REPO / "tests" / "fixtures" / "rules" / "proof-failed.log"


def make_venv(folder: Path) -> Path:
    venv.EnvBuilder(system_site_packages=True, with_pip=False).create(folder)
    return folder / "bin"


def pip(python: Path, *args: str) -> None:
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--disable-pip-version-check", *args], check=True, capture_output=True, timeout=300)


def source_copy(dest: Path) -> Path:
    """The files git tracks (a clean clone's content), copied to ``dest``."""
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
    for name in filter(None, tracked.decode().split("\0")):
        source = REPO / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    return dest


def check_installed(bin_dir: Path, workdir: Path) -> None:
    version = subprocess.run([str(bin_dir / "nodediag"), "--version"], capture_output=True, text=True,
                             cwd=workdir, check=True)
    assert version.stdout.startswith("nodediag, version ")
    module = subprocess.run([str(bin_dir / "python"), "-m", "nodediag", "--version"], capture_output=True,
                            text=True, cwd=workdir, check=True)
    assert module.stdout == version.stdout
    report = workdir / "r.html"
    run = subprocess.run([str(bin_dir / "nodediag"), "analyze", str(LOG), "-o", str(report)],
                         capture_output=True, text=True, cwd=workdir, timeout=120)
    assert run.returncode == 0, run.stderr
    html = report.read_text()
    assert "<html" in html and "Marking proving job as failed" in html  # templates + rules shipped
    where = subprocess.run([str(bin_dir / "python"), "-c", "import nodediag.analyzer, nodediag.report_templates as t; "
                            "print(nodediag.analyzer.__file__, t.__file__)"],
                           capture_output=True, text=True, cwd=workdir, check=True).stdout
    assert str(REPO) not in where, "the installed copy must be used, not the checkout"


def git_status() -> str:
    return subprocess.run(["git", "status", "--porcelain", "--ignored", "--untracked-files=all", "--", "build",
                           "nodediag.egg-info", "dist"], cwd=REPO, capture_output=True, text=True).stdout


@pytest.mark.skipif(shutil.which("git") is None or not (REPO / ".git").exists(), reason="needs the git checkout")
@pytest.mark.parametrize("how", ["pip-install-dot", "wheel"])
def test_installs_and_runs_from_outside_the_checkout(tmp_path, how):
    before = git_status()
    source = source_copy(tmp_path / "src")
    bin_dir = make_venv(tmp_path / "venv")
    python = bin_dir / "python"
    if how == "wheel":
        wheels = tmp_path / "wheels"
        subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                        "-w", str(wheels), str(source)], check=True, capture_output=True, timeout=300)
        (wheel,) = wheels.glob("nodediag-*.whl")
        with zipfile.ZipFile(wheel) as archive:
            tops = {PurePosixPath(name).parts[0] for name in archive.namelist()}
            names = archive.namelist()
        assert {top for top in tops if not top.endswith(".dist-info")} == {"nodediag"}, tops
        for shipped in ("nodediag/analyzer/rules/proving.yaml", "nodediag/report_templates/report.html",
                        "nodediag/redaction/bip39-english.txt"):
            assert shipped in names
        assert not [n for n in names if n.endswith(".c")], "the sieve's C source stays in the sdist"
        pip(python, str(wheel))
    else:
        pip(python, str(source))
    work = tmp_path / "elsewhere"
    work.mkdir()
    check_installed(bin_dir, work)
    assert git_status() == before, "building must leave the checkout as it was"
