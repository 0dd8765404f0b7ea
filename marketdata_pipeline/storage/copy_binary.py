"""Bars → PostgreSQL's binary COPY format, vectorised with numpy: no per-row Python, no text parsing on the server.

Every row is laid out as one fixed-width numpy record (the widest form, every field present); NULL fields are
then cut out of the byte stream with a mask, which keeps the rows in their original order (so the primary key
index is filled in time order) whatever the pattern of NULLs.
"""

from __future__ import annotations

import struct

import numpy as np
import pandas as pd

from marketdata_pipeline.bars import BAR_COLUMNS  # the bars the client returns are the bars we store

COPY_COLUMNS = ["symbol", "timeframe", *BAR_COLUMNS]

_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0)  # signature, flags, no header extension
_TRAILER = struct.pack("!h", -1)
_PG_EPOCH_US = 946_684_800_000_000  # 2000-01-01 UTC in Unix microseconds
_NULL = -1  # a field length of -1 marks NULL and carries no data bytes
_INT8_COLUMNS = {"time", "trade_count"}  # the rest are float8


def pg_timestamps(times: pd.Series) -> np.ndarray:
    """Microseconds since 2000-01-01 UTC (timestamptz's binary form), floored; naive times are taken as UTC."""
    index = pd.DatetimeIndex(times)
    if index.tz is not None:
        index = index.tz_convert("UTC").tz_localize(None)
    return index.as_unit("us").asi8 - _PG_EPOCH_US


def _kind(column: str) -> str:
    return "i8" if column in _INT8_COLUMNS else "f8"


def _values(bars: pd.DataFrame, column: str) -> tuple[np.ndarray, np.ndarray]:
    """The column's values and its NULL mask, in pandas' sense of missing (NaN in float64, NA in extension
    arrays; a NaN inside a Float64 array is a value and stays NaN)."""
    series = bars[column]
    if column == "time":
        missing = series.isna().to_numpy()
        return pg_timestamps(series), missing
    # Casting through the nullable dtypes refuses lossy conversions (a fractional trade count) instead of truncating.
    array = pd.array(series, dtype="Int64" if column == "trade_count" else "Float64")  # type: ignore[call-overload]  # pandas-stubs lacks Series + dtype name
    missing = array.isna()
    return array.to_numpy(dtype=_kind(column), na_value=0), missing


def encode_bars(symbol: str, timeframe: str, bars: pd.DataFrame) -> bytes:
    """A complete binary COPY stream (header, rows, trailer) of `bars` for the columns COPY_COLUMNS."""
    symbol_bytes, timeframe_bytes = symbol.encode(), timeframe.encode()
    # Field count and the two text fields are the same on every row: one constant prefix.
    prefix = (
        struct.pack("!hi", len(COPY_COLUMNS), len(symbol_bytes)) + symbol_bytes
        + struct.pack("!i", len(timeframe_bytes)) + timeframe_bytes
    )
    fields = [("prefix", f"V{len(prefix)}")]
    for column in BAR_COLUMNS:
        fields += [(f"{column}_len", ">i4"), (column, ">" + _kind(column))]
    rows = np.empty(len(bars), dtype=np.dtype(fields))
    rows["prefix"] = np.void(prefix)

    drop = None  # bytes to cut out of the stream: the data of NULL fields
    for column in BAR_COLUMNS:
        values, missing = _values(bars, column)
        rows[column] = values
        rows[f"{column}_len"] = np.where(missing, _NULL, 8)
        if missing.any():
            if drop is None:
                drop = np.zeros((len(rows), rows.dtype.itemsize), dtype=bool)
            offset = rows.dtype.fields[column][1]  # type: ignore[index]  # a structured dtype always has fields
            drop[missing, offset : offset + 8] = True
    body = rows.view(np.uint8).reshape(len(rows), rows.dtype.itemsize)
    return _HEADER + (body.tobytes() if drop is None else body[~drop].tobytes()) + _TRAILER
