"""`marketdata` command line."""

from __future__ import annotations

import argparse
import logging
import sys

from marketdata_pipeline.cli import bars, bench, db_url, faults, run, sandbox, serve, status, symbols
from marketdata_pipeline.settings import ConfigError
from marketdata_pipeline.storage.database import DatabaseUnavailableError
from marketdata_pipeline.symbols import InvalidSymbolError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="marketdata", description="marketdata-pipeline commands")
    sub = parser.add_subparsers(dest="command", required=True)
    for module in (run, serve, sandbox, symbols, status, bars, db_url, bench, faults):
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    # Commands print their own output; libraries' INFO chatter (pgserver, alembic's migrations of the
    # Dagster instance) is not for the user, their warnings and errors are.
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (InvalidSymbolError, ConfigError, DatabaseUnavailableError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
