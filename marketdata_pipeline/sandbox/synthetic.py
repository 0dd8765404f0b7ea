"""Deterministic synthetic market: unadjusted minute bars per symbol, plus split and dividend tables.

Every value is a pure function of (symbol, trading day, the configured corrections of that day): a per-symbol daily close path seeded from a stable
hash of the symbol (never Python's `hash`, which is salted per process), and a per-(symbol, day) generator
that bridges the previous close to that day's close minute by minute. Nothing depends on the sandbox clock or
on which requests came before, so a past window never changes.

Unadjusted prices really jump on a split's execution date (they are the split-adjusted path times the ratio
of all later splits), so `adjusted=true` (dividing by that ratio) yields a smooth series.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache

import numpy as np
import pandas as pd

from marketdata_pipeline.sandbox.calendar import EPOCH, LAST_DAY, MINUTE_MS, days_between, is_crypto, trading_day, zone
from marketdata_pipeline.sandbox.revisions import NO_EDITS, Edits

# The default universe: what grouped daily lists even before anyone asked for a ticker.
DEFAULT_STOCKS = (
    "AAPL MSFT NVDA AMZN GOOGL META TSLA BRK.B JPM V UNH XOM JNJ WMT MA "
    "PG HD CVX KO PEP ABBV AVGO COST MRK LLY ORCL CSCO ADBE CRM NFLX"
).split()
DEFAULT_CRYPTO = ["X:BTCUSD", "X:ETHUSD", "X:SOLUSD"]
WIRE_COLUMNS = ["t_ms", "o", "h", "l", "c", "v", "vw", "n"]


@dataclass(frozen=True)
class Split:
    ticker: str
    execution_date: date
    split_from: int
    split_to: int

    @property
    def ratio(self) -> float:
        return self.split_to / self.split_from

    @property
    def id(self) -> str:
        return "E" + _digest(f"split|{self.ticker}|{self.execution_date}").hex()

    def as_json(self) -> dict:
        return {
            "execution_date": self.execution_date.isoformat(),
            "id": self.id,
            "split_from": self.split_from,
            "split_to": self.split_to,
            "ticker": self.ticker,
        }


@dataclass(frozen=True)
class Dividend:
    ticker: str
    declaration_date: date
    ex_dividend_date: date
    record_date: date
    pay_date: date
    cash_amount: float

    @property
    def id(self) -> str:
        return "E" + _digest(f"dividend|{self.ticker}|{self.ex_dividend_date}").hex()

    def as_json(self) -> dict:
        return {
            "cash_amount": self.cash_amount,
            "currency": "USD",
            "declaration_date": self.declaration_date.isoformat(),
            "dividend_type": "CD",
            "ex_dividend_date": self.ex_dividend_date.isoformat(),
            "frequency": 4,
            "id": self.id,
            "pay_date": self.pay_date.isoformat(),
            "record_date": self.record_date.isoformat(),
            "ticker": self.ticker,
        }


# Real-world split history of a few names, so adjusted/unadjusted tests have something to bite on.
_SPLITS = (
    Split("AAPL", date(2020, 8, 31), 1, 4),
    Split("TSLA", date(2020, 8, 31), 1, 5),
    Split("NVDA", date(2021, 7, 20), 1, 4),
    Split("AMZN", date(2022, 6, 6), 1, 20),
    Split("GOOGL", date(2022, 7, 18), 1, 20),
    Split("TSLA", date(2022, 8, 25), 1, 3),
    Split("NVDA", date(2024, 6, 10), 1, 10),
)
_DIVIDEND_PAYERS = ("AAPL", "MSFT", "JPM", "JNJ", "XOM", "PG", "KO", "PEP", "CVX")


def _digest(text: str) -> bytes:
    return hashlib.blake2b(text.encode(), digest_size=32).digest()


def stable_seed(*parts: object) -> int:
    return int.from_bytes(_digest("|".join(map(str, parts)))[:8], "little")


def is_illiquid(symbol: str) -> bool:
    """Roughly one in four tickers outside the default universe trades thinly (gaps in regular hours too)."""
    return symbol not in DEFAULT_STOCKS and symbol not in DEFAULT_CRYPTO and stable_seed("liquidity", symbol) % 4 == 0


def splits_for(symbol: str, as_of: date | None = None) -> list[Split]:
    """The symbol's splits, oldest first; with `as_of`, only those executed on or before it."""
    return [s for s in _SPLITS if s.ticker == symbol and (as_of is None or s.execution_date <= as_of)]


def all_splits(as_of: date | None = None) -> list[Split]:
    return [s for s in _SPLITS if as_of is None or s.execution_date <= as_of]


def split_factor(symbol: str, on: date, as_of: date | None = None) -> float:
    """Cumulative ratio of the splits executed after `on` (and, with `as_of`, known by then)."""
    factor = 1.0
    for s in splits_for(symbol, as_of):
        if s.execution_date > on:
            factor *= s.ratio
    return factor


def dividends_for(symbol: str) -> list[Dividend]:
    """Quarterly cash dividends of the payers, oldest first, through the end of the synthetic calendar."""
    return list(_dividends(symbol))


@lru_cache(maxsize=64)
def _dividends(symbol: str) -> tuple[Dividend, ...]:
    if symbol not in _DIVIDEND_PAYERS:
        return ()
    first_month = 1 + stable_seed("dividend-month", symbol) % 3
    base_amount = 0.15 + (stable_seed("dividend-amount", symbol) % 80) / 100
    out = []
    for year in range(EPOCH.year, LAST_DAY.year + 1):
        amount = round(base_amount * 1.05 ** (year - EPOCH.year), 4)
        for month in range(first_month, 13, 3):
            ex = _next_session(date(year, month, 10))
            if ex is None:
                continue
            out.append(Dividend(symbol, ex - timedelta(days=21), ex, ex + timedelta(days=1), ex + timedelta(days=14), amount))
    return tuple(out)


def _next_session(d: date) -> date | None:
    for offset in range(10):
        candidate = d + timedelta(days=offset)
        if trading_day(False, candidate) is not None:
            return candidate
    return None


@lru_cache(maxsize=1024)
def _close_path(symbol: str) -> np.ndarray:
    """Split-adjusted daily close for every calendar day; index 0 is the day before EPOCH.

    A random walk squashed through tanh so decades of history stay within ~0.3x..3x of the starting level.
    """
    rng = np.random.default_rng(stable_seed("closes", symbol))
    n_days = (LAST_DAY - EPOCH).days + 2
    sigma = 0.03 if is_crypto(symbol) else 0.015
    walk = np.cumsum(rng.normal(0.0, sigma, n_days))
    if is_crypto(symbol):
        start = 10 ** (stable_seed("level", symbol) % 4500 / 1000)  # 1 .. 31623
    else:
        start = 20 + stable_seed("level", symbol) % 480
    return start * np.exp(1.2 * np.tanh(walk / 1.2))


# Tickers starting with ZZ are unknown to the sandbox: like Polygon, it answers them with an empty 200.
UNLISTED_PREFIX = "ZZ"


def is_listed(symbol: str) -> bool:
    return not symbol.removeprefix("X:").startswith(UNLISTED_PREFIX)


def served_day_bars(symbol: str, local_date: date, edits: Edits) -> dict[str, np.ndarray] | None:
    """day_bars as served under the sandbox's configured corrections (`edits`)."""
    day = trading_day(is_crypto(symbol), local_date)
    if day is None:
        return None
    return day_bars(symbol, local_date, edits.within(symbol, day.midnight_ms, day.next_midnight_ms))


@lru_cache(maxsize=4096)
def day_bars(symbol: str, local_date: date, edits: Edits = NO_EDITS) -> dict[str, np.ndarray] | None:
    """Unadjusted minute bars of one trading day as numpy columns (WIRE_COLUMNS), or None if it does not trade.

    With `edits` (only those touching this day, see served_day_bars) the corrected minutes."""
    crypto = is_crypto(symbol)
    day = trading_day(crypto, local_date)
    if day is None or not is_listed(symbol):
        return None
    if edits:
        return edits.apply(day_bars(symbol, local_date))
    rng = np.random.default_rng(stable_seed("minutes", symbol, local_date.isoformat()))
    n = (day.end_ms - day.start_ms) // MINUTE_MS
    t = day.start_ms + np.arange(n, dtype=np.int64) * MINUTE_MS
    regular = (t >= day.regular_start_ms) & (t < day.regular_end_ms)

    # Brownian bridge in log price from the previous close to today's close.
    index = (local_date - EPOCH).days + 1
    closes = _close_path(symbol)
    factor = split_factor(symbol, local_date)
    start, end = np.log(closes[index - 1] * factor), np.log(closes[index] * factor)
    sigma = (0.03 if crypto else 0.015) / np.sqrt(n)
    walk = np.concatenate(([0.0], np.cumsum(rng.normal(0.0, sigma, n))))
    frac = np.arange(n + 1) / n
    path = np.exp(start + frac * (end - start) + walk - frac * walk[-1])

    o, c = np.round(path[:-1], 4), np.round(path[1:], 4)
    wiggle = np.abs(rng.normal(0.0, sigma, (2, n)))
    h = np.maximum(np.round(np.maximum(o, c) * (1 + wiggle[0]), 4), np.maximum(o, c))
    low = np.minimum(np.round(np.minimum(o, c) * (1 - wiggle[1]), 4), np.minimum(o, c))
    vw = np.clip(np.round(low + (h - low) * rng.uniform(0.2, 0.8, n), 4), low, h)

    # Activity: U-shaped through the regular session, thin outside it; illiquid names skip minutes.
    session_pos = np.clip((t - day.regular_start_ms) / max(day.regular_end_ms - day.regular_start_ms, 1), 0, 1)
    activity = np.where(regular, 1 + 2 * (2 * session_pos - 1) ** 2, 0.03) * rng.lognormal(0.0, 0.5, n)
    illiquid = is_illiquid(symbol)
    p_trade = np.where(regular, 0.55 if illiquid else 0.995, 0.04 if illiquid else 0.3)
    if crypto:
        p_trade = np.full(n, 0.6 if illiquid else 0.97)
    traded = rng.random(n) < p_trade

    size = 1 + stable_seed("volume", symbol) % 100
    if crypto:
        # Multiples of 1/1024 add up exactly in float64, so minute volumes sum exactly to any bar's volume.
        v = np.maximum(np.round(activity * size / 10 * 1024), 1) / 1024
    else:
        v = np.maximum(np.round(activity * size * 100), 1)
    trades = np.maximum(np.round(activity * 25), 1).astype(np.int64)

    columns = {"t_ms": t, "o": o, "h": h, "l": low, "c": c, "v": v, "vw": vw, "n": trades}
    return {name: values[traded] for name, values in columns.items()}


def minute_bars(symbol: str, start: datetime, end: datetime) -> pd.DataFrame:
    """Unadjusted minute bars with `start <= t < end` (tz-aware datetimes), columns WIRE_COLUMNS."""
    start_ms, end_ms = int(start.timestamp() * 1000), int(end.timestamp() * 1000)
    tz = zone(symbol)
    first = datetime.fromtimestamp(start_ms / 1000, tz).date()
    last = datetime.fromtimestamp(end_ms / 1000, tz).date()
    chunks = [day_bars(symbol, d.local_date) for d in days_between(symbol, first, last)]
    chunks = [ch for ch in chunks if ch is not None]
    if not chunks:
        return pd.DataFrame({col: pd.Series(dtype="int64" if col in ("t_ms", "n") else "float64") for col in WIRE_COLUMNS})
    frame = pd.DataFrame({col: np.concatenate([ch[col] for ch in chunks]) for col in WIRE_COLUMNS})
    return frame[(frame.t_ms >= start_ms) & (frame.t_ms < end_ms)].reset_index(drop=True)
