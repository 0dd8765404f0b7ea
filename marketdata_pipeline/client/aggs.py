"""Aggregate bars: the range endpoint (one ticker, many bars) and grouped daily (one day, every ticker)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

import pandas as pd

from marketdata_pipeline.bars import BAR_COLUMNS, MAX_PAGE_LIMIT, TIME_DTYPE
from marketdata_pipeline.client.errors import PolygonResponseError
from marketdata_pipeline.client.params import query_value, time_param
from marketdata_pipeline.client.transport import Transport
from marketdata_pipeline.timeframes import timeframe

__all__ = ["BAR_COLUMNS", "MAX_PAGE_LIMIT", "AggsAPI", "bars_frame", "grouped_frame"]

_PRICE_FIELDS = {"o": "open", "h": "high", "l": "low", "c": "close", "v": "volume", "vw": "vwap"}
_REQUIRED = ("t", "o", "h", "l", "c", "v")

# Grouped daily endpoints and the zone whose midnight a daily bar is stamped at by the range endpoint.
GROUPED_MARKETS = {
    "stocks": ("/v2/aggs/grouped/locale/us/market/stocks", "America/New_York"),
    "crypto": ("/v2/aggs/grouped/locale/global/market/crypto", "UTC"),
}


def bars_frame(results: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """Polygon bar objects → the pipeline's bar columns; missing `vw`/`n` become NaN/NA."""
    raw = pd.DataFrame.from_records(list(results), columns=[*_REQUIRED, "vw", "n"])
    missing = [field for field in _REQUIRED if raw[field].isna().any()]
    if missing:
        raise PolygonResponseError(f"bars without required fields {missing}")
    frame = pd.DataFrame({"time": pd.to_datetime(raw["t"].astype("int64"), unit="ms", utc=True).astype(TIME_DTYPE)})
    for field, column in _PRICE_FIELDS.items():
        frame[column] = raw[field].astype("float64")
    frame["trade_count"] = raw["n"].astype("Int64")
    return frame


def grouped_frame(results: Iterable[dict[str, Any]], session_tz: str) -> pd.DataFrame:
    """Grouped-daily bars with a `symbol` column, re-stamped at midnight of their session day.

    Grouped daily (and prev) stamp `t` at the 16:00 ET close while range 1d bars use 00:00 ET;
    flooring to the day (rather than assuming 16:00) stays correct if Polygon ever changes the stamp.
    """
    results = list(results)
    frame = bars_frame(results)
    frame["time"] = frame["time"].dt.tz_convert(session_tz).dt.normalize().dt.tz_convert("UTC").astype(TIME_DTYPE)
    frame.insert(0, "symbol", pd.Series([r.get("T") for r in results], dtype="string"))
    return frame.sort_values("symbol", ignore_index=True)


def check_adjusted(body: dict[str, Any], expected: bool, what: str) -> None:
    # Whether `adjusted` survives into pagination cursors is unverified, so every page is checked.
    if body.get("adjusted") is not expected:
        raise PolygonResponseError(
            f"{what}: asked for adjusted={query_value(expected)} but the page says adjusted={body.get('adjusted')!r}"
        )


class AggsAPI:
    def __init__(self, transport: Transport, *, page_limit: int = MAX_PAGE_LIMIT):
        self._transport = transport
        self.page_limit = page_limit

    def range(
        self, symbol: str, timeframe_key: str, start: date | datetime, end: date | datetime, adjusted: bool = False
    ) -> pd.DataFrame:
        """Every bar of `symbol` in [start, end] (dates are whole days), oldest first, each bar once."""
        tf = timeframe(timeframe_key)
        path = f"/v2/aggs/ticker/{symbol}/range/{tf.multiplier}/{tf.timespan}/{time_param(start)}/{time_param(end)}"
        params = {"adjusted": query_value(adjusted), "sort": "asc", "limit": self.page_limit}
        results: list[dict[str, Any]] = []
        for body in self._transport.paginate(path, params):
            check_adjusted(body, adjusted, f"GET {path}")
            results.extend(body.get("results") or [])
        # Pages may overlap at their edges; the later page is the fresher copy.
        frame = bars_frame(results).drop_duplicates("time", keep="last")
        return frame.sort_values("time", ignore_index=True)

    def grouped_daily(self, day: date, adjusted: bool = False, *, market: str = "stocks") -> pd.DataFrame:
        """One bar per ticker for `day` (`symbol` + bar columns), `time` at the range endpoint's day start."""
        try:
            prefix, session_tz = GROUPED_MARKETS[market]
        except KeyError:
            raise ValueError(f"unknown market {market!r}; expected one of {', '.join(GROUPED_MARKETS)}") from None
        path = f"{prefix}/{time_param(day)}"
        body = self._transport.get(path, {"adjusted": query_value(adjusted)})
        check_adjusted(body, adjusted, f"GET {path}")
        return grouped_frame(body.get("results") or [], session_tz)
