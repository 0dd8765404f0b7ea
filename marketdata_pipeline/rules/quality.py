"""Data-quality checks on one partition's bars: pure functions from a bars DataFrame to a Finding."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

import numpy as np
import pandas as pd

from marketdata_pipeline.rules import market_calendar as cal
from marketdata_pipeline.rules.gaps import DEFECTS, Gap
from marketdata_pipeline.timeframes import timeframe

OHLC_CONSISTENCY = "ohlc_consistency"
CALENDAR_GAPS = "calendar_gaps"
PRICE_JUMPS = "price_jumps"
QUALITY_CHECKS = (OHLC_CONSISTENCY, CALENDAR_GAPS, PRICE_JUMPS)

# Close-to-close ratio beyond 1.4× either way: catches a 2:1 split applied to half the history, while
# ordinary earnings moves of large caps stay below it.
DEFAULT_MAX_MOVE = 0.4
_PRICES = ["open", "high", "low", "close"]


class Severity(StrEnum):
    """How bad a failed check is; the values are Dagster's AssetCheckSeverity names."""

    WARN = "WARN"
    ERROR = "ERROR"


@dataclass(frozen=True)
class Finding:
    check: str
    severity: Severity
    problems: list[str] = field(default_factory=list)  # one line per offending bar

    @property
    def passed(self) -> bool:
        return not self.problems


def _stamp(t: pd.Timestamp) -> str:
    return t.strftime("%Y-%m-%dT%H:%MZ")


def ohlc_consistency(bars: pd.DataFrame) -> Finding:
    rules = {
        "low above open/close": bars["low"] > bars[["open", "close"]].min(axis=1),
        "high below open/close": bars["high"] < bars[["open", "close"]].max(axis=1),
        "non-positive price": (bars[_PRICES] <= 0).any(axis=1),
        "negative volume": bars["volume"] < 0,
        "missing value": bars[_PRICES + ["volume"]].isna().any(axis=1),
    }
    problems = [
        f"{_stamp(t)}: {name}" for name, mask in rules.items() for t in bars.loc[mask.to_numpy(), "time"]
    ]
    return Finding(OHLC_CONSISTENCY, Severity.ERROR, sorted(problems))


def calendar_gaps(tf_key: str, gaps: Iterable[Gap]) -> Finding:
    """A missing session is an error; a missing intraday bar only a warning, since no trades means no bar."""
    severity = Severity.WARN if timeframe(tf_key).is_intraday else Severity.ERROR
    problems = [f"{_stamp(pd.Timestamp(g.time))}: missing ({g.reason})" for g in gaps if g.reason in DEFECTS]
    return Finding(CALENDAR_GAPS, severity, problems)


def price_jumps(
    symbol: str, bars: pd.DataFrame, max_move: float = DEFAULT_MAX_MOVE, split_dates: Iterable[date] = ()
) -> Finding:
    """Close-to-close moves beyond the bound, except into a bar on a split's date (local date)."""
    ratio = bars["close"] / bars["close"].shift(1)
    jumped = (ratio > 1 + max_move) | (ratio < 1 / (1 + max_move))
    splits = set(split_dates)
    problems = [
        f"{_stamp(t)}: close moved ×{r:.3f}"
        for t, r in zip(bars.loc[jumped.to_numpy(), "time"], ratio[jumped.to_numpy()], strict=True)
        if cal.local_date(symbol, t.to_pydatetime()) not in splits and np.isfinite(r)
    ]
    return Finding(PRICE_JUMPS, Severity.WARN, problems)
