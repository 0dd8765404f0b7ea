"""Reading and writing OHLCV bars in `market_data`: bulk, idempotent, one transaction per partition."""

from __future__ import annotations

import io
from collections.abc import Iterable
from datetime import datetime

import pandas as pd
import sqlalchemy as sa

from marketdata_pipeline.storage.database import engine_for

BAR_COLUMNS = ["time", "open", "high", "low", "close", "volume", "vwap", "trade_count"]
_VALUE_COLUMNS = BAR_COLUMNS[1:]

_STAGE = "market_data_stage"
_CREATE_STAGE = (
    f"create temp table if not exists {_STAGE} "
    "(like market_data including defaults) on commit delete rows"
)
_MERGE = (
    f"insert into market_data select * from {_STAGE} "
    "on conflict (symbol, timeframe, time) do update set "
    + ", ".join(f"{c} = excluded.{c}" for c in _VALUE_COLUMNS)
)


def _csv(symbol: str, timeframe: str, bars: pd.DataFrame) -> str:
    frame = bars[BAR_COLUMNS].copy()
    frame.insert(0, "timeframe", timeframe)
    frame.insert(0, "symbol", symbol)
    frame["time"] = frame["time"].dt.strftime("%Y-%m-%d %H:%M:%S+00")
    buf = io.StringIO()
    frame.to_csv(buf, header=False, index=False, na_rep="")
    return buf.getvalue()


def upsert_bars(url: str, symbol: str, timeframe: str, bars: pd.DataFrame) -> int:
    """COPY the bars into a staging table, then merge them with ON CONFLICT, in one transaction.

    A killed writer therefore leaves the partition's previous rows untouched.
    """
    if bars.empty:
        return 0
    payload = _csv(symbol, timeframe, bars)
    with engine_for(url).begin() as conn:
        cursor = conn.connection.driver_connection.cursor()
        cursor.execute(_CREATE_STAGE)
        with cursor.copy(f"copy {_STAGE} from stdin (format csv)") as copy:
            copy.write(payload)
        cursor.execute(_MERGE)
        return len(bars)


def last_bar_times(url: str, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], datetime]:
    """The newest stored bar per (symbol, timeframe); partitions with no rows are absent."""
    keys = list(keys)
    if not keys:
        return {}
    query = sa.text(
        "select m.symbol, m.timeframe, max(m.time) from market_data m "
        "join unnest(cast(:symbols as text[]), cast(:timeframes as text[])) as k(symbol, timeframe) "
        "on m.symbol = k.symbol and m.timeframe = k.timeframe group by 1, 2"
    )
    params = {"symbols": [k[0] for k in keys], "timeframes": [k[1] for k in keys]}
    with engine_for(url).connect() as conn:
        return {(s, tf): t for s, tf, t in conn.execute(query, params)}


def load_bars(url: str, symbol: str, timeframe: str) -> pd.DataFrame:
    query = sa.text(
        f"select {', '.join(BAR_COLUMNS)} from market_data "
        "where symbol = :symbol and timeframe = :timeframe order by time"
    )
    with engine_for(url).connect() as conn:
        frame = pd.read_sql(query, conn, params={"symbol": symbol, "timeframe": timeframe})
    frame["time"] = pd.to_datetime(frame["time"], utc=True)
    frame["vwap"] = frame["vwap"].astype("float64")
    frame["trade_count"] = frame["trade_count"].astype("Int64")
    return frame
