"""`marketdata bars SYMBOL TIMEFRAME`: stored bars (optionally adjusted) as a table, CSV, JSON or Parquet."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import click

from marketdata_pipeline.cli.console import on_terminal, stdout
from marketdata_pipeline.cli.errors import CommandError
from marketdata_pipeline.storage.adjustment import ADJUST_MODES

FORMATS = ("table", "csv", "json", "parquet")
TABLE_ROWS = 20


@click.command("bars", epilog="""\b
Arguments:
  SYMBOL     a stored symbol, e.g. AAPL or X:BTCUSD
  TIMEFRAME  1d, 4h, 1h, 15m or 5m""")
@click.argument("symbol")
@click.argument("timeframe")
@click.option("--start", metavar="DATE|INSTANT",
              help="First session (YYYY-MM-DD, market zone) or instant (ISO, UTC). Example: --start 2024-06-01")
@click.option("--end", metavar="DATE|INSTANT",
              help="Last session (inclusive) or instant. Example: --end 2024-06-30T20:00:00Z")
@click.option("--adjust", type=click.Choice(ADJUST_MODES), default="none", show_default=True,
              help="none: as sent by the vendor; splits: split-adjusted; all: splits + dividends (total return). "
                   "Example: --adjust splits")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True,
              help=f"table shows the last {TABLE_ROWS} rows; parquet needs --output. Example: --format csv")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write to this file instead of standard output. Example: --output aapl.parquet")
def command(symbol: str, timeframe: str, start: str | None, end: str | None, adjust: str, fmt: str,
            output: Path | None) -> int:
    """Print or export stored bars (from Python: marketdata_pipeline.load_bars).

    Warns on standard error when the series is Stale or Missing.

    \b
    Examples:
      marketdata bars AAPL 1d
      marketdata bars AAPL 1d --start 2024-01-01 --adjust all --format csv > aapl.csv
      marketdata bars X:BTCUSD 1h --format parquet --output btc.parquet
    """
    from marketdata_pipeline.read import freshness_of, read_table, to_frame, write_parquet

    if fmt == "parquet" and output is None:
        raise CommandError("--format parquet needs --output FILE")
    try:
        table, names, url = read_table(symbol, timeframe, start, end, adjust)
    except ValueError as exc:  # unknown symbol or timeframe, bad dates: a usage error (exit 2)
        raise CommandError(str(exc)) from None
    if fmt == "parquet":
        write_parquet(table.drop_columns(["symbol"]), output)
    elif fmt == "table" and output is None and on_terminal():
        _print_rich(to_frame(table, many=False), f"{names[0]} {timeframe} ({adjust} adjustment)")
    else:
        text = render(to_frame(table, many=False), fmt)
        if output is not None:
            output.write_text(text)
        else:
            sys.stdout.write(text)
    freshness = freshness_of(url, names, timeframe)[names[0]]
    if freshness.state.value in ("Stale", "Missing"):
        print(f"warning: {names[0]}|{timeframe} is {freshness.state.value} "
              f"(last bar {freshness.last_bar or 'none'})", file=sys.stderr)
    return 0


def _print_rich(frame, title: str) -> None:
    """The last rows as a coloured table: closes above the open in green, below in red."""
    from rich.table import Table

    if frame.empty:
        stdout().print("no bars")
        return
    shown = frame.tail(TABLE_ROWS)
    caption = f"{len(frame) - len(shown)} earlier rows not shown" if len(frame) > len(shown) else None
    table = Table(title=title, caption=caption, header_style="bold cyan")
    table.add_column("time")
    for name in shown.columns:
        table.add_column(name, justify="right")
    for time, row in zip(shown.index, shown.itertuples(index=False), strict=True):
        style = "green" if row.close >= row.open else "red"
        table.add_row(time.strftime("%Y-%m-%d %H:%M"), *(_number(v) for v in row), style=style)
    stdout().print(table)


def _number(value) -> str:
    if value is None or str(value) == "<NA>" or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:,.4f}".rstrip("0").rstrip(".") if isinstance(value, float) else f"{value:,}"


def render(frame, fmt: str) -> str:
    if fmt == "table":
        if frame.empty:
            return "no bars\n"
        shown = frame.tail(TABLE_ROWS)
        more = f"... {len(frame) - len(shown)} earlier rows not shown\n" if len(frame) > len(shown) else ""
        return more + shown.to_string() + "\n"
    if fmt == "csv":
        return frame.reset_index().to_csv(index=False, date_format="%Y-%m-%dT%H:%M:%SZ")
    records = []
    for time, row in zip(frame.index, frame.itertuples(index=False), strict=True):
        record = {"time": time.strftime("%Y-%m-%dT%H:%M:%SZ")}
        for name, value in zip(frame.columns, row, strict=True):
            missing = value is None or (isinstance(value, float) and math.isnan(value)) or str(value) == "<NA>"
            record[name] = None if missing else (int(value) if name == "trade_count" else float(value))
        records.append(record)
    return json.dumps(records) + "\n"
