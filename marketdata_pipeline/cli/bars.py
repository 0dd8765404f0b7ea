"""`marketdata bars SYMBOL TIMEFRAME`: stored bars (optionally adjusted) as a table, CSV, JSON or Parquet."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from marketdata_pipeline.storage.adjustment import ADJUST_MODES

FORMATS = ("table", "csv", "json", "parquet")
TABLE_ROWS = 20


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("bars", help="print or export stored bars (see also: marketdata_pipeline.load_bars)")
    parser.add_argument("symbol", help="e.g. AAPL or X:BTCUSD")
    parser.add_argument("timeframe", help="1d, 1h, 4h, 15m or 5m")
    parser.add_argument("--start", help="first session (YYYY-MM-DD, market zone) or instant (ISO, UTC)")
    parser.add_argument("--end", help="last session (inclusive) or instant")
    parser.add_argument("--adjust", choices=ADJUST_MODES, default="none",
                        help="none: as sent by the vendor; splits: split-adjusted; all: splits + dividends (total return)")
    parser.add_argument("--format", choices=FORMATS, default="table", help=f"table shows the last {TABLE_ROWS} rows")
    parser.add_argument("--output", type=Path, help="write to this file instead of standard output")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from marketdata_pipeline.read import freshness_of, read_table, to_frame, write_parquet

    if args.format == "parquet" and args.output is None:
        print("error: --format parquet needs --output FILE", file=sys.stderr)
        return 2
    try:
        table, names, url = read_table(args.symbol, args.timeframe, args.start, args.end, args.adjust)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.format == "parquet":
        write_parquet(table.drop_columns(["symbol"]), args.output)
    else:
        text = render(to_frame(table, many=False), args.format)
        if args.output is not None:
            args.output.write_text(text)
        else:
            sys.stdout.write(text)
    freshness = freshness_of(url, names, args.timeframe)[names[0]]
    if freshness.state.value in ("Stale", "Missing"):
        print(f"warning: {names[0]}|{args.timeframe} is {freshness.state.value} "
              f"(last bar {freshness.last_bar or 'none'})", file=sys.stderr)
    return 0


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
