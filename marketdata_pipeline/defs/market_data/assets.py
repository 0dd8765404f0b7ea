"""market_data: OHLCV bars per symbol × timeframe, fetched incrementally from Polygon."""

# No `from __future__ import annotations`: Dagster inspects the context and resource annotations at runtime.
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import dagster as dg

from marketdata_pipeline.bars import split_key
from marketdata_pipeline.defs.market_data.derived import probe_due
from marketdata_pipeline.defs.market_data.fetch import PartitionRequest
from marketdata_pipeline.defs.market_data.partitions import bar_partitions
from marketdata_pipeline.defs.market_data.stream import BarStream, RunWork
from marketdata_pipeline.defs.resources import FetchConfig, HealthRules, PolygonResource
from marketdata_pipeline.rules.derive import BASE_TIMEFRAME, DERIVABLE
from marketdata_pipeline.rules.market_calendar import local_date, sessions_between
from marketdata_pipeline.rules.request_plan import MARKETS, PartitionNeed, RequestPlan, plan_requests
from marketdata_pipeline.rules.windows import fetch_window
from marketdata_pipeline.storage.bars import last_bar_times
from marketdata_pipeline.storage.derivation import latest_probes
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
    keys = [split_key(k) for k in context.partition_keys]
    work, plan = plan_work(keys, database.url, fetch_config, clock, polygon.max_requests_per_minute)
    context.log.info(f"request plan:\n{plan.summary()}")
    record = context.instance.get_run_record_by_id(context.run_id)
    created = record.create_timestamp if record is not None else datetime.now(UTC)
    # Lazy: the IO manager iterates it, so each partition is written while the next ones are fetched.
    metadata = {f"plan_{k}": v for k, v in plan.as_metadata().items()}
    return BarStream(polygon.client(), database.url, work, created, clock, context.log, metadata)


def plan_work(
    keys: list[tuple[str, str]], url: str, config: FetchConfig, clock: datetime, rate_per_minute: int | None = None
) -> tuple[RunWork, RequestPlan]:
    """How the run gets each partition (rules.request_plan): 15m/1h/4h derived from 5m unless
    MARKETDATA_DERIVE_INTRADAY=off or their conformance probe disagreed, daily updates of several symbols of
    a market by grouped daily when that takes fewer requests, the rest by the range endpoint."""
    derive, probing = _derivation(url) if config.derive_intraday == "auto" else ({}, set())
    derived_symbols = {s for s, tf in keys if tf in derive.get(asset_class(s), ())}
    last = last_bar_times(url, [*keys, *((s, BASE_TIMEFRAME) for s in derived_symbols)])
    history_start = date.fromisoformat(config.history_start) if config.history_start else None

    def request(symbol: str, tf: str) -> PartitionRequest:
        stored = last.get((symbol, tf))
        start, end = fetch_window(symbol, timeframe(tf), stored, clock, history_start, config.revision_sessions)
        closed = sessions_between(symbol, local_date(symbol, start), local_date(symbol, clock) - timedelta(days=1))
        return PartitionRequest(symbol, tf, start, end, expects_bars=stored is None and bool(closed))

    requests = {key: request(*key) for key in keys}
    needs = [PartitionNeed(r.symbol, r.timeframe, r.start, r.end, key in last) for key, r in requests.items()]
    plan = plan_requests(needs, derive, clock, rate_per_minute, probe=probing)
    work = RunWork()
    for p in plan.partitions:
        req = requests.get((p.symbol, p.timeframe)) or request(p.symbol, p.timeframe)
        if p.method == "derived":
            work.derived.setdefault(p.symbol, []).append(req)
        elif p.method == "grouped":
            market = asset_class(p.symbol)
            work.grouped.setdefault(market, ([], list(plan.grouped_sessions[market])))[0].append(req)
        elif p.timeframe == BASE_TIMEFRAME:
            work.base[p.symbol] = replace(req, start=min(req.start, p.start))  # widened to its derived windows
        else:
            work.ranges.append(req)
    return work, plan


def _derivation(url: str) -> tuple[dict[str, tuple[str, ...]], set[str]]:
    """Per asset class, the timeframes to derive (all but those whose current probe disagreed), and the
    asset classes whose probe is missing or out of date: the run that derives for them probes first."""
    probes = {key: p for key, p in latest_probes(url).items() if not probe_due(p)}
    derive = {cls: tuple(tf for tf in DERIVABLE if (p := probes.get((cls, tf))) is None or p.agrees) for cls in MARKETS}
    return derive, {cls for cls in MARKETS if any((cls, tf) not in probes for tf in DERIVABLE)}
