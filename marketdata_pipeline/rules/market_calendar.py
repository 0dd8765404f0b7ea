"""When bars should exist: NYSE sessions with extended hours for stocks, every minute of every day for crypto.

Bars follow Polygon's bucketing: stocks in America/New_York, crypto in UTC; intraday buckets are aligned to
local midnight (4h -> 00, 04, 08, ...), a 1d bar starts at local midnight. A bar is expected when its window
overlaps tradable time.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import exchange_calendars as xcals

from marketdata_pipeline.symbols import asset_class
from marketdata_pipeline.timeframes import Timeframe

ET = ZoneInfo("America/New_York")
EXTENDED_OPEN = time(4, 0)
AFTER_HOURS = timedelta(hours=4)  # 16:00 close -> 20:00; 13:00 early close -> 17:00
# What a weekday's regular hours would be if the exchange were open: a holiday's would-be bars are
# recorded as "market closed" rather than silently skipped.
NORMAL_REGULAR_HOURS = (time(9, 30), time(16, 0))
# Longest run of calendar days without a session (a weekend plus a long holiday closure, with margin).
MAX_CLOSED_DAYS = 10
# exchange_calendars defaults to the last 20 years and raises DateOutOfBounds outside its bounds: cover
# any history the vendor has, and a year ahead, rebuilt before a long-running process (the daemon,
# the code server) reaches the end.
CALENDAR_START = date(1990, 1, 1)
_CALENDAR_AHEAD = timedelta(days=365)
_REBUILD_BEFORE_END = timedelta(days=30)


@dataclass(frozen=True)
class Session:
    """One trading day; instants are UTC and `[open, close)` bounds tradable time."""

    day: date  # local date: ET for stocks, UTC for crypto
    midnight: datetime
    next_midnight: datetime
    open: datetime
    close: datetime
    regular_open: datetime
    regular_close: datetime


def is_crypto(symbol: str) -> bool:
    return asset_class(symbol) == "crypto"


def zone(symbol: str):
    return UTC if is_crypto(symbol) else ET


def local_date(symbol: str, instant: datetime) -> date:
    return instant.astimezone(zone(symbol)).date()


def local_midnight(symbol: str, day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone(symbol)).astimezone(UTC)


_calendar: xcals.ExchangeCalendar | None = None


def nyse(today: date | None = None) -> xcals.ExchangeCalendar:
    """The NYSE calendar from CALENDAR_START to a year past `today` (default: the wall clock's date)."""
    global _calendar
    today = today or datetime.now(UTC).date()
    if _calendar is None or _calendar.last_session.date() < today + _REBUILD_BEFORE_END:
        _calendar = xcals.get_calendar("XNYS", start=CALENDAR_START.isoformat(), end=(today + _CALENDAR_AHEAD).isoformat())
    return _calendar


@lru_cache(maxsize=65_536)
def _session(symbol_is_crypto: bool, day: date) -> Session | None:
    """The session on local date `day`, or None on weekends and holidays (stocks only)."""
    tz = UTC if symbol_is_crypto else ET
    midnight = datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)
    next_midnight = datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz).astimezone(UTC)
    if symbol_is_crypto:
        return Session(day, midnight, next_midnight, midnight, next_midnight, midnight, next_midnight)
    cal = nyse()
    if not cal.is_session(day.isoformat()):
        return None
    regular_open = cal.session_open(day.isoformat()).to_pydatetime()
    regular_close = cal.session_close(day.isoformat()).to_pydatetime()
    extended_open = datetime.combine(day, EXTENDED_OPEN, tzinfo=ET).astimezone(UTC)
    return Session(day, midnight, next_midnight, extended_open, regular_close + AFTER_HOURS, regular_open, regular_close)


def session_for(symbol: str, day: date) -> Session | None:
    return _session(is_crypto(symbol), day)


def days(first: date, last: date) -> Iterator[date]:
    d = first
    while d <= last:
        yield d
        d += timedelta(days=1)


def sessions_between(symbol: str, first: date, last: date) -> list[Session]:
    return [s for d in days(first, last) if (s := session_for(symbol, d)) is not None]


def bar_end(symbol: str, tf: Timeframe, start: datetime) -> datetime:
    # A 1d bar ends at the next local midnight, which is not always 24 h later (daylight saving).
    if not tf.is_intraday:
        return local_midnight(symbol, local_date(symbol, start) + timedelta(days=1))
    return start + tf.length


@lru_cache(maxsize=65536)  # every symbol of a market shares its sessions
def bars_overlapping(
    tf: Timeframe, midnight: datetime, next_midnight: datetime, start: datetime, end: datetime
) -> tuple[datetime, ...]:
    """Starts of the day's bars (grid from local midnight) whose window overlaps `[start, end)`."""
    if not tf.is_intraday:
        return (midnight,) if start < next_midnight and end > midnight else ()
    out = []
    t = midnight
    while t < next_midnight and t < end:
        if t + tf.length > start:
            out.append(t)
        t += tf.length
    return tuple(out)


def trading_bars(tf: Timeframe, s: Session) -> tuple[datetime, ...]:
    """Bars of a session that may exist: those overlapping tradable (extended) hours."""
    return bars_overlapping(tf, s.midnight, s.next_midnight, s.open, s.close)


def regular_bars(tf: Timeframe, s: Session) -> tuple[datetime, ...]:
    return bars_overlapping(tf, s.midnight, s.next_midnight, s.regular_open, s.regular_close)


def normal_regular_bars(symbol: str, tf: Timeframe, day: date) -> tuple[datetime, ...]:
    """The regular-hours bars an ordinary weekday would have (for holidays and early closes)."""
    midnight = local_midnight(symbol, day)
    next_midnight = local_midnight(symbol, day + timedelta(days=1))
    opens, closes = (datetime.combine(day, t, tzinfo=ET).astimezone(UTC) for t in NORMAL_REGULAR_HOURS)
    return bars_overlapping(tf, midnight, next_midnight, opens, closes)


def last_closed_bar(symbol: str, tf: Timeframe, cutoff: datetime) -> datetime:
    """Start of the newest bar that may exist and whose window has ended by `cutoff`."""
    day = local_date(symbol, cutoff)
    for _ in range(MAX_CLOSED_DAYS + 1):
        s = session_for(symbol, day)
        if s is not None:
            ended = [b for b in trading_bars(tf, s) if bar_end(symbol, tf, b) <= cutoff]
            if ended:
                return ended[-1]
        day -= timedelta(days=1)
    raise ValueError(f"no session within {MAX_CLOSED_DAYS} days before {cutoff.isoformat()}")


def trading_time(symbol: str, start: datetime, end: datetime) -> timedelta:
    """Tradable time inside `[start, end)`: wall time for crypto; extended session hours for stocks,
    so nights, weekends and holidays add nothing."""
    if end <= start:
        return timedelta(0)
    if is_crypto(symbol):
        return end - start
    total = timedelta(0)
    for s in sessions_between(symbol, local_date(symbol, start), local_date(symbol, end)):
        overlap = min(end, s.close) - max(start, s.open)
        if overlap > timedelta(0):
            total += overlap
    return total
