"""What pyproject.toml cannot declare: the package layout and the optional compiled line sieve.

One import package, ``nodediag``, built from four top-level folders: ``nodediag/`` (the shared
core), ``collector/`` -> ``nodediag.collector``, ``analyzer/`` -> ``nodediag.analyzer`` and
``report_templates/`` -> ``nodediag.report_templates``. Subpackages are found, not listed, so a
new folder with an ``__init__.py`` ships without a second edit.

The sieve: ``optional=True``, so where no C compiler is at hand the install still succeeds and the
analyzer uses the same sieve written in Python (analyzer/parsing/skipping.py), only slower.
"""

from setuptools import Extension, find_packages, setup

ROOTS = {
    "nodediag": "nodediag",
    "nodediag.collector": "collector",
    "nodediag.analyzer": "analyzer",
    "nodediag.report_templates": "report_templates",
}


def packages() -> list[str]:
    found = []
    for name, folder in ROOTS.items():
        found.append(name)
        found.extend(f"{name}.{sub}" for sub in find_packages(folder))
    return sorted(set(found))


setup(
    package_dir=ROOTS,
    packages=packages(),
    ext_modules=[Extension("nodediag.analyzer.parsing._sieve", ["analyzer/parsing/_sieve.c"], optional=True)],
)
