"""Every stored bar against the bar the sandbox's native range endpoint serves for it.

The sandbox's data is a pure function of (symbol, day), so its bars are computed here in-process
(sandbox.aggregate.bars, exactly what the endpoint serves at the clock `now`) instead of fetched. The
equality rule is rules.derive.count_differing's: same bar times, exact OHLC, volume and trade_count, vwap
within 1e-4.
"""

from __future__ import annotations

from datetime import date, datetime, time

import numpy as np
import pandas as pd
import sqlalchemy as sa

from marketdata_pipeline.bars import BAR_COLUMNS, BAR_DTYPES
from marketdata_pipeline.rules.derive import count_differing
from marketdata_pipeline.sandbox.aggregate import bars as sandbox_bars
from marketdata_pipeline.sandbox.calendar import zone
from marketdata_pipeline.storage.database import engine_for
from marketdata_pipeline.timeframes import timeframe

_WIRE = {"o": "open", "h": "high", "l": "low", "c": "close", "v": "volume", "vw": "vwap", "n": "trade_count"}


def native_bars(symbol: str, tf: str, history_start: date, now: datetime) -> pd.DataFrame:
    """BAR_COLUMNS: every bar the sandbox serves for the partition at `now`, from `history_start`'s local
    midnight (where the pipeline's history begins)."""
    spec = timeframe(tf)
    start = datetime.combine(history_start, time(0), tzinfo=zone(symbol))
    wire = sandbox_bars(symbol, spec.multiplier, spec.timespan, start, now, adjusted=False, now=now)
    frame = wire.rename(columns=_WIRE)
    frame["time"] = pd.to_datetime(wire["t_ms"].to_numpy(np.int64), unit="ms", utc=True)
    return frame[BAR_COLUMNS]


# Each partition's bars packed server-side into one binary string of fixed-size big-endian records (one row
# per partition): a million bars arrive in a second or two instead of one COPY message per bar. NULLs become
# NaN (vwap) or -1 (trade_count, never negative) on the way; the records are sorted by time here.
_RECORD = np.dtype([("time_us", ">i8"), *((c, ">f8") for c in BAR_COLUMNS[1:-1]), ("trade_count", ">i8")])
_PACKED = sa.text(
    "select symbol, timeframe, string_agg(int8send((extract(epoch from time) * 1000000)::bigint) || "
    + " || ".join(f"float8send({c})" for c in ("open", "high", "low", "close", "volume"))
    + " || float8send(coalesce(vwap, 'NaN')) || int8send(coalesce(trade_count, -1)), '') "
    "from market_data group by symbol, timeframe"
)


def stored_partitions(url: str) -> dict[tuple[str, str], pd.DataFrame]:
    """Every stored partition's bars (BAR_COLUMNS and dtypes)."""
    with engine_for(url).connect() as conn:
        rows = conn.execute(_PACKED).all()
    partitions = {}
    for symbol, tf, packed in rows:
        records = np.frombuffer(packed, dtype=_RECORD)
        records = records[np.argsort(records["time_us"], kind="stable")]
        frame = pd.DataFrame({c: records[c].astype(np.float64) for c in BAR_COLUMNS[1:-1]})
        frame.insert(0, "time", pd.to_datetime(records["time_us"].astype(np.int64), unit="us", utc=True))
        counts = records["trade_count"].astype(np.int64)
        frame["trade_count"] = pd.arrays.IntegerArray(counts, counts < 0)
        partitions[(symbol, tf)] = frame.astype(BAR_DTYPES)
    return partitions


def _union_size(ours: pd.DataFrame, theirs: pd.DataFrame) -> int:
    return len(np.union1d(_ns(ours["time"]), _ns(theirs["time"])))


def _ns(times: pd.Series) -> np.ndarray:
    return pd.DatetimeIndex(times).as_unit("ns").asi8


def compare_with_sandbox(
    url: str, symbols: list[str], timeframes: list[str], history_start: date, now: datetime
) -> dict:
    """Every partition of symbols × timeframes, and every other stored one (e.g. the 5m bars fetched to
    derive 1h from), against the sandbox's native bars. `bars_compared`: bar times stored or served;
    `bars_differing`: those that differ (missing on either side, or any value); `partitions_differing`: the
    first 20 partitions with differences."""
    stored = stored_partitions(url)
    keys = {(s, tf) for s in symbols for tf in timeframes} | set(stored)
    compared = differing = 0
    partitions_differing = []
    # Symbol-major: the sandbox caches a symbol's minute bars while its timeframes are built.
    for symbol, tf in sorted(keys):
        theirs = native_bars(symbol, tf, history_start, now)
        ours = stored.get((symbol, tf), theirs.iloc[:0])
        n = count_differing(ours, theirs)
        compared += _union_size(ours, theirs)
        if n:
            differing += n
            partitions_differing.append(f"{symbol}|{tf}")
    return {
        "partitions_compared": len(keys),
        "bars_compared": compared,
        "bars_differing": differing,
        "partitions_differing": partitions_differing[:20],
    }
