"""Evaluating partitions against the database: freshness for many at once, quality one partition at a time.

Glue between storage and the pure rules, shared by the market_data checks, the health sensors and
`marketdata status`."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime

from marketdata_pipeline.rules import gaps, quality
from marketdata_pipeline.rules.freshness import Freshness, FreshnessRules, assess
from marketdata_pipeline.storage.bars import load_bars, partition_stats
from marketdata_pipeline.storage.corporate_actions import split_dates as stored_split_dates
from marketdata_pipeline.storage.health import Key, replace_gaps, save_freshness
from marketdata_pipeline.storage.universe import active_symbols
from marketdata_pipeline.timeframes import TIMEFRAMES


def iso_utc(value: datetime | None) -> str | None:
    """An instant as ISO 8601 in UTC, as alerts and `marketdata status --json` print it."""
    return value.astimezone(UTC).isoformat() if value is not None else None


@dataclass(frozen=True)
class PartitionHealth:
    symbol: str
    timeframe: str
    freshness: Freshness
    rows: int
    checked_at: datetime

    def row(self) -> dict:
        """The partition_health columns this assessment sets."""
        lag = self.freshness.lag
        return {
            "symbol": self.symbol,
            "timeframe": self.timeframe,
            "state": self.freshness.state.value,
            "last_bar": self.freshness.last_bar,
            "expected_last_bar": self.freshness.expected_last_bar,
            "lag_seconds": lag.total_seconds() if lag is not None else None,
            "rows": self.rows,
            "checked_at": self.checked_at,
        }


def active_partitions(url: str) -> list[Key]:
    return [(s, tf) for s in active_symbols(url) for tf in TIMEFRAMES]


def assess_partitions(url: str, keys: Iterable[Key], now: datetime, rules: FreshnessRules) -> list[PartitionHealth]:
    keys = list(keys)
    stats = partition_stats(url, keys)
    out = []
    for symbol, tf in keys:
        last, rows = stats.get((symbol, tf), (None, 0))
        out.append(PartitionHealth(symbol, tf, assess(symbol, tf, last, now, rules), rows, now))
    return out


def refresh_freshness(url: str, keys: Iterable[Key], now: datetime, rules: FreshnessRules) -> list[PartitionHealth]:
    entries = assess_partitions(url, keys, now, rules)
    save_freshness(url, [e.row() for e in entries])
    return entries


def check_quality(
    url: str,
    symbol: str,
    tf: str,
    now: datetime,
    rules: FreshnessRules,
    max_move: float = quality.DEFAULT_MAX_MOVE,
    split_dates: Iterable[date] | None = None,
) -> list[quality.Finding]:
    """Run every quality check on one partition and rewrite its gap ledger. Price jumps on the execution
    date of a stored split (default: the `splits` table's) are the split, not a defect."""
    bars = load_bars(url, symbol, tf)
    if split_dates is None:
        split_dates = stored_split_dates(url, symbol)
    ledger = gaps.ledger(symbol, tf, bars, now, rules.publication_delay)
    replace_gaps(url, symbol, tf, ((g.time, g.reason.value) for g in ledger), now)
    return [
        quality.ohlc_consistency(bars),
        quality.calendar_gaps(tf, ledger),
        quality.price_jumps(symbol, bars, max_move, split_dates),
    ]
