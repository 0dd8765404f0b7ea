"""What the benchmark runs: the full plan of the issue, and a tiny one for the test suite."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from marketdata_pipeline.timeframes import TIMEFRAMES

ALL_TIMEFRAMES = list(TIMEFRAMES)
# Thursday 02:00 ET: every bar up to Wednesday's close exists; one trading day later is Friday 02:00 ET.
NOW = datetime(2025, 6, 5, 6, 0, tzinfo=UTC)
NEXT_DAY = datetime(2025, 6, 6, 6, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Plan:
    backfill_symbols: int
    backfill_timeframes: list[str]
    backfill_history_start: date
    rate_limit_per_minute: int
    latency_s: float
    naive_symbols: int  # the naive baseline's slice under the rate limit
    write_path_rows: int
    sweep_symbols: list[int]
    sweep_history_start: date
    sweep_latency_s: float = 0.05  # the sweep always covers all five timeframes
    # The budget counts grants over a 61 s window: before the daily update, let the backfill's expire.
    budget_settle_s: float = 62


FULL = Plan(
    backfill_symbols=25,
    backfill_timeframes=ALL_TIMEFRAMES,
    backfill_history_start=date(2024, 6, 5),
    rate_limit_per_minute=150,
    latency_s=0.25,
    naive_symbols=5,
    write_path_rows=1_000_000,
    sweep_symbols=[25, 100, 400],
    sweep_history_start=date(2025, 3, 5),
)

QUICK = Plan(
    backfill_symbols=2,
    backfill_timeframes=["1d", "1h"],
    backfill_history_start=date(2025, 5, 26),
    rate_limit_per_minute=600,
    latency_s=0.0,
    naive_symbols=1,
    write_path_rows=20_000,
    sweep_symbols=[2],
    sweep_history_start=date(2025, 5, 26),
    sweep_latency_s=0.0,
    budget_settle_s=0,
)
