"""Reading and writing a partition's quant features in `bar_features`: binary COPY, one transaction per
partition, and only rows that are new or whose values changed are written.

How a write finds what changed without reading the partition's stored features back: features at bar t depend
only on bars up to t + `reach` (quant.features), so rows before the first changed bar minus `reach` are
unchanged. The first changed bar comes from digests of the bars the stored features were computed from
(bar_features_state, one digest per chunk of CHUNK_ROWS bars). From there on, the new rows are staged and
merged with a NULL-safe `IS DISTINCT FROM`, so unchanged rows in that tail are not written either, and stored
rows whose time is gone are deleted. After new bars that tail is the last `reach` rows plus the new ones; after
a revised bar or a new split it starts at the changed chunk. Rows changed behind the pipeline's back (not by
this module) are not seen; the asset check catches the harmful cases.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
import psycopg
import sqlalchemy as sa

from marketdata_pipeline.storage.copy_binary import encode_rows, pg_timestamps
from marketdata_pipeline.storage.database import advisory_lock_key, engine_for, raw_cursor
from marketdata_pipeline.storage.schema import FEATURE_TYPES

FEATURE_COLUMNS = list(FEATURE_TYPES)
SOURCE_COLUMNS = ["time", "open", "high", "low", "close", "volume"]  # the bar columns the features read
CHUNK_ROWS = 128  # small: a change is located to its chunk, and a tail read (storage.feature_plan) starts at one
_DIGEST_BYTES = 16
_COPY_TYPES = {"time": "timestamptz", **FEATURE_TYPES}
_STAGE = "bar_features_stage"
_BEFORE_ALL = datetime(1, 1, 1, tzinfo=UTC)

_CREATE_STAGE = f"create temp table if not exists {_STAGE} (like bar_features) on commit delete rows"
_LOCK = "select pg_advisory_xact_lock(%s)"
_STATE = (
    "select bar_count, chunk_rows, digests, head_time, head_count, head_print, factors_print "
    "from bar_features_state where symbol = %s and timeframe = %s"
)
_STORED = "select count(*) from bar_features where symbol = %s and timeframe = %s"
_MERGE = (
    f"insert into bar_features select * from {_STAGE} on conflict (symbol, timeframe, time) do update set "
    + ", ".join(f"{c} = excluded.{c}" for c in FEATURE_COLUMNS)
    + f" where ({', '.join(f'bar_features.{c}' for c in FEATURE_COLUMNS)})"
    f" is distinct from ({', '.join(f'excluded.{c}' for c in FEATURE_COLUMNS)})"
)
_STORED_TIMES = "select time from bar_features where symbol = %s and timeframe = %s and time > %s"
_DELETE = "delete from bar_features where symbol = %s and timeframe = %s and time = any(%s)"
_STORED_SINCE = "select count(*) from bar_features where symbol = %s and timeframe = %s and time >= %s"
_SAVE_STATE = (
    "insert into bar_features_state (symbol, timeframe, bar_count, chunk_rows, digests, head_time, head_count, "
    "head_print, factors_print) values (%s, %s, %s, %s, %s, %s, %s, %s, %s) "
    "on conflict (symbol, timeframe) do update set bar_count = excluded.bar_count, "
    "chunk_rows = excluded.chunk_rows, digests = excluded.digests, head_time = excluded.head_time, "
    "head_count = excluded.head_count, head_print = excluded.head_print, factors_print = excluded.factors_print"
)


@dataclass(frozen=True)
class FeatureState:
    """A partition's bar_features_state row: digests of the bars behind its stored features, and its head
    (bars before head_time: head_count of them, XOR of their ROW_HASHes; factors_print of the adjustment)."""

    bar_count: int
    chunk_rows: int
    digests: bytes
    head_time: datetime | None = None
    head_count: int | None = None
    head_print: int | None = None
    factors_print: str | None = None


@dataclass(frozen=True)
class Head:
    """What a write records as the next run's head: the bars' row hashes (storage.bar_reader.ROW_HASH, of the
    bars handed to the write, the first at bar index `offset` after `offset` bars XORing to `print_before`)."""

    row_hashes: np.ndarray
    factors_print: str
    offset: int = 0
    print_before: int = 0


def head_bars(count: int, warm_up: int, reach: int) -> int:
    """How many bars the next run may take as unchanged head: all but the last reach + warm_up + one chunk,
    rounded down to a chunk (a tail's digests start at a chunk boundary; a change is located to its chunk, so
    the extra chunk keeps a change in the last bar at least warm_up bars into the tail)."""
    return max(0, count - reach - warm_up - CHUNK_ROWS) // CHUNK_ROWS * CHUNK_ROWS


def _head_fields(bars: pd.DataFrame, head: Head | None, warm_up: int, reach: int
                 ) -> tuple[datetime | None, int | None, int | None, str | None]:
    """(head_time, head_count, head_print, factors_print) for bar_features_state; NULLs when no head."""
    if head is None:
        return None, None, None, None
    count = max(head_bars(head.offset + len(bars), warm_up, reach), head.offset)
    if count <= 0 or count - head.offset >= len(bars):
        return None, None, None, None
    hashes = np.asarray(head.row_hashes[: count - head.offset], dtype=np.int64)
    head_print = int(np.bitwise_xor.reduce(hashes, initial=np.int64(head.print_before)))
    return bars["time"].iloc[count - head.offset].to_pydatetime(), count, head_print, head.factors_print


@dataclass(frozen=True)
class FeatureWrite:
    rows_written: int  # inserted or updated
    rows_deleted: int
    rows_compared: int  # rows sent to the database (the tail from the first changed bar)
    tail_start: datetime | None = None  # the first of those rows' time (None: none sent); earlier rows are as they were


def _source(bars: pd.DataFrame) -> np.ndarray:
    """The bar values the features read, one row of 64-bit words per bar, for digesting."""
    words = [pg_timestamps(bars["time"]).astype(np.int64).view(np.uint64)]
    words += [bars[c].to_numpy(dtype=np.float64).view(np.uint64) for c in SOURCE_COLUMNS[1:]]
    return np.ascontiguousarray(np.column_stack(words)) if len(bars) else np.empty((0, len(words)), np.uint64)


def _digest(rows: np.ndarray) -> bytes:
    return hashlib.blake2b(rows.tobytes(), digest_size=_DIGEST_BYTES).digest()


def _digests(source: np.ndarray, chunk: int) -> bytes:
    return b"".join(_digest(source[i : i + chunk]) for i in range(0, len(source), chunk))


def first_changed_bar(state: tuple[int, int, bytes] | None, source: np.ndarray, offset: int = 0) -> int:
    """Index of the first bar that differs from the bars behind `state` (their count when none differs).
    Each stored chunk is compared over the same rows it covered, so a short last chunk that new bars now
    extend still matches. `source` may start at bar `offset` (a multiple of the chunk; the bars before it
    are known unchanged)."""
    if state is None:
        return 0
    count, chunk, digests = state
    for i in range(offset // chunk, len(digests) // _DIGEST_BYTES):
        start, stop = i * chunk, min((i + 1) * chunk, count)
        stored = digests[i * _DIGEST_BYTES : (i + 1) * _DIGEST_BYTES]
        if stop - offset > len(source) or _digest(source[start - offset : stop - offset]) != stored:
            return start
    return count


def feature_lock_key(symbol: str, timeframe: str) -> int:
    """The partition's advisory-lock key (a stable signed 64-bit digest; Python's hash() is salted)."""
    return advisory_lock_key("bar_features", symbol, timeframe)


def _copy(cursor: psycopg.Cursor, table: str, symbol: str, timeframe: str, features: pd.DataFrame) -> None:
    columns = ", ".join(["symbol", "timeframe", *_COPY_TYPES])
    with cursor.copy(f"copy {table} ({columns}) from stdin (format binary)") as copy:
        copy.write(encode_rows((symbol, timeframe), features, _COPY_TYPES))


def _delete_gone(cursor: psycopg.Cursor, symbol: str, timeframe: str, features: pd.DataFrame, start: int) -> int:
    """Delete stored rows after the unchanged head whose time is no longer a bar's. The difference is taken
    here, not by the planner, which probes an unanalysed stage row by row (quadratic in the tail)."""
    after = features["time"].iloc[start - 1].to_pydatetime() if start > 0 else _BEFORE_ALL
    stored = [row[0] for row in cursor.execute(_STORED_TIMES, (symbol, timeframe, after))]
    if len(stored) == 0:
        return 0
    kept = pg_timestamps(features["time"].iloc[start:])
    gone = np.flatnonzero(~np.isin(pg_timestamps(pd.Series(stored)), kept))
    if len(gone) == 0:
        return 0
    return cursor.execute(_DELETE, (symbol, timeframe, [stored[i] for i in gone])).rowcount


def _count(cursor: psycopg.Cursor[Any], query: str, params: tuple[Any, ...]) -> int:
    row = cursor.execute(query, params).fetchone()
    assert row is not None  # count(*) always returns a row
    return int(row[0])


def _locked(conn: sa.Connection, symbol: str, timeframe: str) -> psycopg.Cursor[Any]:
    """A cursor in `conn`'s transaction holding the partition's feature lock until it ends. As for bars: a
    server crash may lose the last acknowledged commits, never consistency (the state row commits with its
    features), and the next run recomputes them."""
    cursor = raw_cursor(conn)
    cursor.execute("set local synchronous_commit = off")
    cursor.execute(_LOCK, (feature_lock_key(symbol, timeframe),))
    return cursor


def write_features(
    url: str, symbol: str, timeframe: str, bars: pd.DataFrame, features: pd.DataFrame, *, reach: int = 2,
    head: Head | None = None, warm_up: int = 0,
) -> FeatureWrite:
    """Make the partition's stored features equal `features` (computed from `bars`, row for row) in one
    transaction, writing only new or changed rows. `reach`: how many bars after t a feature at t reads.
    `head` (the bars' row hashes): also record the next run's head, all but the last reach + `warm_up` bars."""
    if len(bars) != len(features) or not np.array_equal(pg_timestamps(bars["time"]), pg_timestamps(features["time"])):
        raise ValueError(f"{symbol}|{timeframe}: features must have one row per bar, at the bars' times")
    source = _source(bars)
    with engine_for(url).begin() as conn:
        cursor = _locked(conn, symbol, timeframe)
        state = cursor.execute(_STATE, (symbol, timeframe)).fetchone()
        stored = _count(cursor, _STORED, (symbol, timeframe))
        # A state that does not describe the stored rows (rows deleted or added by hand) is ignored.
        known = state[:3] if state is not None and state[0] == stored else None
        start = max(0, first_changed_bar(known, source) - reach)
        if stored == 0:
            if len(features):
                _copy(cursor, "bar_features", symbol, timeframe, features)
            written, deleted = len(features), 0
        else:
            cursor.execute(_CREATE_STAGE)
            tail = features.iloc[start:]
            if len(tail):
                _copy(cursor, _STAGE, symbol, timeframe, tail)
            written = cursor.execute(_MERGE).rowcount if len(tail) else 0
            deleted = _delete_gone(cursor, symbol, timeframe, features, start)
        cursor.execute(_SAVE_STATE, (symbol, timeframe, len(bars), CHUNK_ROWS, _digests(source, CHUNK_ROWS),
                                     *_head_fields(bars, head, warm_up, reach)))
    first = 0 if stored == 0 else start
    tail_start = features["time"].iloc[first].to_pydatetime() if first < len(features) else None
    return FeatureWrite(written, deleted, len(features) - first, tail_start)


def tail_first_change(state: FeatureState, bars: pd.DataFrame) -> int:
    """The first bar (index in the whole partition) that differs from the bars behind `state`, for `bars`
    the partition's tail from state.head_count on (the head known unchanged: storage.feature_plan)."""
    offset = state.head_count or 0
    return first_changed_bar((state.bar_count, state.chunk_rows, state.digests), _source(bars), offset)


def write_features_tail(
    url: str, symbol: str, timeframe: str, bars: pd.DataFrame, features: pd.DataFrame, state: FeatureState,
    first_row: int, head: Head, *, reach: int, warm_up: int,
) -> FeatureWrite | None:
    """Write rows first_row onward of `features` (computed from `bars`, the partition's tail from bar
    state.head_count on; the caller has checked those rows equal a full recomputation's), the rows before
    being unchanged. Under the partition's lock the state must still be `state` and the stored rows from
    head_time on as many as it says; otherwise nothing is written and None returned (recompute in full)."""
    offset = state.head_count or 0
    if state.head_time is None or len(bars) != len(features) or not 0 < first_row <= len(bars):
        raise ValueError(f"{symbol}|{timeframe}: not a tail write (first_row {first_row}, {len(bars)} bars)")
    source = _source(bars)
    with engine_for(url).begin() as conn:
        cursor = _locked(conn, symbol, timeframe)
        row = cursor.execute(_STATE, (symbol, timeframe)).fetchone()
        if row is None or FeatureState(*row) != state:
            return None  # another writer moved on since the plan
        stored = _count(cursor, _STORED_SINCE, (symbol, timeframe, state.head_time))
        if stored != state.bar_count - offset:
            return None  # rows added or removed behind the pipeline's back: the full path sorts them out
        cursor.execute(_CREATE_STAGE)
        tail = features.iloc[first_row:]
        if len(tail):
            _copy(cursor, _STAGE, symbol, timeframe, tail)
        written = cursor.execute(_MERGE).rowcount if len(tail) else 0
        deleted = _delete_gone(cursor, symbol, timeframe, features, first_row)
        digests = state.digests[: offset // state.chunk_rows * _DIGEST_BYTES] + _digests(source, CHUNK_ROWS)
        cursor.execute(_SAVE_STATE, (symbol, timeframe, offset + len(bars), CHUNK_ROWS, digests,
                                     *_head_fields(bars, head, warm_up, reach)))
    tail_start = features["time"].iloc[first_row].to_pydatetime() if first_row < len(features) else None
    return FeatureWrite(written, deleted, len(features) - first_row, tail_start)


def load_features(
    url: str, symbol: str, timeframe: str, lo: datetime | None = None, hi: datetime | None = None
) -> pd.DataFrame:
    """A partition's stored features (lo <= time < hi; either bound None: open) in time order, typed as
    quant.features computes them: float64 with NaN for NULL, nullable boolean and Int8 for the flags and signs."""
    query = sa.text(
        f"select time, {', '.join(FEATURE_COLUMNS)} from bar_features "
        "where symbol = :symbol and timeframe = :timeframe "
        "and time >= coalesce(:lo, '-infinity'::timestamptz) and time < coalesce(:hi, 'infinity'::timestamptz) "
        "order by time"
    )
    params = {"symbol": symbol, "timeframe": timeframe, "lo": lo, "hi": hi}
    with engine_for(url).connect() as conn:
        frame = pd.read_sql(query, conn, params=params, dtype_backend="numpy_nullable")
    frame["time"] = pd.to_datetime(frame["time"], utc=True)
    for name, kind in FEATURE_TYPES.items():
        dtype = {"float8": "float64", "bool": "boolean", "int2": "Int8"}[kind]
        frame[name] = (
            frame[name].astype(dtype)  # type: ignore[call-overload]  # pandas-stubs accept only literal dtype names
            if kind != "float8"
            else frame[name].to_numpy(dtype="float64", na_value=np.nan)
        )
    return frame


def last_feature_times(url: str, keys: list[tuple[str, str]]) -> dict[tuple[str, str], datetime]:
    """The newest feature row's time per (symbol, timeframe) (one index probe each); partitions without rows
    are absent."""
    if not keys:
        return {}
    query = sa.text(
        "select k.symbol, k.timeframe, (select max(time) from bar_features f "
        "where f.symbol = k.symbol and f.timeframe = k.timeframe) "
        "from unnest(cast(:symbols as text[]), cast(:timeframes as text[])) as k(symbol, timeframe)"
    )
    params = {"symbols": [s for s, _ in keys], "timeframes": [tf for _, tf in keys]}
    with engine_for(url).connect() as conn:
        return {(s, tf): last for s, tf, last in conn.execute(query, params) if last is not None}
