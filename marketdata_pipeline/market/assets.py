"""market_data: OHLCV bars per symbol × timeframe, fetched incrementally from Polygon."""

from datetime import UTC, datetime

import dagster as dg

from marketdata_pipeline.client.resource import PolygonResource
from marketdata_pipeline.health.freshness import PIPELINE_FRESHNESS_POLICY
from marketdata_pipeline.market.fetch import BarFetch, PartitionRequest
from marketdata_pipeline.market.partitions import bar_partitions, split_key
from marketdata_pipeline.market.windows import fetch_window
from marketdata_pipeline.settings import Settings
from marketdata_pipeline.storage.bars import last_bar_times
from marketdata_pipeline.storage.resource import MarketDatabase
from marketdata_pipeline.timeframes import timeframe

# Step-level retries for what the client's own retries could not ride out (an outage, a long throttle).
# Each retry must come after the client's circuit breaker has cooled down (30 s), or it sends nothing and
# is wasted: 45 s, 90 s, 135 s. No jitter: Dagster's PLUS_MINUS adds up to ±`delay`, so the first retry
# could fire at once; concurrent runs are already spread by the shared request budget.
API_RETRY_POLICY = dg.RetryPolicy(max_retries=3, delay=45, backoff=dg.Backoff.LINEAR)


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
def market_data(context: dg.AssetExecutionContext, polygon: PolygonResource, database: MarketDatabase) -> BarFetch:
    keys = [split_key(k) for k in context.partition_keys]
    last = last_bar_times(database.url, keys)
    now = datetime.now(UTC)
    settings = Settings.from_env()
    requests = []
    for symbol, tf in keys:
        start, end = fetch_window(
            symbol, timeframe(tf), last.get((symbol, tf)), now, settings.history_start, settings.revision_sessions
        )
        requests.append(PartitionRequest(symbol, tf, start, end))
    context.log.info(f"fetching {len(requests)} partitions: {', '.join(f'{s}|{t}' for s, t in keys[:20])}")
    return BarFetch(polygon.client(), requests)
