"""Read-path benchmark: export 1,000,000 stored bars to Parquet, and `load_bars` of one year of
5m bars (~60,000 rows), unadjusted and adjusted on read, on a scratch database dropped afterwards.

Targets on the 2-core reference machine: parquet_s < 3 s, load_bars_s < 0.5 s.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from marketdata_pipeline.bench.scratch import scratch_database
from marketdata_pipeline.bench.write_path import _partition
from marketdata_pipeline.read import load_bars, read_table, write_parquet
from marketdata_pipeline.storage.bars import upsert_bars
from marketdata_pipeline.storage.database import engine_for
from marketdata_pipeline.storage.schema import create_schema

SYMBOL, TIMEFRAME = "BENCH", "5m"
YEAR_ROWS = 60_000  # one year of 5m stock bars, extended hours included: ~252 sessions × ~240 bars
REPEATS = 3


def _median_s(work) -> float:
    work()  # warm-up: the market calendar, connections, the first plan
    times = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return round(statistics.median(times), 3)


def measure_read_path(admin_or_db_url: str, rows: int = 1_000_000) -> dict:
    with scratch_database(admin_or_db_url, "mdp_bench_read") as url:
        create_schema(url)
        bars = _partition(rows, seed=9)
        upsert_bars(url, SYMBOL, TIMEFRAME, bars)
        # A split and quarterly dividends, so the adjusted reads do real work.
        with engine_for(url).begin() as conn:
            conn.execute(sa.text("insert into splits values (:s, '2024-06-10', 1, 4, null, now())"), {"s": SYMBOL})
            conn.execute(sa.text(
                "insert into dividends (symbol, ex_dividend_date, dividend_type, cash_amount, fetched_at) "
                "select :s, d::date, 'CD', 0.25, now() from generate_series('2023-02-10'::date, '2032-11-10', '3 months') d"
            ), {"s": SYMBOL})
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "bars.parquet"

            def export() -> None:
                table, _, _ = read_table(SYMBOL, TIMEFRAME, database_url=url)
                assert table.num_rows == rows
                write_parquet(table.drop_columns(["symbol"]), out)

            parquet_s = _median_s(export)
            parquet_mb = round(out.stat().st_size / 1e6, 1)
        first = bars["time"].iloc[0]
        year = (first, bars["time"].iloc[min(YEAR_ROWS, rows) - 1])  # the quick plan stores fewer
        loaded: dict[str, pd.DataFrame] = {}

        def load(adjust: str):
            return lambda: loaded.__setitem__(adjust, load_bars(SYMBOL, TIMEFRAME, year[0], year[1], adjust, url))

        figures = {f"load_bars_{a}_s": _median_s(load(a)) for a in ("none", "splits", "all")}
        return {
            "rows": rows,
            "parquet_s": parquet_s,
            "parquet_mb": parquet_mb,
            "load_bars_rows": len(loaded["none"]),
            "load_bars_s": figures["load_bars_none_s"],
            **figures,
            "repeats": f"median of {REPEATS} after a warm-up",
        }
