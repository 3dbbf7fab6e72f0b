"""``--log-format``: the one option the long-running commands share."""

from __future__ import annotations

import typer

from vfplane.logs import LogFormat

__all__ = ["LOG_FORMAT_OPTION", "LogFormat"]

LOG_FORMAT_OPTION = typer.Option(
    None,
    "--log-format",
    help="text, or json: one object per line (overrides the format of the logging settings).",
)
