"""The bulk upsert against a real PostgreSQL: exact rows, idempotent, corrections applied."""

import numpy as np
import pandas as pd
import sqlalchemy as sa

from marketdata_pipeline.storage.bars import last_bar_times, load_bars, upsert_bars
from marketdata_pipeline.storage.database import engine_for


def _bars(n: int, start="2024-01-02 14:30", price=100.0) -> pd.DataFrame:
    rng = np.random.default_rng(n)
    close = price + rng.normal(0, 1, n).cumsum()
    return pd.DataFrame(
        {
            "time": pd.date_range(start, periods=n, freq="5min", tz="UTC"),
            "open": close + 0.1,
            "high": close + 1,
            "low": close - 1,
            "close": close,
            "volume": rng.integers(1, 1000, n).astype(float),
            "vwap": np.where(np.arange(n) % 7 == 0, np.nan, close),
            "trade_count": pd.array(np.where(np.arange(n) % 5 == 0, None, np.arange(n)), dtype="Int64"),
        }
    )


def _count(url, symbol, tf) -> int:
    with engine_for(url).connect() as conn:
        return conn.execute(
            sa.text("select count(*) from market_data where symbol=:s and timeframe=:t"), {"s": symbol, "t": tf}
        ).scalar()


def test_upsert_round_trips_exactly(clean_db):
    bars = _bars(500)
    assert upsert_bars(clean_db, "AAPL", "5m", bars) == 500
    stored = load_bars(clean_db, "AAPL", "5m")
    pd.testing.assert_frame_equal(stored, bars, check_dtype=False)
    assert last_bar_times(clean_db, [("AAPL", "5m"), ("MSFT", "5m")]) == {("AAPL", "5m"): bars["time"].iloc[-1]}


def test_upsert_is_idempotent_and_applies_corrections(clean_db):
    bars = _bars(300)
    upsert_bars(clean_db, "AAPL", "5m", bars)
    upsert_bars(clean_db, "AAPL", "5m", bars)
    assert _count(clean_db, "AAPL", "5m") == 300

    revised = bars.tail(10).copy()
    revised["close"] += 5
    upsert_bars(clean_db, "AAPL", "5m", revised)
    stored = load_bars(clean_db, "AAPL", "5m")
    assert len(stored) == 300
    assert (stored["close"].tail(10).to_numpy() == revised["close"].to_numpy()).all()
    # Other partitions are untouched by this one's writes.
    assert _count(clean_db, "AAPL", "1d") == 0
