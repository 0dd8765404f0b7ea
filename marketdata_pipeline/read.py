"""The read path: stored bars as pandas, unadjusted or adjusted on read, with their freshness.

    from marketdata_pipeline import load_bars
    bars = load_bars("NVDA", "1d", start="2024-01-01", adjust="splits")
    bars.attrs["freshness"]   # {"state": "Fresh", "last_bar": ..., ...}

Dates (YYYY-MM-DD) are sessions in the symbol's market zone (America/New_York for stocks, UTC for crypto);
`end` includes its whole day. Instants (ISO strings with a time, datetimes) are UTC unless they carry an
offset; `end` then includes a bar starting exactly at it.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from pathlib import Path

import pandas as pd
import psycopg
import pyarrow as pa
import sqlalchemy as sa

from marketdata_pipeline.rules.freshness import Freshness, State, assess
from marketdata_pipeline.rules.market_calendar import zone
from marketdata_pipeline.settings import Settings
from marketdata_pipeline.storage.adjustment import check_adjust
from marketdata_pipeline.storage.bar_reader import VALUE_COLUMNS, Window, read_bars_arrow
from marketdata_pipeline.storage.database import engine_for
from marketdata_pipeline.symbols import InvalidSymbolError, validate_symbol
from marketdata_pipeline.timeframes import timeframe as timeframe_of

Bound = str | date | datetime | pd.Timestamp | None


class StaleDataWarning(UserWarning):
    """The bars returned are Stale (or Missing): the pipeline has not kept them up to date."""


class UnknownSymbolError(InvalidSymbolError):
    pass


def resolve_database_url(database_url: str | None = None) -> str:
    """The given URL, else DATABASE_URL (settings), else the embedded PostgreSQL `marketdata run` uses."""
    url = database_url or Settings.from_env().database_url
    if url:
        return url
    # Only without any configured database: start (or reuse) the embedded server under .data/.
    from marketdata_pipeline.environment import ensure_database

    return ensure_database()


def _parse_bound(raw: Bound, name: str) -> date | datetime | None:
    if raw is None:
        return None
    if isinstance(raw, pd.Timestamp):
        raw = raw.to_pydatetime()
    if isinstance(raw, (date, datetime)):
        return raw
    text = str(raw).strip()
    try:
        return date.fromisoformat(text) if len(text) == 10 else datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"bad {name} date {raw!r}: expected YYYY-MM-DD or an ISO instant such as 2024-06-03T14:30Z") from None


def _instant(value: date | datetime | None, symbol: str, is_end: bool) -> datetime | None:
    """A bound as an exclusive-upper / inclusive-lower UTC-aware instant for `symbol`."""
    if value is None:
        return None
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=pd.Timestamp(0, tz="UTC").tzinfo)
        return moment + timedelta(microseconds=1) if is_end else moment
    day = value + timedelta(days=1) if is_end else value
    return datetime.combine(day, time(0), tzinfo=zone(symbol))


def _check_known(url: str, symbols: list[str]) -> None:
    query = sa.text(
        "select s from unnest(cast(:symbols as text[])) as s where not exists (select 1 from symbols where symbol = s) "
        "and not exists (select 1 from market_data where symbol = s)"
    )
    with engine_for(url).connect() as conn:
        unknown = list(conn.execute(query, {"symbols": symbols}).scalars())
    if unknown:
        raise UnknownSymbolError(f"unknown symbol {', '.join(unknown)}: no such symbol registered and no bars stored")


_FRESHNESS_TABLES = ("market_data", "bar_features")


def freshness_of(url: str, symbols: list[str], tf: str, table: str = "market_data") -> dict[str, Freshness]:
    """Freshness of each symbol's newest row in `table` (the bars, or their features) at the settings' clock."""
    if table not in _FRESHNESS_TABLES:
        raise ValueError(f"no freshness for table {table!r}")
    settings = Settings.from_env()
    now, rules = settings.clock(), settings.freshness_rules()
    # Only the newest bar: an index-only lookup (partition_stats also counts rows, a scan of the partition).
    query = sa.text(
        f"select s, (select max(time) from {table} where symbol = s and timeframe = :tf) "
        "from unnest(cast(:symbols as text[])) as s"
    )
    with engine_for(url).connect() as conn:
        last: dict[str, datetime | None] = dict(conn.execute(query, {"symbols": symbols, "tf": tf}).tuples().all())
    return {s: assess(s, tf, last.get(s), now, rules) for s in symbols}


def _describe(symbol: str, tf: str, f: Freshness) -> dict:
    return {
        "symbol": symbol,
        "timeframe": tf,
        "state": f.state.value,
        "last_bar": pd.Timestamp(f.last_bar) if f.last_bar else None,
        "expected_last_bar": pd.Timestamp(f.expected_last_bar),
        "lag": f.lag,
    }


def read_table(
    symbols: str | Iterable[str],
    timeframe: str,
    start: Bound = None,
    end: Bound = None,
    adjust: str = "none",
    database_url: str | None = None,
) -> tuple[pa.Table, list[str], str]:
    """Validated arguments -> (Arrow table of the bars, the symbols, the database URL). ValueError on bad input."""
    names = [symbols] if isinstance(symbols, str) else list(symbols)
    if not names:
        raise ValueError("no symbol given")
    names = [validate_symbol(s) for s in names]
    timeframe_of(timeframe)  # ValueError naming the valid timeframes
    check_adjust(adjust)
    lo_raw, hi_raw = _parse_bound(start, "start"), _parse_bound(end, "end")
    url = resolve_database_url(database_url)
    windows = [Window(s, _instant(lo_raw, s, False), _instant(hi_raw, s, True)) for s in names]
    for w in windows:
        if w.lo is not None and w.hi is not None and w.lo >= w.hi:
            raise ValueError(f"start ({start}) is after end ({end})")
    try:
        _check_known(url, names)
        table = read_bars_arrow(url, windows, timeframe, adjust)
    except sa.exc.ProgrammingError as exc:
        if not isinstance(exc.orig, psycopg.errors.UndefinedTable):
            raise
        table = _retry_after_schema(url, names, windows, timeframe, adjust)
    except psycopg.errors.UndefinedTable:
        table = _retry_after_schema(url, names, windows, timeframe, adjust)
    return table, names, url


def _retry_after_schema(url, names, windows, timeframe, adjust) -> pa.Table:
    """A database created before the adjusted views existed: create them (idempotent) and read again."""
    from marketdata_pipeline.storage.schema import create_schema

    create_schema(url)
    _check_known(url, names)
    return read_bars_arrow(url, windows, timeframe, adjust)


def to_frame(table: pa.Table, many: bool) -> pd.DataFrame:
    frame = table.to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get)
    frame = frame.set_index(["symbol", "time"] if many else "time")
    if not many:
        frame = frame.drop(columns="symbol")
    return frame[list(VALUE_COLUMNS)]


def load_bars(
    symbols: str | Iterable[str],
    timeframe: str,
    start: Bound = None,
    end: Bound = None,
    adjust: str = "none",
    database_url: str | None = None,
) -> pd.DataFrame:
    """Stored bars as a DataFrame indexed by bar start (tz-aware UTC), columns open, high, low, close, volume,
    vwap, trade_count; several symbols give one frame indexed by (symbol, time).

    adjust: "none" (as the vendor sent them), "splits" (prices ÷, volume × the ratio of later splits; equals
    Polygon's adjusted=true), "all" (splits and cash dividends: total return; see storage.adjustment).

    `frame.attrs["freshness"]`: for one symbol a dict (state Fresh/Aging/Stale/Missing, last_bar,
    expected_last_bar, lag); for several, such a dict per symbol. A StaleDataWarning is issued for Stale or
    Missing data. Raises ValueError (UnknownSymbolError for an unknown symbol) on bad input.
    """
    many = not isinstance(symbols, str)
    table, names, url = read_table(symbols, timeframe, start, end, adjust, database_url)
    frame = to_frame(table, many)
    _attach_freshness(frame, url, names, timeframe, many, "market_data")
    frame.attrs["adjust"] = adjust
    return frame


def _attach_freshness(frame: pd.DataFrame, url: str, names: list[str], timeframe: str, many: bool, table: str) -> None:
    """frame.attrs["freshness"] and a StaleDataWarning (from the caller's caller) for Stale or Missing data."""
    freshness = freshness_of(url, names, timeframe, table)
    described = {s: _describe(s, timeframe, f) for s, f in freshness.items()}
    frame.attrs["freshness"] = described if many else described[names[0]]
    behind = [f"{s}|{timeframe} is {f.state.value} (last bar {f.last_bar or 'none'})"
              for s, f in freshness.items() if f.state in (State.STALE, State.MISSING)]
    if behind:
        warnings.warn("; ".join(behind), StaleDataWarning, stacklevel=3)


def load_features(
    symbols: str | Iterable[str],
    timeframe: str,
    start: Bound = None,
    end: Bound = None,
    database_url: str | None = None,
) -> pd.DataFrame:
    """Stored quant features (bar_features, computed from split-adjusted bars; see quant.features) as a
    DataFrame indexed by bar start (tz-aware UTC), one column per feature; several symbols give one frame
    indexed by (symbol, time). start/end as for load_bars.

    `frame.attrs["freshness"]` as load_bars', judged on the newest feature row; a StaleDataWarning is issued
    for Stale or Missing features. Raises ValueError (UnknownSymbolError for an unknown symbol) on bad input.
    """
    from marketdata_pipeline.storage.features import FEATURE_COLUMNS
    from marketdata_pipeline.storage.features import load_features as load_partition

    many = not isinstance(symbols, str)
    names = [symbols] if isinstance(symbols, str) else list(symbols)
    if not names:
        raise ValueError("no symbol given")
    names = [validate_symbol(s) for s in names]
    timeframe_of(timeframe)  # ValueError naming the valid timeframes
    lo_raw, hi_raw = _parse_bound(start, "start"), _parse_bound(end, "end")
    url = resolve_database_url(database_url)
    frames = []
    for s in names:
        lo, hi = _instant(lo_raw, s, False), _instant(hi_raw, s, True)
        if lo is not None and hi is not None and lo >= hi:
            raise ValueError(f"start ({start}) is after end ({end})")
        frames.append(load_partition(url, s, timeframe, lo, hi).assign(symbol=s))
    _check_known(url, names)
    frame = pd.concat(frames, ignore_index=True)
    frame = frame.set_index(["symbol", "time"] if many else "time")[FEATURE_COLUMNS]
    _attach_freshness(frame, url, names, timeframe, many, "bar_features")
    return frame


def write_parquet(table: pa.Table, path: Path) -> None:
    """The Arrow table as is: time as timestamp[us, UTC], exact float64 prices, int64 trade counts."""
    import pyarrow.parquet as pq

    pq.write_table(table, path)
