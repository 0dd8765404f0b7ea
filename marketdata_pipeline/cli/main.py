"""`marketdata` command line (click + rich): one module per command, each exporting a click `command`."""

from __future__ import annotations

import logging
import sys

import click

from marketdata_pipeline.cli import backfill, bars, bench, db_url, faults, plan, run, sandbox, serve, status, symbols
from marketdata_pipeline.cli.errors import EXIT_CODES_HELP, exit_code_for

COMMANDS = (run, serve, sandbox, symbols, backfill, plan, status, bars, db_url, bench, faults)


@click.group(
    epilog=EXIT_CODES_HELP + "\n\b\nShell completion (bash; zsh and fish alike):\n"
    '  eval "$(_MARKETDATA_COMPLETE=bash_source marketdata)"',
    context_settings={"max_content_width": 100},
)
@click.version_option(package_name="marketdata-pipeline", prog_name="marketdata",
                      message="%(prog)s %(version)s")
def cli() -> None:
    """Keep a PostgreSQL database of OHLCV market data complete, correct and fresh (Dagster).

    \b
    Examples:
      marketdata run                      # everything + the Dagster UI on http://127.0.0.1:3000
      marketdata symbols add AAPL X:BTCUSD
      marketdata backfill AAPL --timeframes 1d
      marketdata status                   # exit 1 if anything is Stale or Missing
      marketdata bars AAPL 1d --format csv
    """


for _module in COMMANDS:
    cli.add_command(_module.command)


def main(argv: list[str] | None = None) -> int:
    # Commands print their own output; libraries' INFO chatter (pgserver, alembic's migrations of the
    # Dagster instance) is not for the user, their warnings and errors are.
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        # standalone_mode=False: the exit code is ours to return (tests call main() in process).
        result = cli.main(args=argv, prog_name="marketdata", standalone_mode=False)
    except click.ClickException as exc:  # usage errors (exit 2) and CommandError
        exc.show()
        return exc.exit_code
    except click.Abort:
        click.echo("aborted", err=True)
        return 130
    except Exception as exc:
        code = exit_code_for(exc)
        if code is None:
            raise
        click.echo(f"error: {exc}", err=True)
        return code
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    sys.exit(main())
