"""`splits` and `dividends`: each symbol's corporate actions, fetched from the reference API and stored whole.

One request per symbol and asset (a single page at limit 1000; more pages are followed), through the shared
client and request budget. Crypto pairs have no corporate actions and cost no request. The actions feed the
adjusted views (storage.adjustment), shown downstream as `market_data_adjusted`.
"""

# No `from __future__ import annotations`: Dagster inspects the context and resource annotations at runtime.
from collections.abc import Callable
from typing import Any

import dagster as dg
import pandas as pd

from marketdata_pipeline.client.polygon import PolygonClient
from marketdata_pipeline.defs.market_data.partitions import symbol_partitions
from marketdata_pipeline.defs.resources import PolygonResource
from marketdata_pipeline.storage.corporate_actions import Replacement, replace_dividends, replace_splits
from marketdata_pipeline.storage.resource import MarketDatabase
from marketdata_pipeline.symbols import asset_class

GROUP = "corporate_actions"
_RETRY = dg.RetryPolicy(max_retries=3, delay=45, backoff=dg.Backoff.LINEAR)  # as market_data: after the breaker cools


def refresh(
    client: PolygonClient, url: str, symbol: str, kind: str, **listing_params
) -> Replacement | None:
    """Fetch `symbol`'s complete `kind` ("splits" | "dividends") listing and replace the stored rows.

    Returns None for crypto pairs, without a request. `listing_params` go to the reference call (e.g. a
    smaller `limit`, which tests use to exercise paging)."""
    if asset_class(symbol) == "crypto":
        return None
    fetch: Callable[..., pd.DataFrame] = getattr(client.reference, kind)
    store = replace_splits if kind == "splits" else replace_dividends
    return store(url, symbol, fetch(symbol, **listing_params))


def _materialize(context: dg.AssetExecutionContext, polygon: PolygonResource, database: MarketDatabase, kind: str):
    client = polygon.client()
    before = client.stats.snapshot()
    totals = {"listed": 0, "inserted": 0, "updated": 0, "deleted": 0}
    skipped, failures = [], []
    for symbol in context.partition_keys:
        try:
            result = refresh(client, database.url, symbol, kind)
        except Exception as exc:  # one bad symbol must not cost the others their refresh
            context.log.error(f"{kind} of {symbol}: {type(exc).__name__}: {exc}")
            failures.append(f"{symbol}: {exc}")
            continue
        if result is None:
            skipped.append(symbol)
            continue
        for name, value in result.as_metadata().items():
            totals[name] += value
        if result.inserted or result.updated or result.deleted:
            context.log.info(f"{kind} of {symbol}: {result}")
    if failures:
        raise dg.Failure(description=f"{len(failures)} of {len(context.partition_keys)} symbols failed: "
                         + "; ".join(failures[:10]))
    stats = client.stats.snapshot()
    return dg.MaterializeResult(
        metadata={
            "symbols": len(context.partition_keys),
            "crypto_skipped": len(skipped),
            **{f"actions_{name}": value for name, value in totals.items()},
            "requests": stats["requests"] - before["requests"],
        }
    )


# Typed as Any: Dagster's @asset overloads cannot match the inferred union of the values.
_COMMON: dict[str, Any] = dict(
    partitions_def=symbol_partitions,
    # One run over every selected symbol (backfills and the daily schedule), not a run per symbol.
    backfill_policy=dg.BackfillPolicy.single_run(),
    retry_policy=_RETRY,
    pool="polygon_api",
    group_name=GROUP,
    kinds={"postgres"},
    tags={"marketdata/api": "polygon"},
)


@dg.asset(
    description="Stock splits per symbol from /v3/reference/splits, stored in the `splits` table exactly as "
    "listed (revisions replace, cancelled splits are deleted). Crypto: none, no request.",
    **_COMMON,
)
def splits(context: dg.AssetExecutionContext, polygon: PolygonResource, database: MarketDatabase):
    return _materialize(context, polygon, database, "splits")


@dg.asset(
    description="Cash dividends per symbol from /v3/reference/dividends, stored in the `dividends` table exactly "
    "as listed (revisions replace, cancelled dividends are deleted). Crypto: none, no request.",
    **_COMMON,
)
def dividends(context: dg.AssetExecutionContext, polygon: PolygonResource, database: MarketDatabase):
    return _materialize(context, polygon, database, "dividends")


# The adjusted views are computed on read (storage.adjustment): nothing to materialize, but the graph shows
# where adjusted data comes from.
market_data_adjusted = dg.AssetSpec(
    "market_data_adjusted",
    deps=["market_data", splits, dividends],
    group_name=GROUP,
    kinds={"postgres"},
    description="Views market_data_split_adjusted (adjust='splits') and market_data_total_return (adjust='all') "
    "over the unadjusted market_data, adjusted on read from the stored splits and dividends; read them with "
    "marketdata_pipeline.load_bars or `marketdata bars`.",
)
