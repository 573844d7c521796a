"""Self-contained HTML pages beside the incident report (``nodediag diff``, ``archive trends``):
one Jinja environment with autoescape on, templates from ``report_templates/``, no script and no
network request (a Content-Security-Policy of ``default-src 'none'`` says so to the browser)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined


@lru_cache(maxsize=1)
def _environment() -> Environment:
    return Environment(loader=PackageLoader("nodediag.report_templates", "."), autoescape=True,
                       undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def render_page(template: str, **values: Any) -> str:
    return _environment().get_template(template).render(**values)
