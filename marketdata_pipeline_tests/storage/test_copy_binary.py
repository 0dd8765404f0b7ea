"""The binary COPY encoder and the write paths built on it, against a real PostgreSQL; the write-path
benchmark's smoke run (consistency, not timings)."""

import threading
import time

import numpy as np
import pandas as pd
import psycopg
import pytest
import sqlalchemy as sa

from marketdata_pipeline.bench.write_path import measure_write_path
from marketdata_pipeline.storage.bars import load_bars, upsert_bars
from marketdata_pipeline.storage.copy_binary import COPY_COLUMNS, encode_bars
from marketdata_pipeline.storage.database import engine_for

BIG = np.finfo(np.float64).max
TINY = np.finfo(np.float64).smallest_subnormal
INT8_MIN, INT8_MAX = np.iinfo(np.int64).min, np.iinfo(np.int64).max


def _extremes() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "time": pd.to_datetime(
                ["1970-01-01 00:00:00", "1999-12-31 23:59:59.999999", "2000-01-01 00:00:00.000001",
                 "2024-03-10 07:00:00.123456", "2262-04-11 23:47:16.854775"],
                utc=True,
                format="ISO8601",
            ),
            "open": [BIG, -BIG, TINY, -0.0, 1e-300],
            "high": [np.inf, 1.0, 2.0, 3.0, 4.0],
            "low": [-np.inf, 0.1 + 0.2, 1 / 3, 5e-324, 123456789.123456789],
            "close": [0.0, 1.0, 2.0, 3.0, 4.0],
            "volume": [0.0, 1e18, 2.5, 3.0, 4.0],
            "vwap": [np.nan, 1.0, np.nan, 2.0, 3.0],
            "trade_count": pd.arrays.IntegerArray(
                np.array([INT8_MIN, 0, INT8_MAX, 0, 0]), np.array([False, True, False, False, True])
            ),
        }
    )


def _stored(url: str, symbol: str, columns: str) -> list[tuple]:
    with engine_for(url).connect() as conn:
        return conn.execute(
            sa.text(f"select {columns} from market_data where symbol = :s order by time"), {"s": symbol}
        ).all()


def _waiting_on_a_lock(url: str, query_pattern: str) -> bool:
    # A transaction per look: pg_stat_activity is a snapshot frozen for the rest of the reading transaction.
    with engine_for(url).connect() as conn:
        return bool(conn.execute(
            sa.text("select count(*) from pg_stat_activity where wait_event_type = 'Lock' and query like :q"),
            {"q": query_pattern},
        ).scalar())


@pytest.mark.parametrize("prior_rows", [0, 2], ids=["straight-copy", "staging-merge"])
def test_extreme_values_round_trip_exactly(clean_db, prior_rows):
    bars = _extremes()
    if prior_rows:  # the first rows then overlap stored ones and take the ON CONFLICT path
        upsert_bars(clean_db, "X", "1m", bars.head(prior_rows).assign(close=-1.0))
    assert upsert_bars(clean_db, "X", "1m", bars) == len(bars)
    stored = load_bars(clean_db, "X", "1m")
    pd.testing.assert_frame_equal(stored, bars, check_dtype=False)
    assert np.signbit(stored["open"].iloc[3])  # -0.0 stays negative zero
    assert _stored(clean_db, "X", "vwap is null, trade_count is null") == [
        (True, False), (False, True), (True, False), (False, False), (False, True)
    ]


def test_nan_is_a_value_only_where_pandas_says_so(clean_db):
    """Missing in pandas' sense (NaN in float64, NA in nullable arrays) is NULL; a NaN inside a Float64 array
    is a real NaN. NULL in a NOT NULL column is refused, as the old CSV path refused it."""
    bars = _extremes().head(3)
    bars["vwap"] = pd.arrays.FloatingArray(np.array([1.0, np.nan, np.nan]), np.array([False, True, False]))
    upsert_bars(clean_db, "X", "1m", bars)
    assert _stored(clean_db, "X", "vwap is null, vwap = 'NaN'") == [(False, False), (True, None), (False, True)]

    with pytest.raises(psycopg.errors.NotNullViolation):
        upsert_bars(clean_db, "Y", "1m", bars.assign(close=[1.0, np.nan, 2.0]))
    assert _stored(clean_db, "Y", "time") == []


def test_refuses_fractional_trade_counts_instead_of_truncating(clean_db):
    bars = _extremes().head(2).assign(trade_count=[1.0, 2.5])
    with pytest.raises(TypeError):
        upsert_bars(clean_db, "X", "1m", bars)


def test_empty_frame_is_a_valid_copy_stream(clean_db):
    empty = _extremes().head(0)
    assert upsert_bars(clean_db, "X", "1m", empty) == 0
    with engine_for(clean_db).begin() as conn:
        cursor = conn.connection.driver_connection.cursor()
        with cursor.copy(f"copy market_data ({', '.join(COPY_COLUMNS)}) from stdin (format binary)") as copy:
            copy.write(encode_bars("X", "1m", empty))
        assert cursor.rowcount == 0


def test_concurrent_writer_of_the_same_new_rows_falls_back_to_the_merge(clean_db):
    """Both writers see the partition empty; the second's straight COPY waits on the first's uncommitted rows,
    then hits their unique violation and must merge instead of failing."""
    bars = _extremes()
    engine = engine_for(clean_db)
    with engine.connect() as first:
        first.execute(sa.text("insert into market_data (symbol, timeframe, time, open, high, low, close, volume) "
                              "values ('X', '1m', :t, 0, 0, 0, 0, 0)"), {"t": bars["time"].iloc[2].to_pydatetime()})
        result = {}
        writer = threading.Thread(target=lambda: result.setdefault("rows", upsert_bars(clean_db, "X", "1m", bars)))
        writer.start()
        deadline = time.monotonic() + 30
        while not _waiting_on_a_lock(clean_db, "copy market_data%"):
            assert time.monotonic() < deadline, "the second writer never waited on the first"
            time.sleep(0.05)
        first.commit()
        writer.join(30)
    assert result == {"rows": len(bars)}
    pd.testing.assert_frame_equal(load_bars(clean_db, "X", "1m"), bars, check_dtype=False)


def test_write_path_benchmark_smoke(pg_admin_url):
    report = measure_write_path(pg_admin_url, rows=20_000)
    for key in ("rows_per_s", "rewrite_rows_per_s", "raw_copy_rows_per_s", "to_sql_rows_per_s",
                "ratio_vs_raw_copy", "peak_rss_mb", "wall_s"):
        assert report[key] > 0, key
    assert report["rows"] == report["bars_written"] == 20_000
    assert report["raw_copy_rows_in_table"] == report["rows_in_table"] == report["rows_after_rewrite"] == 20_000
    assert report["to_sql_rows_in_table"] == report["to_sql_rows"] == 20_000
    with engine_for(pg_admin_url).connect() as conn:
        assert not conn.execute(sa.text("select datname from pg_database where datname like 'mdp_bench_write_%'")).all()
