"""The five bar sizes the pipeline stores and how each maps onto Polygon's aggregates API."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from functools import cached_property

_UNITS = {"minute": timedelta(minutes=1), "hour": timedelta(hours=1), "day": timedelta(days=1)}


@dataclass(frozen=True)
class Timeframe:
    key: str  # partition key, e.g. "15m"
    multiplier: int  # Polygon path parameter
    timespan: str  # Polygon path parameter: "minute" | "hour" | "day"

    @cached_property  # read once per bar by the gap ledger
    def length(self) -> timedelta:
        return self.multiplier * _UNITS[self.timespan]

    @property
    def is_intraday(self) -> bool:
        return self.timespan != "day"


TIMEFRAMES: dict[str, Timeframe] = {
    tf.key: tf
    for tf in (
        Timeframe("1d", 1, "day"),
        Timeframe("1h", 1, "hour"),
        Timeframe("4h", 4, "hour"),
        Timeframe("15m", 15, "minute"),
        Timeframe("5m", 5, "minute"),
    )
}


def timeframe(key: str) -> Timeframe:
    try:
        return TIMEFRAMES[key]
    except KeyError:
        raise ValueError(f"unknown timeframe {key!r}; expected one of {', '.join(TIMEFRAMES)}") from None
