"""`marketdata symbols add|list|remove`."""

from __future__ import annotations

import argparse

from marketdata_pipeline.defs.automation.sensors import sync_partitions
from marketdata_pipeline.environment import ensure_dagster_home, ensure_database
from marketdata_pipeline.storage.universe import active_symbols, add_symbols, deactivate_symbols, list_symbols


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("symbols", help="manage the symbol universe")
    actions = parser.add_subparsers(dest="action", required=True)
    add = actions.add_parser("add", help="add (or re-activate) tickers, e.g. AAPL MSFT X:BTCUSD")
    add.add_argument("tickers", nargs="+")
    remove = actions.add_parser("remove", help="deactivate tickers (stored bars are kept)")
    remove.add_argument("tickers", nargs="+")
    actions.add_parser("list", help="show the universe")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    url = ensure_database()
    if args.action == "list":
        for row in list_symbols(url):
            print(f"{row['symbol']:<12} {row['asset_class']:<7} {'active' if row['active'] else 'inactive'}")
        return 0
    if args.action == "add":
        changed = add_symbols(url, args.tickers)
        print(f"added: {' '.join(changed)}")
    else:
        changed = deactivate_symbols(url, args.tickers)
        unknown = sorted({t.strip().upper() for t in args.tickers} - set(changed))
        print(f"deactivated: {' '.join(changed) or 'none'}" + (f"; unknown: {' '.join(unknown)}" if unknown else ""))
    _sync(url)
    return 0


def _sync(url: str) -> None:
    import dagster as dg

    ensure_dagster_home()
    with dg.DagsterInstance.get() as instance:
        added, removed = sync_partitions(instance, active_symbols(url))
    print(f"dagster partitions: +{len(added)} -{len(removed)}")
