"""Write-path benchmark (issue 5, item 4): our upsert against its physical floor (a raw binary COPY into an
empty table) and against the naive baseline (`pandas.DataFrame.to_sql`), measured in one run on a scratch
database that is dropped afterwards."""

from __future__ import annotations

import resource
import time

import numpy as np
import pandas as pd
import sqlalchemy as sa

from marketdata_pipeline.bench.scratch import scratch_database
from marketdata_pipeline.storage.bars import upsert_bars
from marketdata_pipeline.storage.copy_binary import COPY_COLUMNS, encode_bars
from marketdata_pipeline.storage.database import engine_for, raw_cursor
from marketdata_pipeline.storage.schema import create_schema

TIMEFRAME = "5m"
SYMBOLS = 25
TO_SQL_ROWS = 100_000  # to_sql runs at a few thousand rows/s: a million rows would dominate the whole benchmark


def _partition(rows: int, seed: int) -> pd.DataFrame:
    """`rows` consecutive 5-minute bars shaped like the API's, with the odd missing vwap / trade count."""
    rng = np.random.default_rng(seed)
    close = 100 + rng.normal(0, 0.2, rows).cumsum()
    spread = rng.uniform(0, 0.5, rows)
    return pd.DataFrame(
        {
            "time": pd.date_range("2023-01-02 14:30", periods=rows, freq="5min", tz="UTC"),
            "open": close + rng.normal(0, 0.1, rows),
            "high": close + spread,
            "low": close - spread,
            "close": close,
            "volume": rng.integers(100, 1_000_000, rows).astype("float64"),
            "vwap": np.where(rng.random(rows) < 0.001, np.nan, close),
            "trade_count": pd.Series(rng.integers(1, 10_000, rows), dtype="Int64").where(rng.random(rows) >= 0.001),
        }
    )


def _partitions(rows: int) -> list[tuple[str, pd.DataFrame]]:
    sizes = [rows // SYMBOLS + (i < rows % SYMBOLS) for i in range(SYMBOLS)]
    return [(f"SYM{i:02d}", _partition(size, seed=i)) for i, size in enumerate(sizes) if size]


def _checkpoint(url: str) -> None:
    """Start each phase with no dirty buffers, so none pays for the previous one's writes; needs superuser or
    pg_checkpoint, without which the phases are measured as they come."""
    try:
        with engine_for(url).connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("checkpoint"))
    except sa.exc.ProgrammingError:
        pass


def _timed(url: str, work) -> tuple[float, object]:
    _checkpoint(url)
    started = time.perf_counter()
    result = work()
    return time.perf_counter() - started, result


def _raw_copy(url: str, partitions: list[tuple[str, pd.DataFrame]]) -> float:
    """Seconds to COPY the pre-encoded rows into an empty table shaped like market_data, primary key included,
    in one transaction: the server's floor, with none of our client-side work in it."""
    payloads = [encode_bars(symbol, TIMEFRAME, bars) for symbol, bars in partitions]
    with engine_for(url).begin() as conn:
        conn.execute(sa.text("create table raw_copy (like market_data including all)"))

    def copy_all() -> None:
        with engine_for(url).begin() as conn:
            cursor = raw_cursor(conn)
            for payload in payloads:
                with cursor.copy(f"copy raw_copy ({', '.join(COPY_COLUMNS)}) from stdin (format binary)") as copy:
                    copy.write(payload)

    return _timed(url, copy_all)[0]


def _upsert_all(url: str, partitions: list[tuple[str, pd.DataFrame]]) -> int:
    return sum(upsert_bars(url, symbol, TIMEFRAME, bars) for symbol, bars in partitions)


def _to_sql(url: str, partitions: list[tuple[str, pd.DataFrame]], rows: int) -> float:
    frame = pd.concat(
        [bars.assign(symbol=symbol, timeframe=TIMEFRAME, source="api") for symbol, bars in partitions], ignore_index=True
    ).head(rows)[COPY_COLUMNS]
    return _timed(
        url, lambda: frame.to_sql("market_data", engine_for(url), if_exists="append", index=False, chunksize=10_000)
    )[0]


def _count(url: str, table: str) -> int:
    with engine_for(url).connect() as conn:
        return conn.execute(sa.text(f"select count(*) from {table}")).scalar()


def measure_write_path(admin_or_db_url: str, rows: int = 1_000_000) -> dict:
    """Rows/s of (a) a raw binary COPY, (b) `upsert_bars` into an empty market_data, (c) the same upsert again
    over the stored rows, (d) `to_sql` on at most TO_SQL_ROWS rows; all in a scratch database on the server of
    `admin_or_db_url` (which needs CREATEDB)."""
    started = time.perf_counter()
    with scratch_database(admin_or_db_url, "mdp_bench_write") as url:
        create_schema(url)
        partitions = _partitions(rows)
        raw_s = _raw_copy(url, partitions)
        raw_copy_rows_in_table = _count(url, "raw_copy")
        upsert_s, bars_written = _timed(url, lambda: _upsert_all(url, partitions))
        rows_in_table = _count(url, "market_data")
        rewrite_s, _ = _timed(url, lambda: _upsert_all(url, partitions))
        rows_after_rewrite = _count(url, "market_data")
        with engine_for(url).begin() as conn:
            conn.execute(sa.text("truncate market_data"))
        to_sql_rows = min(rows, TO_SQL_ROWS)
        to_sql_s = _to_sql(url, partitions, to_sql_rows)
        to_sql_rows_in_table = _count(url, "market_data")
    report = {
        "rows": rows,
        "partitions": len(partitions),
        "wall_s": round(time.perf_counter() - started, 3),
        "bars_written": bars_written,
        "rows_per_s": round(rows / upsert_s),
        "rewrite_rows_per_s": round(rows / rewrite_s),
        "raw_copy_rows_per_s": round(rows / raw_s),
        "to_sql_rows": to_sql_rows,
        "to_sql_rows_per_s": round(to_sql_rows / to_sql_s),
        "raw_copy_rows_in_table": raw_copy_rows_in_table,
        "rows_in_table": rows_in_table,
        "rows_after_rewrite": rows_after_rewrite,
        "to_sql_rows_in_table": to_sql_rows_in_table,
        # ru_maxrss is the true high-water mark (KiB on Linux); sampling RSS with psutil would miss short peaks.
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }
    rate = float(report["rows_per_s"])  # type: ignore[arg-type]
    report["ratio_vs_raw_copy"] = round(rate / float(report["raw_copy_rows_per_s"]), 3)  # type: ignore[arg-type]
    report["ratio_vs_to_sql"] = round(rate / float(report["to_sql_rows_per_s"]), 1)  # type: ignore[arg-type]
    return report
