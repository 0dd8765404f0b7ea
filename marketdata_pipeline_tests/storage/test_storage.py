"""The bulk upsert against a real PostgreSQL: exact rows, idempotent, corrections applied, writers serialised."""

import threading
import time

import numpy as np
import pandas as pd
import sqlalchemy as sa

from marketdata_pipeline.storage.bars import last_bar_times, load_bars, partition_lock_key, upsert_bars
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


def test_a_write_deletes_stored_bars_its_window_no_longer_has(clean_db):
    bars = _bars(100)
    upsert_bars(clean_db, "AAPL", "5m", bars)
    # The vendor dropped two bars inside the re-fetched window [bar 80, end]; bar 10 lies outside the window.
    window = (bars["time"].iloc[80].to_pydatetime(), bars["time"].iloc[-1].to_pydatetime() + pd.Timedelta(days=1))
    answer = bars.iloc[80:].drop(index=[85, 99])
    upsert_bars(clean_db, "AAPL", "5m", answer, window=window)
    pd.testing.assert_frame_equal(
        load_bars(clean_db, "AAPL", "5m"), bars.drop(index=[85, 99]).reset_index(drop=True), check_dtype=False
    )


def _waiting_on_the_partition_lock(url) -> int:
    with engine_for(url).connect() as conn:
        return conn.execute(sa.text(
            "select count(*) from pg_stat_activity "
            "where datname = current_database() and wait_event_type = 'Lock' and wait_event = 'advisory'"
        )).scalar()


def test_writers_of_a_partition_take_turns_and_an_older_fetch_never_overwrites_a_newer_one(clean_db):
    t0 = pd.Timestamp("2024-06-06 06:00", tz="UTC").to_pydatetime()
    upsert_bars(clean_db, "AAPL", "5m", _bars(50), fetch_started=t0)
    newer = _bars(55).assign(close=lambda f: f["close"] + 1)  # fetched last: the truth
    older = _bars(56).assign(close=lambda f: f["close"] + 2)  # fetched first, written last; one bar newer lacks
    writes = {
        "newer": (newer, t0 + pd.Timedelta(minutes=2)),
        "older": (older, t0 + pd.Timedelta(minutes=1)),
    }
    engine = engine_for(clean_db)
    with engine.connect() as holder:
        # Hold the partition's lock, queue the newer write then the older one behind it, then let both go.
        holder.execute(sa.text("select pg_advisory_lock(:k)"), {"k": partition_lock_key("AAPL", "5m")})
        threads = []
        for name in ("newer", "older"):
            bars, started = writes[name]
            thread = threading.Thread(
                target=upsert_bars, args=(clean_db, "AAPL", "5m", bars), kwargs={"fetch_started": started}
            )
            thread.start()
            threads.append(thread)
            deadline = time.monotonic() + 30
            while _waiting_on_the_partition_lock(clean_db) < len(threads):
                assert time.monotonic() < deadline, f"the {name} writer never waited for the partition lock"
                time.sleep(0.05)
        holder.execute(sa.text("select pg_advisory_unlock(:k)"), {"k": partition_lock_key("AAPL", "5m")})
        holder.commit()
        for thread in threads:
            thread.join(30)
    stored = load_bars(clean_db, "AAPL", "5m")
    expected = pd.concat([newer, older.tail(1)], ignore_index=True)
    pd.testing.assert_frame_equal(stored, expected, check_dtype=False)
