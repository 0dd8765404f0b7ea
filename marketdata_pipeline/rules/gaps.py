"""The gap ledger: every bar the calendar says could exist but is not stored, with the reason we know."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

import pandas as pd

from marketdata_pipeline.rules import market_calendar as cal
from marketdata_pipeline.timeframes import Timeframe, timeframe


class Reason(StrEnum):
    MARKET_CLOSED = "market_closed"  # a weekday holiday, or the hours an early close cut off
    NO_TRADES = "no_trades"  # the symbol traded that day, just not in this window
    NOT_YET_PUBLISHED = "not_yet_published"  # the window ended within the vendor's publication delay
    UNKNOWN = "unknown"  # nothing stored for the whole session: a halt, a vendor hole, a failed fetch


# Reasons that are a defect of the stored data rather than a fact about the market or the vendor's clock.
DEFECTS = frozenset({Reason.NO_TRADES, Reason.UNKNOWN})


@dataclass(frozen=True)
class Gap:
    time: datetime  # start of the missing bar, UTC
    reason: Reason


def ledger(symbol: str, tf_key: str, bars: pd.DataFrame, now: datetime, publication_delay: timedelta) -> list[Gap]:
    """Gaps between the first and the last stored bar, plus the bars still inside the publication delay.

    Stock intraday bars are expected in regular hours only: pre- and after-market trading is too thin
    for a missing bar to mean anything. Bars after the last stored one that are overdue are a freshness
    matter (partition_health), not gaps.
    """
    if bars.empty:
        return []
    tf = timeframe(tf_key)
    stamps = pd.to_datetime(bars["time"], utc=True)
    times = list(stamps.dt.to_pydatetime())
    days_with_bars = set(stamps.dt.tz_convert(cal.zone(symbol)).dt.date)
    interior = _interior(symbol, tf, times, days_with_bars)
    return sorted(interior + _unpublished(symbol, tf, times[-1], now, publication_delay), key=lambda g: g.time)


def _interior(symbol: str, tf: Timeframe, times: list[datetime], days_with_bars: set[date]) -> list[Gap]:
    present = set(times)
    first, last = times[0], times[-1]
    crypto = cal.is_crypto(symbol)
    gaps = []
    for day in cal.days(cal.local_date(symbol, first), cal.local_date(symbol, last)):
        session = cal.session_for(symbol, day)
        if session is None:
            if day.weekday() < 5:  # weekends are not gaps for anyone; holidays look like one
                would_be = [cal.local_midnight(symbol, day)] if not tf.is_intraday else cal.normal_regular_bars(symbol, tf, day)
                gaps += [Gap(b, Reason.MARKET_CLOSED) for b in would_be if first <= b <= last]
            continue
        expected = cal.trading_bars(tf, session) if crypto or not tf.is_intraday else cal.regular_bars(tf, session)
        reason = Reason.NO_TRADES if tf.is_intraday and day in days_with_bars else Reason.UNKNOWN
        gaps += [Gap(b, reason) for b in expected if first <= b <= last and b not in present]
        if tf.is_intraday and not crypto:
            cut_off = set(cal.normal_regular_bars(symbol, tf, day)) - set(expected)
            gaps += [Gap(b, Reason.MARKET_CLOSED) for b in sorted(cut_off) if first <= b <= last and b not in present]
    return gaps


def _unpublished(symbol: str, tf: Timeframe, last: datetime, now: datetime, delay: timedelta) -> list[Gap]:
    # A bar that ended within the delay started at most one (1d) bar before now: two days back suffice.
    start_day = max(cal.local_date(symbol, last), cal.local_date(symbol, now) - timedelta(days=2))
    out = []
    for session in cal.sessions_between(symbol, start_day, cal.local_date(symbol, now)):
        for b in cal.trading_bars(tf, session):
            if b > last and now - delay < cal.bar_end(symbol, tf, b) <= now:
                out.append(Gap(b, Reason.NOT_YET_PUBLISHED))
    return out
