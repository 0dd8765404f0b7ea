"""market_data: OHLCV bars per symbol × timeframe, fetched incrementally from Polygon."""

# No `from __future__ import annotations`: Dagster inspects the context and resource annotations at runtime.
from dataclasses import replace
from datetime import date, datetime, timedelta

import dagster as dg

from marketdata_pipeline.bars import split_key
from marketdata_pipeline.defs.market_data.fetch import PartitionRequest
from marketdata_pipeline.defs.market_data.grouped import closed_sessions
from marketdata_pipeline.defs.market_data.partitions import bar_partitions
from marketdata_pipeline.defs.market_data.stream import BarStream, RunWork
from marketdata_pipeline.defs.resources import FetchConfig, HealthRules, PolygonResource
from marketdata_pipeline.rules.derive import BASE_TIMEFRAME, DERIVABLE
from marketdata_pipeline.rules.market_calendar import local_date, sessions_between
from marketdata_pipeline.rules.windows import fetch_window
from marketdata_pipeline.storage.bars import last_bar_times
from marketdata_pipeline.storage.resource import MarketDatabase
from marketdata_pipeline.symbols import asset_class
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
    "stored in the market_data table. Each materialization re-fetches the market's last sessions "
    "(MARKETDATA_REVISION_SESSIONS, default 2) and everything since the newest stored bar, correcting revised "
    "and deleted bars. 15m, 1h and 4h are built from the stored 5m bars while a conformance probe shows them "
    "equal to the vendor's (MARKETDATA_DERIVE_INTRADAY=auto|off); daily updates of many stocks use grouped daily.",
)
def market_data(
    context: dg.AssetExecutionContext,
    polygon: PolygonResource,
    database: MarketDatabase,
    fetch_config: FetchConfig,
    health_rules: HealthRules,
) -> BarStream:
    clock = health_rules.clock()
    work = plan_work(
        [split_key(k) for k in context.partition_keys], database.url, fetch_config, clock
    )
    context.log.info(
        f"plan for {work.partitions} partitions: {len(work.ranges)} by range, {len(work.base)} 5m, "
        f"{sum(map(len, work.derived.values()))} derived from 5m, "
        + ", ".join(f"{len(reqs)} {market} 1d by grouped daily ({len(days)} sessions)"
                    for market, (reqs, days) in work.grouped.items())
    )
    created = context.instance.get_run_record_by_id(context.run_id).create_timestamp
    # Lazy: the IO manager iterates it, so each partition is written while the next ones are fetched.
    return BarStream(polygon.client(), database.url, work, created, clock, context.log)


def plan_work(keys: list[tuple[str, str]], url: str, config: FetchConfig, clock: datetime) -> RunWork:
    """How the run gets each partition: 15m/1h/4h derived from 5m (unless MARKETDATA_DERIVE_INTRADAY=off),
    daily updates of several symbols of a market by grouped daily when that takes fewer requests, the rest
    by the range endpoint."""
    derive = config.derive_intraday == "auto"
    derived_symbols = {s for s, tf in keys if derive and tf in DERIVABLE}
    last = last_bar_times(url, [*keys, *((s, BASE_TIMEFRAME) for s in derived_symbols)])
    history_start = date.fromisoformat(config.history_start) if config.history_start else None

    def request(symbol: str, tf: str) -> PartitionRequest:
        stored = last.get((symbol, tf))
        start, end = fetch_window(symbol, timeframe(tf), stored, clock, history_start, config.revision_sessions)
        closed = sessions_between(symbol, local_date(symbol, start), local_date(symbol, clock) - timedelta(days=1))
        return PartitionRequest(symbol, tf, start, end, expects_bars=stored is None and bool(closed))

    work = RunWork()
    daily_updates: dict[str, list[PartitionRequest]] = {}
    for symbol, tf in keys:
        req = request(symbol, tf)
        if symbol in derived_symbols and tf in DERIVABLE:
            work.derived.setdefault(symbol, []).append(req)
        elif tf == BASE_TIMEFRAME:
            work.base[symbol] = req
        elif tf == "1d" and (symbol, tf) in last:
            daily_updates.setdefault(asset_class(symbol), []).append(req)
        else:
            work.ranges.append(req)
    for symbol in derived_symbols:
        base = work.base.get(symbol) or request(symbol, BASE_TIMEFRAME)
        if (symbol, BASE_TIMEFRAME) not in last:
            # A first 5m fetch reaches as far back as the partitions derived from it.
            base = replace(base, start=min(base.start, *(r.start for r in work.derived[symbol])))
        work.base[symbol] = base
    for market, requests in daily_updates.items():
        days = closed_sessions(requests, clock)
        if len(days) < len(requests):  # one request per session beats one per symbol
            work.grouped[market] = (requests, days)
        else:
            work.ranges += requests
    return work
