"""Roll minute bars up to `multiplier`/`timespan` bars the way Polygon's range endpoint does.

Bucketing: stocks in America/New_York, crypto in UTC. Intraday buckets (minute/hour) are aligned to local
midnight (4h -> 00,04,08,12,16,20; 15m -> :00,:15,...) and never cross a day boundary. Day-level buckets
(day/week/month/quarter/year) group whole local days: weeks start on Sunday, months on the 1st; a multiplier
above 1 counts blocks of that many units from the (snapped) `from`. A bucket without trades yields no bar.

Another intraday grid: real Polygon does not document its multi-unit alignment, so
`SandboxConfig.intraday_anchor_minutes` (default 0) moves the grid to local midnight + that many minutes of
elapsed time (570: 1h at 09:30, 10:30, ...; 4h at 01:30, 05:30, 09:30, 13:30, 17:30, 21:30). Buckets still
never cross a day boundary: a day's first bucket starts at midnight, shortened, and its last ends at the next
midnight. Grids the anchor falls on (1m, and 15m for 570) are unchanged.

The clock: only COMPLETE bars are served. A bar exists once its window has ended by `now` (a 5m bar starting
09:30 appears at 09:35, a 1d bar at the next local midnight), so no bar starting at or after `now` is ever
returned and a bar's values never change afterwards. Splits are known once executed: `adjusted=true` uses
the splits whose execution date is on or before the clock's ET date.

Paging: `limit` counts BASE aggregates (minutes for minute/hour, days for day and longer). A page reads at
most `limit` base rows from the start (or, for `sort=desc`, the end) of the window and drops a trailing
partial bar; when a single bar needs more base rows than `limit`, that whole bar is served anyway so paging
always progresses (an assumption: Polygon's behaviour there is undocumented).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache

import numpy as np
import pandas as pd

from marketdata_pipeline.sandbox.calendar import (
    ET,
    MINUTE_MS,
    days_between,
    is_crypto,
    local_date_of,
    local_midnight_ms,
    to_ms,
    trading_day,
    zone,
)
from marketdata_pipeline.sandbox.revisions import NO_EDITS, Edits
from marketdata_pipeline.sandbox.synthetic import WIRE_COLUMNS, served_day_bars, split_factor

INTRADAY_UNIT_MINUTES = {"minute": 1, "hour": 60}
DAY_LEVEL = ("day", "week", "month", "quarter", "year")
TIMESPANS = tuple(INTRADAY_UNIT_MINUTES) + DAY_LEVEL
_PRICES = ("o", "h", "l", "c", "vw")


@dataclass(frozen=True)
class Page:
    bars: pd.DataFrame  # WIRE_COLUMNS, in the requested sort order
    query_count: int  # base aggregates read
    next_bound_ms: int | None  # asc: the next page's `from`; desc: the next page's `to`; None: last page


def as_of_date(now_ms: int | None) -> date | None:
    return None if now_ms is None else local_date_of(now_ms, ET)


def window_ms(symbol: str, start: date | datetime | int, end: date | datetime | int) -> tuple[int, int]:
    """Resolve `from`/`to` as the endpoint does: a date means that whole local day, an int is Unix ms."""
    tz = zone(symbol)

    def resolve(value, is_end: bool) -> int:
        if isinstance(value, datetime):
            return to_ms(value)
        if isinstance(value, date):
            return local_midnight_ms(value + timedelta(days=1), tz) - 1 if is_end else local_midnight_ms(value, tz)
        return int(value)

    return resolve(start, False), resolve(end, True)


def bars(
    symbol: str,
    multiplier: int,
    timespan: str,
    start: date | datetime | int,
    end: date | datetime | int,
    adjusted: bool,
    now: datetime | None = None,
    edits: Edits = NO_EDITS,
    anchor_minutes: int = 0,
) -> pd.DataFrame:
    """Every bar the range endpoint serves for this window (all pages, ascending), under the sandbox
    config's corrections `edits` (`SandboxConfig.edits`) and intraday grid (`intraday_anchor_minutes`)."""
    start_ms, end_ms = window_ms(symbol, start, end)
    now_ms = None if now is None else to_ms(now)
    return page(
        symbol, multiplier, timespan, start_ms, end_ms, adjusted, None, False, now_ms, edits, anchor_minutes
    ).bars


def page(
    symbol: str,
    multiplier: int,
    timespan: str,
    start_ms: int,
    end_ms: int,
    adjusted: bool,
    limit: int | None,
    descending: bool,
    now_ms: int | None,
    edits: Edits = NO_EDITS,
    anchor_minutes: int = 0,
) -> Page:
    """One page of the range endpoint. `limit=None` reads everything."""
    rows = _Collector(limit)
    for chunk in _base_rows(
        symbol, multiplier, timespan, start_ms, end_ms, adjusted, descending, now_ms, edits, anchor_minutes
    ):
        if rows.add(chunk):
            break
    taken, next_bound = rows.select()
    if descending:
        taken = {k: v[::-1] for k, v in taken.items()}
    result = _roll_up(taken)
    if descending:
        result = result.iloc[::-1].reset_index(drop=True)
    return Page(result, len(taken["t_ms"]), next_bound)


def daily_row(symbol: str, local_date: date, edits: Edits = NO_EDITS) -> tuple | None:
    """The unadjusted 1d bar (WIRE_COLUMNS order, t = local midnight) of one trading day, or None."""
    day = trading_day(is_crypto(symbol), local_date)
    if day is None:
        return None
    return _daily_row(symbol, local_date, edits.within(symbol, day.midnight_ms, day.next_midnight_ms))


@lru_cache(maxsize=262_144)
def _daily_row(symbol: str, local_date: date, edits: Edits) -> tuple | None:
    minutes = served_day_bars(symbol, local_date, edits)
    if minutes is None or len(minutes["t_ms"]) == 0:
        return None
    day = trading_day(is_crypto(symbol), local_date)
    v = minutes["v"]
    return (
        day.midnight_ms,
        float(minutes["o"][0]),
        float(minutes["h"].max()),
        float(minutes["l"].min()),
        float(minutes["c"][-1]),
        float(v.sum()),
        float((minutes["vw"] * v).sum() / v.sum()),
        int(minutes["n"].sum()),
    )


def daily_bar(
    symbol: str, local_date: date, adjusted: bool, now_ms: int | None, edits: Edits = NO_EDITS
) -> dict | None:
    """The session's 1d bar as a dict if it is complete by `now_ms` (used by grouped daily and prev)."""
    row = daily_row(symbol, local_date, edits)
    day = trading_day(is_crypto(symbol), local_date)
    if row is None or (now_ms is not None and day.next_midnight_ms > now_ms):
        return None
    bar = dict(zip(WIRE_COLUMNS, row))
    if adjusted:
        factor = split_factor(symbol, local_date, as_of_date(now_ms))
        bar.update({k: bar[k] / factor for k in _PRICES}, v=bar["v"] * factor)
    return bar


# --- base rows -------------------------------------------------------------------------------------------


def _base_rows(
    symbol, multiplier, timespan, start_ms, end_ms, adjusted, descending, now_ms, edits, anchor_minutes
) -> Iterator[dict]:
    """Per trading day, the base rows inside the window with their bucket start/end, in traversal order."""
    tz = zone(symbol)
    as_of = as_of_date(now_ms)
    if timespan in INTRADAY_UNIT_MINUTES:
        size_ms = multiplier * INTRADAY_UNIT_MINUTES[timespan] * MINUTE_MS
        anchor_ms = anchor_minutes * MINUTE_MS
        first_bucket = _intraday_snap(start_ms, size_ms, tz, anchor_ms)
        last_bucket = _intraday_snap(end_ms, size_ms, tz, anchor_ms)
        first_day, last_day = local_date_of(first_bucket, tz), local_date_of(last_bucket, tz)
    else:
        unit = _DayUnits(timespan, multiplier, local_date_of(start_ms, tz))
        first_day = unit.bucket_start(local_date_of(start_ms, tz))
        last_day = unit.bucket_end(local_date_of(end_ms, tz)) - timedelta(days=1)
    days = days_between(symbol, first_day, last_day)
    for day in reversed(days) if descending else days:
        if timespan in INTRADAY_UNIT_MINUTES:
            chunk = served_day_bars(symbol, day.local_date, edits)
            if chunk is None:
                continue
            grid = day.midnight_ms + anchor_ms + (chunk["t_ms"] - day.midnight_ms - anchor_ms) // size_ms * size_ms
            bucket = np.maximum(grid, day.midnight_ms)
            bucket_end = np.minimum(grid + size_ms, day.next_midnight_ms)
            keep = (bucket >= first_bucket) & (bucket <= last_bucket)
            chunk = {k: v[keep] for k, v in chunk.items()}
            chunk["bucket"], chunk["bucket_end"] = bucket[keep], bucket_end[keep]
        else:
            row = daily_row(symbol, day.local_date, edits)
            if row is None:
                continue
            chunk = {k: np.array([v]) for k, v in zip(WIRE_COLUMNS, row)}
            start_day = unit.bucket_start(day.local_date)
            chunk["bucket"] = np.array([local_midnight_ms(start_day, tz)])
            chunk["bucket_end"] = np.array([local_midnight_ms(unit.bucket_end(day.local_date), tz)])
        if now_ms is not None:
            chunk = {k: v[chunk["bucket_end"] <= now_ms] for k, v in chunk.items()}
        if len(chunk["t_ms"]) == 0:
            continue
        if adjusted:
            factor = split_factor(symbol, day.local_date, as_of)
            if factor != 1.0:
                chunk.update({k: chunk[k] / factor for k in _PRICES}, v=chunk["v"] * factor)
        if descending:
            chunk = {k: v[::-1] for k, v in chunk.items()}
        yield chunk


def _intraday_snap(ms: int, size_ms: int, tz, anchor_ms: int) -> int:
    """Start of the intraday bucket containing the instant `ms`."""
    midnight = local_midnight_ms(local_date_of(ms, tz), tz)
    origin = midnight + anchor_ms
    return max(origin + (ms - origin) // size_ms * size_ms, midnight)


class _DayUnits:
    """Day-level bucket arithmetic: each unit (day, week, month, ...) gets an integer index."""

    def __init__(self, timespan: str, multiplier: int, anchor: date):
        self.timespan, self.multiplier = timespan, multiplier
        self.anchor = self._index(anchor)

    def _index(self, d: date) -> int:
        if self.timespan == "day":
            return d.toordinal()
        if self.timespan == "week":  # ordinal % 7 == 0 is a Sunday
            return (d.toordinal() - (d.toordinal() % 7)) // 7
        if self.timespan == "month":
            return d.year * 12 + d.month - 1
        if self.timespan == "quarter":
            return d.year * 4 + (d.month - 1) // 3
        return d.year

    def _date(self, index: int) -> date:
        if self.timespan == "day":
            return date.fromordinal(index)
        if self.timespan == "week":
            return date.fromordinal(index * 7)
        if self.timespan == "month":
            return date(index // 12, index % 12 + 1, 1)
        if self.timespan == "quarter":
            return date(index // 4, index % 4 * 3 + 1, 1)
        return date(index, 1, 1)

    def _bucket(self, d: date) -> int:
        return self.anchor + (self._index(d) - self.anchor) // self.multiplier * self.multiplier

    def bucket_start(self, d: date) -> date:
        return self._date(self._bucket(d))

    def bucket_end(self, d: date) -> date:
        return self._date(self._bucket(d) + self.multiplier)


# --- page selection and roll-up --------------------------------------------------------------------------


class _Collector:
    """Accumulates base rows (traversal order) until a page's worth plus its bucket boundary is known."""

    def __init__(self, limit: int | None):
        self.limit = limit
        self.chunks: list[dict] = []
        self.buckets: list[np.ndarray] = []
        self.count = 0

    def add(self, chunk: dict) -> bool:
        """Returns True once no further rows can change the page."""
        self.chunks.append(chunk)
        self.count += len(chunk["t_ms"])
        if self.limit is None or self.count <= self.limit:
            return False
        buckets = np.concatenate([c["bucket"] for c in self.chunks])
        # Complete once a row beyond the limit lies in a later bucket than the first and the limit-th rows.
        return buckets[-1] != buckets[self.limit - 1] and buckets[-1] != buckets[0]

    def select(self) -> tuple[dict, int | None]:
        if not self.chunks:
            empty = {k: np.array([], dtype=np.int64 if k in ("t_ms", "n", "bucket") else float) for k in WIRE_COLUMNS}
            return {**empty, "bucket": np.array([], dtype=np.int64)}, None
        rows = {k: np.concatenate([c[k] for c in self.chunks]) for k in self.chunks[0]}
        bucket = rows["bucket"]
        if self.limit is None or len(bucket) <= self.limit:
            return rows, None
        cut = self.limit
        if bucket[cut] == bucket[cut - 1]:  # the limit falls inside a bar: drop that partial bar
            cut = int(np.argmax(bucket == bucket[cut - 1]))
            if cut == 0:  # one bar alone exceeds the limit: serve it whole
                cut = int(np.argmax(bucket != bucket[0]))
        return {k: v[:cut] for k, v in rows.items()}, int(bucket[cut])


def _roll_up(rows: dict) -> pd.DataFrame:
    """Aggregate ascending base rows by bucket: o first, c last, h max, l min, v/n sums, vw volume-weighted."""
    bucket = rows["bucket"]
    if len(bucket) == 0:
        return pd.DataFrame({k: rows[k] for k in WIRE_COLUMNS})
    starts = np.flatnonzero(np.concatenate(([True], bucket[1:] != bucket[:-1])))
    ends = np.concatenate((starts[1:], [len(bucket)])) - 1
    v = np.add.reduceat(rows["v"], starts)
    return pd.DataFrame(
        {
            "t_ms": bucket[starts].astype(np.int64),
            "o": rows["o"][starts],
            "h": np.maximum.reduceat(rows["h"], starts),
            "l": np.minimum.reduceat(rows["l"], starts),
            "c": rows["c"][ends],
            "v": v,
            "vw": np.add.reduceat(rows["vw"] * rows["v"], starts) / v,
            "n": np.add.reduceat(rows["n"], starts).astype(np.int64),
        }
    )
