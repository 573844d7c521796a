"""The deployment's configuration: .env and compose files, redacted structure-aware.

    config/<project>/<file>   found through the compose labels (working_dir, config_files,
                              environment_file) or given with --env-file / --compose-file
"""

from __future__ import annotations

from nodediag.collector.discovery import ConfigFile
from nodediag.collector.engine import Source, SourceContext, SourceSkipped

MAX_CONFIG_BYTES = 2 * 1024 * 1024


def read_config(cf: ConfigFile) -> str:
    """Read a config file (bounded); raise OSError with the reason when it cannot be read."""
    with cf.path.open("rb") as fh:
        data = fh.read(MAX_CONFIG_BYTES + 1)
    if len(data) > MAX_CONFIG_BYTES:
        raise OSError(f"larger than {MAX_CONFIG_BYTES} bytes")
    return data.decode("utf-8", errors="replace")


def _config(cf: ConfigFile):
    def collect(ctx: SourceContext) -> None:
        try:
            text = read_config(cf)
        except FileNotFoundError as exc:
            raise SourceSkipped(f"{cf.path} does not exist (not readable from this host)") from exc
        except OSError as exc:
            raise SourceSkipped(f"{cf.path}: {exc.strerror or exc}") from exc
        ctx.write_text(cf.bundle_path, text, kind=cf.kind)

    return collect


FAMILIES = ("config",)


def sources(plan) -> list[Source]:
    return [Source(f"config:{cf.path}", _config(cf), timeout=10, writes=(cf.bundle_path,), estimate=_estimate(cf))
            for cf in plan.configs]


def _estimate(cf: ConfigFile):
    def estimate() -> tuple[int | None, str]:
        try:
            return cf.path.stat().st_size, f"-> {cf.bundle_path}"
        except OSError as exc:
            return None, f"not readable: {exc.strerror}"

    return estimate
