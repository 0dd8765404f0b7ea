"""Bars built from the exchange calendar, written straight into PostgreSQL."""

from __future__ import annotations

from datetime import date

import pandas as pd

from marketdata_pipeline.rules import market_calendar as cal
from marketdata_pipeline.timeframes import timeframe


def make_bars(symbol: str, tf: str, first: date, last: date, price: float = 100.0) -> pd.DataFrame:
    """A clean, complete series: every bar that may exist in [first, last], gently rising prices."""
    spec = timeframe(tf)
    times = [b for s in cal.sessions_between(symbol, first, last) for b in cal.trading_bars(spec, s)]
    n = len(times)
    close = pd.Series([price * (1 + 0.0001 * i) for i in range(n)])
    return pd.DataFrame(
        {
            "time": pd.to_datetime(times, utc=True),
            "open": close * 0.999,
            "high": close * 1.002,
            "low": close * 0.997,
            "close": close,
            "volume": 1000.0,
            "vwap": close,
            "trade_count": pd.array([10] * n, dtype="Int64"),
        }
    )
