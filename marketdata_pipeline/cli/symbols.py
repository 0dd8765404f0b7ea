"""`marketdata symbols add|list|remove`: the symbol universe, kept in step with Dagster's partitions."""

from __future__ import annotations

import click

from marketdata_pipeline.cli.console import print_table
from marketdata_pipeline.defs.automation.sensors import sync_partitions
from marketdata_pipeline.environment import ensure_dagster_home, ensure_database
from marketdata_pipeline.storage.universe import active_symbols, add_symbols, deactivate_symbols, list_symbols

TICKERS_HELP = """\b
Arguments:
  TICKERS  one or more tickers: stocks as listed (AAPL, BRK.B), crypto as
           X:<base><quote> (X:BTCUSD); case does not matter."""


@click.group("symbols")
def command() -> None:
    """Manage the symbol universe (each active symbol is a Dagster partition per timeframe).

    \b
    Examples:
      marketdata symbols add AAPL MSFT X:BTCUSD
      marketdata symbols list
      marketdata symbols remove MSFT
    """


@command.command("add", epilog=TICKERS_HELP)
@click.argument("tickers", nargs=-1, required=True)
def add(tickers: tuple[str, ...]) -> int:
    """Add (or re-activate) tickers; a malformed one rejects the whole batch (exit 2).

    \b
    Example:
      marketdata symbols add AAPL msft X:BTCUSD
    """
    url = ensure_database()
    changed = add_symbols(url, list(tickers))
    print(f"added: {' '.join(changed)}")
    _sync(url)
    return 0


@command.command("remove", epilog=TICKERS_HELP)
@click.argument("tickers", nargs=-1, required=True)
def remove(tickers: tuple[str, ...]) -> int:
    """Deactivate tickers: no more fetches, stored bars are kept.

    \b
    Example:
      marketdata symbols remove MSFT
    """
    url = ensure_database()
    changed = deactivate_symbols(url, list(tickers))
    unknown = sorted({t.strip().upper() for t in tickers} - set(changed))
    print(f"deactivated: {' '.join(changed) or 'none'}" + (f"; unknown: {' '.join(unknown)}" if unknown else ""))
    _sync(url)
    return 0


@command.command("list")
def list_() -> int:
    """Show the universe: symbol, asset class, active or not (a table on a terminal, plain lines in a pipe).

    \b
    Example:
      marketdata symbols list
    """
    rows = list_symbols(ensure_database())
    print_table(
        ["symbol", "asset class", "state"],
        [[r["symbol"], r["asset_class"], "active" if r["active"] else "inactive"] for r in rows],
        [None if r["active"] else "dim" for r in rows],
        header=False,
    )
    return 0


def _sync(url: str) -> None:
    import dagster as dg

    ensure_dagster_home()
    with dg.DagsterInstance.get() as instance:
        added, removed = sync_partitions(instance, active_symbols(url))
    print(f"dagster partitions: +{len(added)} -{len(removed)}")
