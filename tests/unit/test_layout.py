"""The layering the design promises, read from every import statement (top-level and lazy ones
inside functions alike): the analyzer runs without the collector, Docker or psutil; the collector
never reaches into the analyzer; the shared core imports neither side; only ``nodediag.cli`` wires
them together."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LAYERS = {  # folder -> the module prefix it is installed as
    "nodediag": "nodediag",
    "collector": "nodediag.collector",
    "analyzer": "nodediag.analyzer",
    "report_templates": "nodediag.report_templates",
}


def module_name(path: Path) -> str:
    rel = path.relative_to(REPO)
    parts = list(rel.with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join([LAYERS.get(parts[0], parts[0]), *parts[1:]])


def imports_of(path: Path) -> set[str]:
    """Every absolute module name ``path`` imports (relative imports resolved)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module_name(path).rsplit(".", 0 if path.name == "__init__.py" else 1)[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def modules(folder: str) -> list[Path]:
    return sorted(p for p in (REPO / folder).rglob("*.py") if "__pycache__" not in p.parts)


def offenders(folder: str, forbidden: tuple[str, ...], skip: tuple[str, ...] = ()) -> list[str]:
    bad = []
    for path in modules(folder):
        name = module_name(path)
        if any(name == s or name.startswith(s + ".") for s in skip):
            continue
        for imported in sorted(imports_of(path)):
            if any(imported == f or imported.startswith(f + ".") for f in forbidden):
                bad.append(f"{path.relative_to(REPO)} imports {imported}")
    return bad


def test_the_analyzer_imports_neither_the_collector_nor_docker_nor_psutil():
    assert offenders("analyzer", ("nodediag.collector", "collector", "docker", "psutil")) == []


def test_the_collector_never_imports_the_analyzer():
    assert offenders("collector", ("nodediag.analyzer", "analyzer")) == []


def test_the_core_imports_neither_side_and_only_the_cli_wires_them():
    assert offenders("nodediag", ("nodediag.analyzer", "nodediag.collector", "docker", "psutil"),
                     skip=("nodediag.cli",)) == []


def test_nothing_imports_the_old_top_level_names():
    """collector, analyzer and report_templates are folders, not import packages."""
    old = ("collector", "analyzer", "report_templates")
    bad = [line for folder in ("nodediag", "collector", "analyzer", "tests", "benchmarks")
           for line in offenders(folder, old)]
    assert bad == []


@pytest.mark.parametrize("folder", sorted(LAYERS))
def test_every_package_folder_has_an_init(folder):
    """setup.py finds subpackages by their __init__.py: a folder of modules without one would not ship."""
    missing = [str(p.parent.relative_to(REPO)) for p in modules(folder) if not (p.parent / "__init__.py").exists()]
    assert missing == []
