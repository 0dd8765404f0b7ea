"""Reading and writing OHLCV bars in `market_data`: bulk, idempotent, one transaction per partition, writers
of one partition serialised."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
import psycopg
import sqlalchemy as sa

from marketdata_pipeline.bars import BAR_COLUMNS, partition_key
from marketdata_pipeline.storage.copy_binary import COPY_COLUMNS, encode_bars, pg_timestamps
from marketdata_pipeline.storage.database import advisory_lock_key, engine_for, raw_cursor

_VALUE_COLUMNS = BAR_COLUMNS[1:]
_WRITTEN_COLUMNS = [*_VALUE_COLUMNS, "source"]

_STAGE = "market_data_stage"
_CREATE_STAGE = f"create temp table {_STAGE} (like market_data including defaults) on commit delete rows"
_NEWEST = "select max(time) from market_data where symbol = %s and timeframe = %s"
_LOCK = "select pg_advisory_xact_lock(%s)"
_LAST_FETCH = "select fetch_started from partition_writes where symbol = %s and timeframe = %s"
_RECORD_FETCH = (
    "insert into partition_writes (symbol, timeframe, fetch_started) values (%s, %s, %s) "
    "on conflict (symbol, timeframe) do update set fetch_started = excluded.fetch_started"
)
_FILL = f"insert into market_data select * from {_STAGE} on conflict (symbol, timeframe, time) do nothing"
_DELETE_GONE = (
    "delete from market_data where symbol = %s and timeframe = %s and time >= %s and time <= %s "
    "and time <> all(%s::timestamptz[])"
)
_MERGE = (
    f"insert into market_data select * from {_STAGE} "
    "on conflict (symbol, timeframe, time) do update set "
    + ", ".join(f"{c} = excluded.{c}" for c in _WRITTEN_COLUMNS)
    # Re-writing identical bars (every overlap re-fetch) then only locks the row instead of writing a new version.
    + f" where ({', '.join(f'market_data.{c}' for c in _WRITTEN_COLUMNS)})"
    f" is distinct from ({', '.join(f'excluded.{c}' for c in _WRITTEN_COLUMNS)})"
)


@dataclass(frozen=True)
class _Target:
    symbol: str
    timeframe: str
    source: str


def _copy(cursor: psycopg.Cursor, table: str, to: _Target, bars: pd.DataFrame) -> None:
    with cursor.copy(f"copy {table} ({', '.join(COPY_COLUMNS)}) from stdin (format binary)") as copy:
        copy.write(encode_bars(to.symbol, to.timeframe, bars, to.source))


def _merge(cursor: psycopg.Cursor, to: _Target, bars: pd.DataFrame) -> None:
    _copy(cursor, _STAGE, to, bars)
    cursor.execute(_MERGE)


def _append(cursor: psycopg.Cursor, to: _Target, bars: pd.DataFrame) -> None:
    """Bars newer than the partition's newest stored bar: COPY them straight into market_data, which costs
    about half the staging + ON CONFLICT path. A writer that bypasses upsert_bars (and its partition lock)
    may have inserted some of them meanwhile; its unique violation rolls back the savepoint and they take
    the merge instead."""
    try:
        with cursor.connection.transaction():
            _copy(cursor, "market_data", to, bars)
    except psycopg.errors.UniqueViolation:
        _merge(cursor, to, bars)


def partition_lock_key(symbol: str, timeframe: str) -> int:
    """The partition's advisory-lock key: a stable signed 64-bit digest (Python's hash() is salted per process)."""
    return advisory_lock_key("market_data", partition_key(symbol, timeframe))


def _delete_gone(
    cursor: psycopg.Cursor[Any],
    symbol: str,
    timeframe: str,
    bars: pd.DataFrame,
    window: tuple[datetime, datetime],
    newest: datetime,
) -> None:
    """Stored bars inside the re-fetched window that the answer lacks: the vendor deleted them. Nothing newer
    than the partition's newest stored bar can be stored, so the window is cut there (a first backfill with
    nothing stored skips this entirely)."""
    start, end = window[0], min(window[1], newest)
    times = bars["time"][(bars["time"] >= start) & (bars["time"] <= end)]
    cursor.execute(_DELETE_GONE, (symbol, timeframe, start, end, list(times.dt.to_pydatetime())))


def upsert_bars(
    url: str,
    symbol: str,
    timeframe: str,
    bars: pd.DataFrame,
    *,
    window: tuple[datetime, datetime] | None = None,
    fetch_started: datetime | None = None,
    source: str = "api",
) -> int:
    """Write the bars of one partition in one transaction, so a killed writer leaves the partition's previous
    rows untouched; returns the number of rows written.

    `window` is the [start, end] the bars are the complete answer for: stored bars inside it that `bars`
    lacks are deleted. `fetch_started` is when the fetch behind `bars` began (default: now). Writers of a
    partition take turns (a transaction-scoped advisory lock), and a write whose fetch started before the
    last written one's may only add missing bars, never update or delete the newer fetch's. `source` says
    where the bars come from ("api", or "derived:5m" for bars built from the stored 5m bars).

    An empty `bars` writes nothing (an empty answer is too weak a reason to delete stored bars) but still
    records the fetch, so other runs know the partition was brought up to date."""
    fetch_started = fetch_started or datetime.now(UTC)
    if bars.empty:
        record_fetch(url, symbol, timeframe, fetch_started)
        return 0
    with engine_for(url).begin() as conn:
        staged = conn.connection.info  # lives as long as the pooled DBAPI connection
        cursor = raw_cursor(conn)
        try:
            written = _write(cursor, _STAGE in staged, _Target(symbol, timeframe, source), bars, window, fetch_started)
        except BaseException as exc:
            if not isinstance(exc, Exception):
                _abandon(conn)
            raise
    # Only now: a rolled-back transaction takes the staging table it created with it.
    staged[_STAGE] = True
    return written


def _abandon(conn: sa.Connection) -> None:
    """An interrupt (run termination, Ctrl-C) can leave the server still running our statement and holding the
    partition's lock: cancel it and drop the connection, so the server rolls the transaction back at once."""
    driver = conn.connection.driver_connection
    with contextlib.suppress(psycopg.Error):
        if driver is not None:
            driver.cancel_safe(timeout=5)
    conn.invalidate()


def record_fetch(url: str, symbol: str, timeframe: str, fetch_started: datetime) -> None:
    """Record a fetch that brought nothing new; an older record than the stored one is kept."""
    with engine_for(url).begin() as conn:
        raw_cursor(conn).execute(
            _RECORD_FETCH + " where partition_writes.fetch_started < excluded.fetch_started",
            (symbol, timeframe, fetch_started),
        )


def _write(
    cursor: psycopg.Cursor[Any],
    staged: bool,
    to: _Target,
    bars: pd.DataFrame,
    window: tuple[datetime, datetime] | None,
    fetch_started: datetime,
) -> int:
    # A server crash may lose the last few hundred ms of acknowledged commits, never consistency: those
    # partitions are re-fetched by the next run. Not waiting for the WAL flush speeds up every call.
    cursor.execute("set local synchronous_commit = off")
    symbol, timeframe = to.symbol, to.timeframe
    cursor.execute(_LOCK, (partition_lock_key(symbol, timeframe),))
    if not staged:
        cursor.execute(_CREATE_STAGE)
    last_fetch = cursor.execute(_LAST_FETCH, (symbol, timeframe)).fetchone()
    if last_fetch is not None and fetch_started < last_fetch[0]:
        _copy(cursor, _STAGE, to, bars)
        return int(cursor.execute(_FILL).rowcount)
    row = cursor.execute(_NEWEST, (symbol, timeframe)).fetchone()
    newest = row[0] if row is not None else None  # an aggregate always returns its one row
    if window is not None and newest is not None:
        _delete_gone(cursor, symbol, timeframe, bars, window, newest)
    if newest is None:
        fresh = np.ones(len(bars), dtype=bool)
    else:
        fresh = pg_timestamps(bars["time"]) > pg_timestamps(pd.Series([newest]))[0]
    if not fresh.all():
        _merge(cursor, to, bars[~fresh])
    if fresh.any():
        _append(cursor, to, bars[fresh])
    cursor.execute(_RECORD_FETCH, (symbol, timeframe, fetch_started))
    return len(bars)


def partition_stats(url: str, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], tuple[datetime, int]]:
    """(newest bar, row count) per (symbol, timeframe); partitions without rows are absent."""
    keys = list(keys)
    if not keys:
        return {}
    query = sa.text(
        "select m.symbol, m.timeframe, max(m.time), count(*) from market_data m "
        "join unnest(cast(:symbols as text[]), cast(:timeframes as text[])) as k(symbol, timeframe) "
        "on m.symbol = k.symbol and m.timeframe = k.timeframe group by 1, 2"
    )
    params = {"symbols": [k[0] for k in keys], "timeframes": [k[1] for k in keys]}
    with engine_for(url).connect() as conn:
        return {(s, tf): (last, rows) for s, tf, last, rows in conn.execute(query, params)}


def last_bar_times(url: str, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], datetime]:
    """The newest stored bar per (symbol, timeframe); partitions with no rows are absent."""
    return {key: last for key, (last, _) in partition_stats(url, keys).items()}


def load_bars_via_views(url: str, symbol: str, timeframe: str, adjust: str = "none") -> pd.DataFrame:
    """load_bars through the SQL adjustment views and pandas.read_sql: slow, kept as the independent reference
    the fast read (storage.bar_reader) is tested against."""
    from marketdata_pipeline.storage.adjustment import source_for  # ValueError for an unknown mode

    query = sa.text(
        f"select {', '.join(BAR_COLUMNS)} from {source_for(adjust)} "
        "where symbol = :symbol and timeframe = :timeframe order by time"
    )
    with engine_for(url).connect() as conn:
        # Nullable dtypes keep trade counts exact: with NULLs among them, the default path goes through float64.
        frame = pd.read_sql(
            query, conn, params={"symbol": symbol, "timeframe": timeframe}, dtype_backend="numpy_nullable"
        )
    frame["time"] = pd.to_datetime(frame["time"], utc=True)
    prices = _VALUE_COLUMNS[:-1]
    frame[prices] = frame[prices].astype("float64")
    return frame


def load_bars(url: str, symbol: str, timeframe: str, adjust: str = "none") -> pd.DataFrame:
    """One partition's bars (BAR_COLUMNS, time as datetime64[us, UTC], in time order); `adjust` "splits" | "all" reads
    them adjusted on read (storage.adjustment; ValueError for an unknown mode)."""
    from marketdata_pipeline.storage.bar_reader import read_partitions

    return read_partitions(url, [(symbol, timeframe)], adjust).drop(columns=["symbol", "timeframe"])
