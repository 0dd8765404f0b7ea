"""How many Polygon requests a set of partition fetches costs, and which endpoint each partition should use.

Three ways to get a partition's bars:
- `range`: the per-symbol aggregates endpoint, paged. Polygon's `limit` (at most MAX_PAGE_LIMIT) counts BASE
  aggregates (minutes for minute/hour timeframes, days for 1d), so 1h or 4h of a window costs as many pages
  as 5m of it.
- `derived`: 15m/1h/4h rolled up from stored 5m bars (0 requests; the 5m must be fetched first).
- `grouped`: grouped daily, one request per session returning the 1d bar of every ticker of a market.

Estimates are upper bounds of what the vendor counts: every tradable minute is assumed to hold a trade.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal

from marketdata_pipeline.bars import MAX_PAGE_LIMIT
from marketdata_pipeline.rules.derive import BASE_TIMEFRAME, DERIVABLE
from marketdata_pipeline.rules.market_calendar import Session, local_date, session_for, sessions_between, trading_time
from marketdata_pipeline.symbols import asset_class
from marketdata_pipeline.timeframes import timeframe

Method = Literal["range", "grouped", "derived"]
MARKETS = ("stocks", "crypto")  # asset classes, which are also grouped daily's markets
# The conformance probe of one asset class: one native fetch per derivable timeframe (its 5m bars are stored).
PROBE_REQUESTS = len(DERIVABLE)


@dataclass(frozen=True)
class PartitionNeed:
    """A partition's fetch window (rules.windows.fetch_window) and whether it has bars stored already."""

    symbol: str
    timeframe: str
    start: datetime
    end: datetime
    has_stored_bars: bool


@dataclass(frozen=True)
class PartitionPlan:
    symbol: str
    timeframe: str
    method: Method
    start: datetime
    end: datetime
    requests: int  # range pages; 0 for derived and grouped (grouped requests are counted per market)
    added: bool = False  # a 5m fetch the input did not ask for, pulled in by derived partitions


@dataclass(frozen=True)
class DailyChoice:
    """How one market's 1d partitions with stored bars are updated: the cheaper of the two, ties to range."""

    market: str
    symbols: int
    sessions: tuple[date, ...]  # closed sessions any of them needs: grouped daily's requests
    range_requests: int

    @property
    def method(self) -> Method:
        return "grouped" if len(self.sessions) < self.range_requests else "range"


@dataclass(frozen=True)
class RequestPlan:
    partitions: tuple[PartitionPlan, ...]  # the input's partitions, then the added 5m fetches
    daily: tuple[DailyChoice, ...]  # per market with 1d partitions that have stored bars
    requests: Mapping[str, int]  # per endpoint: range, grouped_daily, probe
    rate_per_minute: int | None = None

    @property
    def grouped_sessions(self) -> dict[str, tuple[date, ...]]:
        """Grouped daily sessions to fetch, per market where grouped won."""
        return {c.market: c.sessions for c in self.daily if c.method == "grouped"}

    @property
    def total_requests(self) -> int:
        return sum(self.requests.values())

    @property
    def floor_seconds(self) -> float | None:
        """The least time the requests take at the rate limit; None without one."""
        return None if self.rate_per_minute is None else self.total_requests / self.rate_per_minute * 60

    def count(self, method: Method) -> int:
        return sum(p.method == method for p in self.partitions if not p.added)

    def summary(self) -> str:
        added = sum(p.added for p in self.partitions)
        lines = [
            f"{len(self.partitions) - added} partitions: {self.count('range')} range, {self.count('derived')} "
            f"derived, {self.count('grouped')} grouped daily"
            + (f" (+{added} 5m fetches for derivation)" if added else "")
        ]
        for choice in self.daily:
            lines.append(
                f"1d {choice.market}: {choice.method} ({len(choice.sessions)} grouped daily sessions vs "
                f"{choice.range_requests} range requests for {choice.symbols} symbols)"
            )
        by_endpoint = ", ".join(f"{name} {n}" for name, n in self.requests.items() if n or name != "probe")
        lines.append(f"requests: {by_endpoint}; total {self.total_requests}")
        if self.floor_seconds is not None:
            lines.append(f"at {self.rate_per_minute} requests/min this takes {duration_text(self.floor_seconds)}")
        return "\n".join(lines)

    def as_metadata(self) -> dict[str, int | str]:
        """Flat values for Dagster metadata."""
        out: dict[str, int | str] = {
            "partitions": sum(not p.added for p in self.partitions),
            **{f"partitions_{m}": self.count(m) for m in ("range", "derived", "grouped")},
            "added_5m_fetches": sum(p.added for p in self.partitions),
            **{f"requests_{name}": n for name, n in self.requests.items()},
            "requests_total": self.total_requests,
        }
        for choice in self.daily:
            out[f"daily_{choice.market}"] = choice.method
            out[f"grouped_sessions_{choice.market}"] = len(choice.sessions)
        if self.floor_seconds is not None:
            out["rate_per_minute"] = self.rate_per_minute
            out["floor_seconds"] = math.ceil(self.floor_seconds)
        return out


def range_pages(base_aggregates: int, limit: int = MAX_PAGE_LIMIT) -> int:
    """Pages of one range request that reads `base_aggregates` base rows: the one page formula (the benchmark
    feeds it the sandbox's exact counts, the planner its calendar bound). An empty window still costs one."""
    return max(1, math.ceil(base_aggregates / limit))


def base_aggregates(symbol: str, tf: str, start: datetime, end: datetime, now: datetime) -> int:
    """Upper bound of the base aggregates a range request over [start, end) reads by `now`: tradable minutes
    (960 per stock session, 04:00-20:00 ET, fewer on early closes; 1440 per crypto day) for intraday
    timeframes, sessions for 1d."""
    stop = min(end, now)
    if timeframe(tf).is_intraday:
        return int(trading_time(symbol, start, stop) // timedelta(minutes=1))
    return len(_sessions(symbol, start, stop))


def plan_requests(
    needs: Iterable[PartitionNeed],
    derive: Mapping[str, Collection[str]],
    now: datetime,
    rate_per_minute: int | None = None,
    *,
    grouped: bool = True,
    probe: Collection[str] = (),
) -> RequestPlan:
    """The cheapest way to fetch `needs` by `now`.

    `derive`: per asset class, the timeframes built from 5m (empty when derivation is off or the conformance
    probe disagreed). `grouped`: whether grouped daily may replace 1d range requests. `probe`: asset
    classes whose conformance probe this run pays for (PROBE_REQUESTS each).
    """
    needs = list(needs)
    for market, tfs in derive.items():
        if not set(tfs) <= set(DERIVABLE):
            raise ValueError(f"{market}: only {', '.join(sorted(DERIVABLE))} can be derived, got {sorted(tfs)}")
    daily = _daily_choices(needs, now) if grouped else ()
    chosen = {c.market: c for c in daily if c.method == "grouped"}
    plans, derived = [], []
    for need in needs:
        market = asset_class(need.symbol)
        if need.timeframe in derive.get(market, ()):
            derived.append(need)
            plans.append(_plan(need, "derived", 0))
        elif need.timeframe == "1d" and need.has_stored_bars and market in chosen:
            plans.append(_grouped(need, chosen[market]))
        else:
            plans.append(_range(need, now))
    plans = _with_base_fetches(plans, derived, now)

    requests = {
        "range": sum(p.requests for p in plans),
        "grouped_daily": sum(len(c.sessions) for c in chosen.values()),
        "probe": PROBE_REQUESTS * len({asset_class(n.symbol) for n in derived} & set(probe)),
    }
    return RequestPlan(tuple(plans), tuple(daily), requests, rate_per_minute)


def duration_text(seconds: float) -> str:
    """'45 s', '26 min', '3 h 20 min', rounded up: the figure is a floor."""
    seconds = math.ceil(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes = math.ceil(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, rest = divmod(minutes, 60)
    return f"{hours} h {rest} min" if rest else f"{hours} h"


# --- pieces ----------------------------------------------------------------------------------------------


def _plan(need: PartitionNeed, method: Method, requests: int, added: bool = False) -> PartitionPlan:
    return PartitionPlan(need.symbol, need.timeframe, method, need.start, need.end, requests, added)


def _range(need: PartitionNeed, now: datetime, added: bool = False) -> PartitionPlan:
    pages = range_pages(base_aggregates(need.symbol, need.timeframe, need.start, need.end, now))
    return _plan(need, "range", pages, added)


def _with_base_fetches(plans: list[PartitionPlan], derived: list[PartitionNeed], now: datetime) -> list[PartitionPlan]:
    """Derived bars exist only where 5m bars do: each derived symbol's 5m fetch covers its derived windows,
    widening the input's 5m partition or added when the input has none."""
    windows: dict[str, tuple[datetime, datetime]] = {}
    for n in derived:
        start, end = windows.get(n.symbol, (n.start, n.end))
        windows[n.symbol] = (min(start, n.start), max(end, n.end))
    out = []
    for p in plans:
        if p.timeframe == BASE_TIMEFRAME and p.symbol in windows:
            start, end = windows.pop(p.symbol)
            if start < p.start or end > p.end:
                widened = PartitionNeed(p.symbol, p.timeframe, min(start, p.start), max(end, p.end), False)
                p = _range(widened, now)
        out.append(p)
    added = [PartitionNeed(symbol, BASE_TIMEFRAME, start, end, False) for symbol, (start, end) in windows.items()]
    return out + [_range(n, now, added=True) for n in added]


def _sessions(symbol: str, start: datetime, stop: datetime) -> list[Session]:
    """Sessions inside [start, stop) whose 1d bar is complete by `stop` (it exists from the next local midnight)."""
    if stop <= start:
        return []
    return [
        s
        for s in sessions_between(symbol, local_date(symbol, start), local_date(symbol, stop))
        if s.midnight >= start and s.next_midnight <= stop
    ]


def _daily_choices(needs: list[PartitionNeed], now: datetime) -> tuple[DailyChoice, ...]:
    """Grouped daily vs range per market, for 1d partitions with stored bars only: a first fetch is a
    backfill (one range request covers years) and is how an unknown ticker shows."""
    out = []
    for market in MARKETS:
        updates = [n for n in needs if n.timeframe == "1d" and n.has_stored_bars and asset_class(n.symbol) == market]
        if not updates:
            continue
        sessions = {s.day for n in updates for s in _sessions(n.symbol, n.start, min(n.end, now))}
        range_requests = sum(_range(n, now).requests for n in updates)
        out.append(DailyChoice(market, len({n.symbol for n in updates}), tuple(sorted(sessions)), range_requests))
    return tuple(out)


def _grouped(need: PartitionNeed, choice: DailyChoice) -> PartitionPlan:
    """The partition's window becomes the union of the sessions grouped daily fetches for its market."""
    if not choice.sessions:
        return _plan(need, "grouped", 0)
    first, last = (session_for(need.symbol, d) for d in (choice.sessions[0], choice.sessions[-1]))
    return PartitionPlan(need.symbol, need.timeframe, "grouped", first.midnight, last.next_midnight, 0)
