"""How CLI commands report vfplane errors: one line on stderr and an exit code."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer

from vfplane.errors import ConfigError, VfplaneError

EXIT_CONFIG_ERROR = 2


@contextmanager
def reported_errors(default_code: int = 1) -> Iterator[None]:
    """Turn a VfplaneError into ``error: …`` on stderr and an exit code (2 for config)."""
    try:
        yield
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_CONFIG_ERROR) from exc
    except VfplaneError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(default_code) from exc
