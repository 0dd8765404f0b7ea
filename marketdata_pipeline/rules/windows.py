"""Which time window a materialization fetches: incremental from the last stored bar, re-fetching the market's
last few sessions so bars the vendor revised or deleted after we stored them get corrected."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from marketdata_pipeline.rules.market_calendar import MAX_CLOSED_DAYS, local_date, local_midnight, session_for
from marketdata_pipeline.timeframes import Timeframe

DEFAULT_HISTORY = {
    "1d": timedelta(days=5 * 365),
    "1h": timedelta(days=2 * 365),
    "4h": timedelta(days=2 * 365),
    "15m": timedelta(days=365),
    "5m": timedelta(days=365),
}


def revision_start(symbol: str, last_bar: datetime, sessions: int, now: datetime) -> datetime:
    """Local midnight of the oldest of the market's `sessions` newest sessions that have begun by `now` (NYSE
    sessions from their 04:00 ET extended open for stocks, UTC days for crypto), or of the day holding
    `last_bar` if that is older: the last sessions are re-read, and nothing after the last stored bar is skipped."""
    day, found = local_date(symbol, now), 0
    for _ in range(sessions * (MAX_CLOSED_DAYS + 1)):
        session = session_for(symbol, day)
        if session is not None and session.open <= now:
            found += 1
            if found == sessions:
                break
        day -= timedelta(days=1)
    return local_midnight(symbol, min(day, local_date(symbol, last_bar)))


def fetch_window(
    symbol: str,
    tf: Timeframe,
    last_bar: datetime | None,
    now: datetime,
    history_start: date | None,
    revision_sessions: int,
) -> tuple[datetime, datetime]:
    """(start, end) instants to request; `end` reaches past now, the API only serves what exists.

    Every stored bar in [start, end] that the answer lacks has been deleted by the vendor. The history start
    is a session date in the market's zone, so no bar of an earlier session is ever fetched."""
    first = local_midnight(symbol, history_start) if history_start is not None else None
    if last_bar is not None:
        start = revision_start(symbol, last_bar, revision_sessions, now)
        if first is not None:
            start = max(start, first)
    elif first is not None:
        start = first
    else:
        start = local_midnight(symbol, local_date(symbol, now - DEFAULT_HISTORY[tf.key]))
    return start, now + timedelta(days=1)
