"""The deployment's configuration: .env and compose files, redacted structure-aware.

    config/<project>/<file>   found through the compose labels (working_dir, config_files,
                              environment_file) or given with --env-file / --compose-file
"""

from __future__ import annotations

from nodediag.collector.discovery import MAX_CONFIG_BYTES, ConfigFile, open_regular
from nodediag.collector.engine import Source, SourceContext, SourceSkipped


def read_config(cf: ConfigFile) -> str:
    """Read a config file: a regular file within the size cap (a FIFO or a device is refused
    without blocking); raise OSError with the reason when it cannot be read."""
    return open_regular(cf.path, MAX_CONFIG_BYTES).decode("utf-8", errors="replace")


def _config(cf: ConfigFile):
    def collect(ctx: SourceContext) -> None:
        try:
            text = read_config(cf)
        except FileNotFoundError as exc:
            raise SourceSkipped(f"{cf.path} does not exist (not readable from this host)") from exc
        except PermissionError as exc:  # it exists but could not be read: a gap in the evidence
            raise RuntimeError(f"{cf.path}: permission denied; run collect as root (or as the file's owner) "
                               "to include it") from exc
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
