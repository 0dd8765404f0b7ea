"""market_data: OHLCV bars per symbol × timeframe, fetched incrementally from Polygon."""

# No `from __future__ import annotations`: Dagster inspects the context and resource annotations at runtime.
from datetime import UTC, date, datetime, timedelta

import dagster as dg

from marketdata_pipeline.bars import split_key
from marketdata_pipeline.defs.market_data.fetch import BarStream, PartitionRequest
from marketdata_pipeline.defs.market_data.partitions import bar_partitions
from marketdata_pipeline.defs.resources import FetchConfig, PolygonResource
from marketdata_pipeline.rules.market_calendar import local_date, sessions_between
from marketdata_pipeline.rules.windows import fetch_window
from marketdata_pipeline.storage.bars import last_bar_times
from marketdata_pipeline.storage.resource import MarketDatabase
from marketdata_pipeline.timeframes import timeframe

# Step-level retries for what the client's own retries could not ride out (an outage, a long throttle).
# Each retry must come after the client's circuit breaker has cooled down (30 s), or it sends nothing and
# is wasted: 45 s, 90 s, 135 s. No jitter: Dagster's PLUS_MINUS adds up to ±`delay`, so the first retry
# could fire at once; concurrent runs are already spread by the shared request budget.
API_RETRY_POLICY = dg.RetryPolicy(max_retries=3, delay=45, backoff=dg.Backoff.LINEAR)
# Asset-level: "some partition of market_data was updated lately". The daily 02:00 UTC schedule
# materializes every day, so a day plus the run's own duration is the normal worst case.
PIPELINE_FRESHNESS_POLICY = dg.FreshnessPolicy.time_window(
    fail_window=timedelta(hours=26), warn_window=timedelta(hours=25)
)
_LOGGED_KEYS = 20


@dg.asset(
    partitions_def=bar_partitions,
    io_manager_key="bars_io_manager",
    # One run per timeframe covering every selected symbol, instead of one run per partition.
    backfill_policy=dg.BackfillPolicy.single_run(),
    retry_policy=API_RETRY_POLICY,
    freshness_policy=PIPELINE_FRESHNESS_POLICY,
    pool="polygon_api",
    group_name="market_data",
    kinds={"postgres"},
    tags={"marketdata/api": "polygon"},
    description="Unadjusted OHLCV bars from Polygon (Massive), one partition per symbol × timeframe, "
    "stored in the market_data table. Each materialization re-fetches the last sessions before the newest "
    "stored bar (MARKETDATA_REVISION_SESSIONS, default 2) up to now, correcting revised and deleted bars.",
)
def market_data(
    context: dg.AssetExecutionContext, polygon: PolygonResource, database: MarketDatabase, fetch_config: FetchConfig
) -> BarStream:
    keys = [split_key(k) for k in context.partition_keys]
    last = last_bar_times(database.url, keys)
    now = datetime.now(UTC)
    history_start = date.fromisoformat(fetch_config.history_start) if fetch_config.history_start else None
    requests = []
    for symbol, tf in keys:
        stored = last.get((symbol, tf))
        start, end = fetch_window(symbol, timeframe(tf), stored, now, history_start, fetch_config.revision_sessions)
        closed = sessions_between(symbol, local_date(symbol, start), local_date(symbol, now) - timedelta(days=1))
        requests.append(PartitionRequest(symbol, tf, start, end, expects_bars=stored is None and bool(closed)))
    context.log.info(f"fetching {len(requests)} partitions: {', '.join(r.key for r in requests[:_LOGGED_KEYS])}")
    # Lazy: the IO manager iterates it, so each partition is written while the next ones are fetched.
    return BarStream(polygon.client(), requests, context.log)
