"""Derived intraday timeframes: 15m, 1h and 4h bars rolled up from stored 5m bars, and the comparison that
proves a derived series equal to the vendor's native one.

Bucketing follows the vendor (the sandbox's aggregate module, docs polygon-api.md §3.7): stocks in
America/New_York, crypto in UTC; a bucket starts at local midnight plus a whole number of bar lengths of
elapsed time, never crosses the next local midnight (there it is cut short), and is stamped with its start.
Real Polygon does not document its multi-unit alignment, which is why `bar_differences` exists: a
conformance probe compares derived bars with native ones before trusting derivation.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd

from marketdata_pipeline.bars import BAR_COLUMNS, BAR_DTYPES, TIME_DTYPE
from marketdata_pipeline.rules.market_calendar import local_midnight, zone
from marketdata_pipeline.timeframes import timeframe

BASE_TIMEFRAME = "5m"
DERIVABLE = ("15m", "1h", "4h")

# The vendor's vwap is itself a float average of its trades and real Polygon rounds it (4 decimals seen),
# so vwap agrees within this tolerance; every other field must be equal.
VWAP_RTOL = 1e-9
VWAP_ATOL = 1e-4
_EXACT = ("open", "high", "low", "close", "volume")


def derive_bars(base: pd.DataFrame, symbol: str, target: str, complete_by: datetime | None = None) -> pd.DataFrame:
    """Roll `base` (5m bars of `symbol`: BAR_COLUMNS, sorted by time, one bar per time) up to `target`
    (one of DERIVABLE). Returns BAR_COLUMNS/BAR_DTYPES sorted by time; a window without a 5m bar has no bar.

    open: first bar's; high: max; low: min; close: last bar's; volume: sum; trade_count: sum, NA only when
    every part is NA; vwap: volume-weighted mean of the parts' vwaps (NaN if any part's is NaN), or their
    plain mean when the volume sums to 0 (the weights are all zero; that mean is the only estimate left).

    `complete_by` (tz-aware): keep only buckets whose end (start + length, capped at the next local midnight)
    is at or before it, as the vendor serves complete bars only.
    """
    if target not in DERIVABLE:
        raise ValueError(f"cannot derive {target!r} from {BASE_TIMEFRAME}; expected one of {', '.join(DERIVABLE)}")
    if complete_by is not None and complete_by.tzinfo is None:
        raise ValueError("complete_by must be timezone-aware")
    index = pd.DatetimeIndex(base["time"]).as_unit("ns")
    times = index.asi8
    if len(times) and not (np.diff(times) > 0).all():
        raise ValueError("base bars must be sorted by time, one bar per time")

    size = _ns(timeframe(target).length)
    midnight, next_midnight = _local_midnights(symbol, index)
    grid = midnight + (times - midnight) // size * size
    keep = np.ones(len(times), dtype=bool)
    if complete_by is not None:
        keep = np.minimum(grid + size, next_midnight) <= pd.Timestamp(complete_by).as_unit("ns").value
    return _roll_up(base[keep], grid[keep])


def _ns(length: timedelta) -> int:
    return int(pd.Timedelta(length).value)


def _local_midnights(symbol: str, times: pd.DatetimeIndex) -> tuple[np.ndarray, np.ndarray]:
    """UTC ns of the local midnight starting each bar's day, and of the next one (days vary with DST)."""
    local_days = times.tz_convert(zone(symbol)).tz_localize(None).normalize()
    days, inverse = np.unique(local_days.asi8, return_inverse=True)
    dates = [d.date() for d in pd.to_datetime(days, unit="ns")]
    starts = np.array([_midnight_ns(symbol, d) for d in dates], dtype=np.int64)
    ends = np.array([_midnight_ns(symbol, d + timedelta(days=1)) for d in dates], dtype=np.int64)
    return starts[inverse], ends[inverse]


def _midnight_ns(symbol: str, day: date) -> int:
    return pd.Timestamp(local_midnight(symbol, day)).as_unit("ns").value


def _roll_up(base: pd.DataFrame, bucket: np.ndarray) -> pd.DataFrame:
    if len(bucket) == 0:
        return _frame({column: [] for column in BAR_COLUMNS})
    starts = np.flatnonzero(np.concatenate(([True], bucket[1:] != bucket[:-1])))
    ends = np.concatenate((starts[1:], [len(bucket)])) - 1
    volume_parts = base["volume"].to_numpy(np.float64)
    vwap_parts = base["vwap"].to_numpy(np.float64)
    volume = np.add.reduceat(volume_parts, starts)
    with np.errstate(invalid="ignore", divide="ignore"):
        weighted = np.add.reduceat(vwap_parts * volume_parts, starts) / volume
    plain = np.add.reduceat(vwap_parts, starts) / np.diff(np.append(starts, len(bucket)))
    counts = base["trade_count"].astype("Int64")
    count_sums = np.add.reduceat(counts.fillna(0).to_numpy(np.int64), starts)
    counted = np.add.reduceat(counts.notna().to_numpy(np.int64), starts) > 0
    return _frame(
        {
            "time": pd.to_datetime(bucket[starts], unit="ns", utc=True),
            "open": base["open"].to_numpy(np.float64)[starts],
            "high": np.maximum.reduceat(base["high"].to_numpy(np.float64), starts),
            "low": np.minimum.reduceat(base["low"].to_numpy(np.float64), starts),
            "close": base["close"].to_numpy(np.float64)[ends],
            "volume": volume,
            "vwap": np.where(volume != 0, weighted, plain),
            "trade_count": pd.arrays.IntegerArray(count_sums, ~counted),
        }
    )


def _frame(columns: dict) -> pd.DataFrame:
    frame = pd.DataFrame(columns, columns=BAR_COLUMNS)
    frame["time"] = pd.to_datetime(frame["time"], utc=True).astype(TIME_DTYPE)
    return frame.astype(BAR_DTYPES)


# --- comparison ------------------------------------------------------------------------------------------


def bar_differences(ours: pd.DataFrame, theirs: pd.DataFrame, limit: int = 20) -> list[str]:
    """Human-readable differences between two bar frames (BAR_COLUMNS, one bar per time), oldest first:
    a bar on one side only, or the fields that differ. Empty when they agree.

    Equality rule: the same bar times; open, high, low, close, volume and trade_count exactly equal (NaN
    equals NaN, NA equals NA); vwap equal within np.isclose(rtol=VWAP_RTOL=1e-9, atol=VWAP_ATOL=1e-4).
    At most `limit` bars are described; when more differ, a last line says how many were left out.
    """
    joined, fields = _compare(ours, theirs)
    differing = fields.any(axis=1) | (joined["_merge"] != "both")
    lines = [_describe(joined.loc[i], fields.loc[i]) for i in differing[differing].index[:limit]]
    left_out = int(differing.sum()) - len(lines)
    if left_out > 0:
        lines.append(f"... and {left_out} more differing bar(s)")
    return lines


def count_differing(ours: pd.DataFrame, theirs: pd.DataFrame) -> int:
    """How many bar times differ in any way under bar_differences' rule."""
    a, b = _normalised(ours).reset_index(drop=True), _normalised(theirs).reset_index(drop=True)
    if a["time"].equals(b["time"]):  # the same bars in the same order (the usual case): no join needed
        return int(np.logical_or.reduce([~_same(c, a[c], b[c]) for c in BAR_COLUMNS[1:]]).sum())
    joined, fields = _compare(ours, theirs)
    return int((fields.any(axis=1) | (joined["_merge"] != "both")).sum())


def _compare(ours: pd.DataFrame, theirs: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Both frames outer-joined on time (suffixes _ours/_theirs, sorted), and per field whether it differs."""
    joined = pd.merge(
        _normalised(ours), _normalised(theirs), on="time", how="outer", suffixes=("_ours", "_theirs"), indicator=True
    ).sort_values("time", ignore_index=True)
    both = (joined["_merge"] == "both").to_numpy()
    fields = {c: both & ~_same(c, joined[f"{c}_ours"], joined[f"{c}_theirs"]) for c in BAR_COLUMNS[1:]}
    return joined, pd.DataFrame(fields, index=joined.index)


def _normalised(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[BAR_COLUMNS].astype(BAR_DTYPES)


def _same(column: str, ours: pd.Series, theirs: pd.Series) -> np.ndarray:
    if column == "trade_count":
        both_na = (ours.isna() & theirs.isna()).to_numpy()
        return both_na | (ours == theirs).fillna(False).to_numpy(bool)
    a, b = ours.to_numpy(np.float64), theirs.to_numpy(np.float64)
    if column == "vwap":
        return np.isclose(a, b, rtol=VWAP_RTOL, atol=VWAP_ATOL, equal_nan=True)
    return (a == b) | (np.isnan(a) & np.isnan(b))


def _describe(row: pd.Series, differs: pd.Series) -> str:
    when = row["time"].isoformat()
    if row["_merge"] != "both":
        return f"{when}: missing from {'ours' if row['_merge'] == 'right_only' else 'theirs'}"
    changes = [f"{c} {row[f'{c}_ours']} != {row[f'{c}_theirs']}" for c in differs.index[differs]]
    return f"{when}: " + ", ".join(changes) + " (ours != theirs)"
