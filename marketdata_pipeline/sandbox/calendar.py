"""When a symbol trades: NYSE sessions (with extended hours) for stocks, every minute for `X:` crypto pairs.

A "trading day" is a local calendar day: the America/New_York date for stocks, the UTC date for crypto.
Everything is expressed in Unix milliseconds so the data generator can stay in numpy.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import exchange_calendars as xcals

ET = ZoneInfo("America/New_York")
EPOCH = date(2015, 1, 1)  # synthetic history starts here; nothing trades earlier
LAST_DAY = date(2040, 12, 31)  # end of the exchange calendar we build
MINUTE_MS = 60_000
EXTENDED_OPEN = time(4, 0)
EXTENDED_AFTER_CLOSE = timedelta(hours=4)  # 16:00 close -> 20:00; 13:00 early close -> 17:00


def is_crypto(symbol: str) -> bool:
    return symbol.startswith("X:")


def zone(symbol: str):
    """The zone whose midnight starts a trading day (and a 1d bar) for this symbol."""
    return UTC if is_crypto(symbol) else ET


@dataclass(frozen=True)
class Day:
    """One trading day of one asset class. All instants are UTC ms; `[start, end)` bounds tradable minutes."""

    local_date: date
    midnight_ms: int  # local 00:00 of `local_date`
    next_midnight_ms: int
    start_ms: int  # first tradable minute (extended-hours open for stocks)
    end_ms: int  # end of the last tradable minute (extended-hours close for stocks)
    regular_start_ms: int
    regular_end_ms: int


def to_ms(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError("sandbox instants must be timezone-aware")
    return int(moment.timestamp() * 1000)


def local_midnight_ms(local_date: date, tz) -> int:
    return to_ms(datetime.combine(local_date, time(0), tzinfo=tz))


def local_date_of(ms: int, tz) -> date:
    return datetime.fromtimestamp(ms / 1000, tz=tz).date()


@lru_cache(maxsize=1)
def _nyse():
    return xcals.get_calendar("XNYS", start=EPOCH.isoformat(), end=LAST_DAY.isoformat())


@lru_cache(maxsize=65_536)
def trading_day(symbol_is_crypto: bool, local_date: date) -> Day | None:
    """The trading day on `local_date`, or None (weekend, holiday, outside the synthetic history)."""
    if not EPOCH <= local_date <= LAST_DAY:
        return None
    tz = UTC if symbol_is_crypto else ET
    midnight = local_midnight_ms(local_date, tz)
    next_midnight = local_midnight_ms(local_date + timedelta(days=1), tz)
    if symbol_is_crypto:
        return Day(local_date, midnight, next_midnight, midnight, next_midnight, midnight, next_midnight)
    cal = _nyse()
    if not cal.is_session(local_date.isoformat()):
        return None
    regular_open = to_ms(cal.session_open(local_date.isoformat()).to_pydatetime())
    regular_close = to_ms(cal.session_close(local_date.isoformat()).to_pydatetime())
    extended_open = to_ms(datetime.combine(local_date, EXTENDED_OPEN, tzinfo=ET))
    extended_close = regular_close + int(EXTENDED_AFTER_CLOSE.total_seconds() * 1000)
    return Day(local_date, midnight, next_midnight, extended_open, extended_close, regular_open, regular_close)


def days_between(symbol: str, first: date, last: date) -> list[Day]:
    """Trading days with `first <= local_date <= last`, in order."""
    crypto = is_crypto(symbol)
    first, last = max(first, EPOCH), min(last, LAST_DAY)
    out = []
    d = first
    while d <= last:
        day = trading_day(crypto, d)
        if day is not None:
            out.append(day)
        d += timedelta(days=1)
    return out
