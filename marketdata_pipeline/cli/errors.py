"""Exit codes of `marketdata` and the exceptions that carry them.

0 ok, 1 unhealthy data (`status`), 2 usage errors (bad arguments, symbols, dates), 3 configuration or
connection errors (settings, PostgreSQL, the Polygon API, the Dagster webserver). Scripts and monitors
branch on these, so they are part of the command line's contract (README, `marketdata --help`).
"""

from __future__ import annotations

import sys

import click

from marketdata_pipeline.settings import ConfigError
from marketdata_pipeline.storage.database import DatabaseUnavailableError
from marketdata_pipeline.symbols import InvalidSymbolError

OK, UNHEALTHY, USAGE, UNAVAILABLE = 0, 1, 2, 3

EXIT_CODES_HELP = """\b
Exit codes:
  0  ok
  1  unhealthy data (status: a symbol x timeframe is Stale or Missing;
     backfill: a partition failed)
  2  usage error: bad arguments, symbols or dates
  3  configuration or connection error: settings, PostgreSQL, the API,
     the Dagster webserver
"""


class CommandError(click.ClickException):
    """A usage error as one clear line on standard error (`error: ...`), exit 2; no usage text, no traceback."""

    exit_code = USAGE

    def show(self, file=None) -> None:  # noqa: ANN001 - click's signature
        click.echo(f"error: {self.format_message()}", file=file or sys.stderr)


class UnavailableError(RuntimeError):
    """A service the command needs (the Dagster webserver, the API) cannot be reached."""


def exit_code_for(exc: BaseException) -> int | None:
    """The exit code of an expected failure, or None for a bug (which keeps its traceback)."""
    # ConfigError is a ValueError: checked before the usage errors.
    if isinstance(exc, ConfigError | DatabaseUnavailableError | UnavailableError):
        return UNAVAILABLE
    if isinstance(exc, InvalidSymbolError):
        return USAGE
    return None
