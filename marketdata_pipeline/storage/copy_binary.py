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

COPY_COLUMNS = ["symbol", "timeframe", "source", *BAR_COLUMNS]
# Column -> PostgreSQL type, for the types these tables use (binary forms below).
BAR_TYPES = {column: "float8" for column in BAR_COLUMNS} | {"time": "timestamptz", "trade_count": "int8"}
_BINARY = {"timestamptz": ">i8", "int8": ">i8", "float8": ">f8", "int2": ">i2", "bool": "?"}
_NULLABLE = {"int8": "Int64", "int2": "Int16", "float8": "Float64", "bool": "boolean"}

_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0)  # signature, flags, no header extension
_TRAILER = struct.pack("!h", -1)
_PG_EPOCH_US = 946_684_800_000_000  # 2000-01-01 UTC in Unix microseconds
_NULL = -1  # a field length of -1 marks NULL and carries no data bytes


def pg_timestamps(times: pd.Series) -> np.ndarray:
    """Microseconds since 2000-01-01 UTC (timestamptz's binary form), floored; naive times are taken as UTC."""
    index = pd.DatetimeIndex(times)
    if index.tz is not None:
        index = index.tz_convert("UTC").tz_localize(None)
    return index.as_unit("us").asi8 - _PG_EPOCH_US


def _values(frame: pd.DataFrame, column: str, pg_type: str) -> tuple[np.ndarray, np.ndarray]:
    """The column's values and its NULL mask, in pandas' sense of missing (NaN in float64, NA in extension
    arrays; a NaN inside a Float64 array is a value and stays NaN)."""
    series = frame[column]
    if pg_type == "timestamptz":
        missing = series.isna().to_numpy()
        return pg_timestamps(series), missing
    # Casting through the nullable dtypes refuses lossy conversions (a fractional trade count) instead of truncating.
    array = pd.array(series, dtype=_NULLABLE[pg_type])  # type: ignore[call-overload]  # pandas-stubs lacks Series + dtype name
    missing = array.isna()
    return array.to_numpy(dtype=_BINARY[pg_type].lstrip(">"), na_value=0), missing


def encode_bars(symbol: str, timeframe: str, bars: pd.DataFrame, source: str = "api") -> bytes:
    """A complete binary COPY stream (header, rows, trailer) of `bars` for the columns COPY_COLUMNS."""
    return encode_rows((symbol, timeframe, source), bars, BAR_TYPES)


def encode_rows(texts: tuple[str, ...], frame: pd.DataFrame, types: dict[str, str]) -> bytes:
    """A binary COPY stream of (*texts, *types) rows: `texts` are text fields equal on every row (symbol,
    timeframe, ...), `types` maps frame columns to PostgreSQL types."""
    # Field count and the text fields are the same on every row: one constant prefix.
    prefix = struct.pack("!h", len(texts) + len(types)) + b"".join(
        struct.pack("!i", len(raw)) + raw for raw in (text.encode() for text in texts)
    )
    fields = [("prefix", f"V{len(prefix)}")]
    for column, pg_type in types.items():
        fields += [(f"{column}_len", ">i4"), (column, _BINARY[pg_type])]
    rows = np.empty(len(frame), dtype=np.dtype(fields))
    rows["prefix"] = np.void(prefix)

    drop = None  # bytes to cut out of the stream: the data of NULL fields
    for column, pg_type in types.items():
        values, missing = _values(frame, column, pg_type)
        width = np.dtype(_BINARY[pg_type]).itemsize
        rows[column] = values
        rows[f"{column}_len"] = np.where(missing, _NULL, width)
        if missing.any():
            if drop is None:
                drop = np.zeros((len(rows), rows.dtype.itemsize), dtype=bool)
            offset = rows.dtype.fields[column][1]  # type: ignore[index]  # a structured dtype always has fields
            drop[missing, offset : offset + width] = True
    body = rows.view(np.uint8).reshape(len(rows), rows.dtype.itemsize)
    return _HEADER + (body.tobytes() if drop is None else body[~drop].tobytes()) + _TRAILER
