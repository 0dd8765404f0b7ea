"""Bulk reads of bars (unadjusted or adjusted) as an Arrow table: the read path's one query.

The rows leave PostgreSQL through `COPY ... TO STDOUT (FORMAT csv)` and are parsed by pyarrow's
multi-threaded CSV reader: several times faster than fetching a million rows as Python tuples. PostgreSQL
(12+) prints float8 in the shortest form that reads back to the same double, so values are exact.

Adjusted reads take the factors from the `adjustment_factors` view (a few rows per symbol) and apply them
to the unadjusted rows here, with the same float operations in the same order as the adjusted views
(price ÷ S, price × D ÷ S, volume × S), so results are identical to the views' to the last bit; the views'
range join would otherwise depend on the planner having statistics (a fresh bulk load has none and
turned a 0.2 s read into seconds).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from psycopg import sql

from marketdata_pipeline.storage.adjustment import check_adjust
from marketdata_pipeline.storage.database import engine_for, raw_cursor

VALUE_COLUMNS = ("open", "high", "low", "close", "volume", "vwap", "trade_count")
_TYPES = {
    "symbol": pa.string(),
    "time_us": pa.int64(),
    **{c: pa.float64() for c in VALUE_COLUMNS[:-1]},
    "trade_count": pa.int64(),
}
# Per symbol: valid_to (µs, ascending), split factor, dividend factor (see _factors).
_Factors = dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class Window:
    """Bars of `symbol` with lo <= time < hi (either bound None: open)."""

    symbol: str
    lo: datetime | None = None
    hi: datetime | None = None


def _condition(w: Window) -> sql.Composed:
    parts = [sql.SQL("m.symbol = {}").format(sql.Literal(w.symbol))]
    if w.lo is not None:
        parts.append(sql.SQL("m.time >= {}").format(sql.Literal(w.lo)))
    if w.hi is not None:
        parts.append(sql.SQL("m.time < {}").format(sql.Literal(w.hi)))
    return sql.SQL("(") + sql.SQL(" and ").join(parts) + sql.SQL(")")


def read_bars_arrow(url: str, windows: list[Window], timeframe: str, adjust: str = "none") -> pa.Table:
    """Columns symbol, time (timestamp[us, UTC], bar start), open … trade_count; ordered by symbol, time."""
    check_adjust(adjust)
    query = sql.SQL(
        "copy (select m.symbol, (extract(epoch from m.time) * 1000000)::bigint as time_us, {values} "
        "from market_data m where m.timeframe = {tf} and ({conditions}) order by m.symbol, m.time) "
        "to stdout (format csv, header true)"
    ).format(
        values=sql.SQL(", ").join(sql.Identifier(c) for c in VALUE_COLUMNS),
        tf=sql.Literal(timeframe),
        conditions=sql.SQL(" or ").join(_condition(w) for w in windows),
    )
    buffer = io.BytesIO()
    with engine_for(url).connect() as conn:
        cursor = raw_cursor(conn)
        with cursor.copy(query) as copy:
            for chunk in copy:
                buffer.write(chunk)
        factors = _factors(cursor, sorted({w.symbol for w in windows})) if adjust != "none" else {}
    buffer.seek(0)
    table = pacsv.read_csv(buffer, convert_options=pacsv.ConvertOptions(column_types=_TYPES))
    if factors:
        table = _adjust(table, factors, adjust)
    time = pc.cast(table["time_us"], pa.timestamp("us", tz="UTC"))
    return table.set_column(table.schema.get_field_index("time_us"), "time", time)


def _factors(cursor: psycopg.Cursor[Any], symbols: list[str]) -> _Factors:
    """Per symbol: valid_to (µs, ascending) and the split and dividend factors of the bars before each."""
    rows = cursor.execute(
        "select symbol, (extract(epoch from valid_to) * 1000000)::bigint, split_factor, dividend_factor "
        "from adjustment_factors where symbol = any(%s) order by symbol, valid_to",
        (symbols,),
    ).fetchall()
    out: dict[str, list[tuple[int, float, float]]] = {}
    for symbol, valid_to, split, dividend in rows:
        out.setdefault(symbol, []).append((valid_to, split, dividend))
    factors: _Factors = {}
    for s, r in out.items():
        valid_tos, splits, dividends = (np.array(col) for col in zip(*r))
        factors[s] = (valid_tos, splits, dividends)
    return factors


def _adjust(table: pa.Table, factors: _Factors, adjust: str) -> pa.Table:
    symbols = table["symbol"].to_numpy(zero_copy_only=False)
    times = table["time_us"].to_numpy()
    split = np.ones(len(times))
    dividend = np.ones(len(times))
    for symbol, (valid_to, s, d) in factors.items():
        rows = np.flatnonzero(symbols == symbol)
        # Intervals are contiguous: a bar belongs to the first one ending after it; none -> factor 1.
        k = np.searchsorted(valid_to, times[rows], side="right")
        inside = k < len(valid_to)
        split[rows[inside]], dividend[rows[inside]] = s[k[inside]], d[k[inside]]
    for name in ("open", "high", "low", "close", "vwap"):
        values = table[name].to_numpy(zero_copy_only=False)
        adjusted = values / split if adjust == "splits" else values * dividend / split
        nulls = table[name].is_null().to_numpy(zero_copy_only=False)  # a missing vwap stays missing
        table = table.set_column(table.schema.get_field_index(name), name, pa.array(adjusted, pa.float64(), mask=nulls))
    volume = table["volume"].to_numpy(zero_copy_only=False) * split
    return table.set_column(table.schema.get_field_index("volume"), "volume", pa.array(volume, pa.float64()))


# --- Whole partitions (the IO manager's and storage.bars' read) ---------------------------------------------

_PARTITION_TYPES = {"k": pa.int64(), "time_us": pa.int64(), **{c: _TYPES[c] for c in VALUE_COLUMNS}}
# The partition travels as its 1-based position in `keys` (a small integer instead of two strings per row).
_QUERY = sql.SQL(
    "copy (select k.ord as k, (extract(epoch from m.time) * 1000000)::bigint as time_us, {values}{extra} "
    "from unnest({symbols}::text[], {timeframes}::text[], {since}::timestamptz[]) with ordinality "
    "as k(symbol, timeframe, since, ord) "
    "join market_data m on m.symbol = k.symbol and m.timeframe = k.timeframe "
    "and m.time >= coalesce(k.since, '-infinity'::timestamptz)) "
    "to stdout (format csv, header true)"
)


def read_partitions(url: str, keys: list[tuple[str, str]], adjust: str = "none",
                    since: list[datetime | None] | None = None) -> pd.DataFrame:
    """Every bar of the (symbol, timeframe) partitions `keys`, in one COPY: columns symbol, timeframe +
    bars.BAR_COLUMNS typed as bars.BAR_DTYPES except time's unit (µs, PostgreSQL's), ordered as `keys` then by time. Adjusted like read_bars_arrow
    (the same float operations as the adjusted views, so the values are the views' to the last bit).
    `since`, one per key: only that partition's bars with time >= it (None: all), e.g. a tail to recompute."""
    with engine_for(url).connect() as conn:
        return read_partitions_on(raw_cursor(conn), keys, adjust, since)


# A 64-bit hash of the bar values the features read (time, open, high, low, close, volume), computed by the
# server: XORed over a partition's head it is the fingerprint storage.features keeps (see feature_plan).
ROW_HASH = (
    "hashfloat8extended(m.close, hashfloat8extended(m.high, hashfloat8extended(m.low, hashfloat8extended(m.open, "
    "hashfloat8extended(m.volume, hashfloat8extended(date_part('epoch', m.time), 0))))))"
)


def read_partitions_on(cursor: psycopg.Cursor[Any], keys: list[tuple[str, str]], adjust: str = "none",
                       since: list[datetime | None] | None = None, *, row_hashes: bool = False) -> pd.DataFrame:
    """read_partitions on the caller's cursor (so it can share a snapshot with other queries); `row_hashes`
    adds a column row_hash (int64, ROW_HASH of the unadjusted bar)."""
    check_adjust(adjust)
    keys = list(keys)
    since = list(since) if since is not None else [None] * len(keys)
    if len(since) != len(keys):
        raise ValueError(f"since has {len(since)} bounds for {len(keys)} partitions")
    if not keys:
        frame = _frame(keys, np.empty(0, np.int64), np.empty(0, np.int64), {})
        if row_hashes:
            frame["row_hash"] = np.empty(0, np.int64)
        return frame
    extra = sql.SQL(", " + ROW_HASH + " as row_hash") if row_hashes else sql.SQL("")
    query = _QUERY.format(
        values=sql.SQL(", ").join(sql.SQL("m.") + sql.Identifier(c) for c in VALUE_COLUMNS),
        extra=extra,
        symbols=sql.Literal([s for s, _ in keys]),
        timeframes=sql.Literal([tf for _, tf in keys]),
        since=sql.Literal(since),
    )
    buffer = io.BytesIO()
    with cursor.copy(query) as copy:
        for chunk in copy:
            buffer.write(chunk)
    factors = _factors(cursor, sorted({s for s, _ in keys})) if adjust != "none" else {}
    buffer.seek(0)
    types = {**_PARTITION_TYPES, "row_hash": pa.int64()} if row_hashes else _PARTITION_TYPES
    table = pacsv.read_csv(buffer, convert_options=pacsv.ConvertOptions(column_types=types))
    ordinal = table["k"].to_numpy() - 1
    times = table["time_us"].to_numpy()
    # Sorted here rather than by the server: a stable sort of two integer keys beats a sort of a million rows
    # in PostgreSQL, and the index scans usually return them in order already (then this is one pass).
    steps = np.diff(ordinal)
    if (steps < 0).any() or ((steps == 0) & (np.diff(times) <= 0)).any():
        order = np.lexsort((times, ordinal))
        table, ordinal, times = table.take(order), ordinal[order], times[order]
    values = {c: table[c].to_numpy(zero_copy_only=False) for c in VALUE_COLUMNS[:-1]}
    values["trade_count"] = table["trade_count"]
    if factors:
        _adjust_partitions(values, keys, ordinal, times, factors, adjust)
    frame = _frame(keys, ordinal, times, values)
    if row_hashes:
        frame["row_hash"] = table["row_hash"].to_numpy()
    return frame


def _adjust_partitions(values: dict[str, Any], keys: list[tuple[str, str]], ordinal: np.ndarray, times: np.ndarray,
                       factors: _Factors, adjust: str) -> None:
    """_adjust's arithmetic over contiguous partitions (rows are grouped by partition)."""
    split, dividend = np.ones(len(times)), np.ones(len(times))
    bounds = np.searchsorted(ordinal, np.arange(len(keys) + 1))
    for i, (symbol, _) in enumerate(keys):
        if symbol not in factors:
            continue
        valid_to, s, d = factors[symbol]
        lo, hi = bounds[i], bounds[i + 1]
        # A bar belongs to the first interval ending after it; none -> factor 1.
        k = np.searchsorted(valid_to, times[lo:hi], side="right")
        inside = k < len(valid_to)
        split[lo:hi][inside], dividend[lo:hi][inside] = s[k[inside]], d[k[inside]]
    for name in ("open", "high", "low", "close", "vwap"):
        values[name] = values[name] / split if adjust == "splits" else values[name] * dividend / split
    values["volume"] = values["volume"] * split


def _frame(keys: list[tuple[str, str]], ordinal: np.ndarray, times: np.ndarray, values: dict[str, Any]) -> pd.DataFrame:
    names = pa.array([s for s, _ in keys], pa.string()), pa.array([tf for _, tf in keys], pa.string())
    columns: dict[str, Any] = {
        "symbol": names[0].take(ordinal).to_pandas(),
        "timeframe": names[1].take(ordinal).to_pandas(),
        # Microseconds, PostgreSQL's resolution (and what the pandas reads of these bars have always returned).
        "time": pd.DatetimeIndex(times.astype("datetime64[us]")).tz_localize("UTC"),
    }
    for c in VALUE_COLUMNS[:-1]:
        columns[c] = np.asarray(values.get(c, np.empty(0)), dtype=np.float64)
    counts = values.get("trade_count")
    columns["trade_count"] = (
        pd.array(np.empty(0, np.int64), dtype="Int64") if counts is None
        else counts.to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get).array
    )
    frame = pd.DataFrame(columns)
    return frame.astype({"symbol": object, "timeframe": object}) if frame.empty else frame
