"""Data freshness per symbol × timeframe, measured in market time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from marketdata_pipeline.rules import market_calendar as cal
from marketdata_pipeline.timeframes import timeframe


class State(StrEnum):
    FRESH = "Fresh"
    AGING = "Aging"
    STALE = "Stale"
    MISSING = "Missing"


BAD_STATES = frozenset({State.AGING, State.STALE, State.MISSING})


@dataclass(frozen=True)
class FreshnessRules:
    """Thresholds are market time (trading hours for stocks, wall time for crypto).

    They derive from the original service's wall-clock 1 h / 6 h / 24 h: up to an hour behind is still
    Fresh (an illiquid symbol's last after-hours bars may simply not exist); Stale starts at 24 h, not
    6 h, because a once-a-day pipeline is legitimately up to a day behind the market: past 24 h of
    market time a daily run has been missed.
    """

    publication_delay: timedelta = timedelta(minutes=15)
    fresh_within: timedelta = timedelta(hours=1)
    stale_after: timedelta = timedelta(hours=24)


@dataclass(frozen=True)
class Freshness:
    state: State
    last_bar: datetime | None
    expected_last_bar: datetime
    lag: timedelta | None  # market time from the stored last bar's end to the expected one's end


def expected_last_bar(symbol: str, tf_key: str, now: datetime, rules: FreshnessRules) -> datetime:
    """Start of the newest bar the vendor should have published by `now`."""
    return cal.last_closed_bar(symbol, timeframe(tf_key), now - rules.publication_delay)


def assess(symbol: str, tf_key: str, last_bar: datetime | None, now: datetime, rules: FreshnessRules) -> Freshness:
    expected = expected_last_bar(symbol, tf_key, now, rules)
    if last_bar is None:
        return Freshness(State.MISSING, None, expected, None)
    tf = timeframe(tf_key)
    lag = cal.trading_time(symbol, cal.bar_end(symbol, tf, last_bar), cal.bar_end(symbol, tf, expected))
    if lag <= rules.fresh_within:
        state = State.FRESH
    elif lag < rules.stale_after:
        state = State.AGING
    else:
        state = State.STALE
    return Freshness(state, last_bar, expected, lag)
