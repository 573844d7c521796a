"""Run mypy over the installed layout: ``python tests/typecheck.py [mypy args]``.

mypy cannot follow setuptools' package-dir mapping (collector/ -> nodediag.collector, ...), so
this builds the package as it is installed, ``nodediag/`` with ``collector``, ``analyzer`` and
``report_templates`` inside, out of symbolic links in a temporary folder, and checks
``-p nodediag`` there with the settings of pyproject.toml's ``[tool.mypy]``. Paths in its output
are given relative to the checkout. Exit status: mypy's.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MAPPED = {"collector": "collector", "analyzer": "analyzer", "report_templates": "report_templates"}


def build_tree(dest: Path) -> Path:
    package = dest / "nodediag"
    package.mkdir()
    for entry in (REPO / "nodediag").iterdir():
        if entry.name != "__pycache__":
            (package / entry.name).symlink_to(entry)
    for name, folder in MAPPED.items():
        (package / name).symlink_to(REPO / folder)
    return package


def run(args: list[str]) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory(prefix="nodediag-mypy-") as tmp:
        build_tree(Path(tmp))
        done = subprocess.run([sys.executable, "-m", "mypy", "--config-file", str(REPO / "pyproject.toml"),
                               "--cache-dir", str(Path(tmp) / ".cache"), "-p", "nodediag", *args],
                              cwd=tmp, capture_output=True, text=True)
    out = done.stdout
    for name, folder in MAPPED.items():
        out = out.replace(f"nodediag/{name}/", f"{folder}/")
    return subprocess.CompletedProcess(done.args, done.returncode, out, done.stderr)


if __name__ == "__main__":
    result = run(sys.argv[1:])
    sys.stdout.write(result.stdout)
    sys.stderr.write(result.stderr)
    raise SystemExit(result.returncode)
