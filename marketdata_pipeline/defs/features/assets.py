"""bar_features: quant features of each symbol × timeframe's split-adjusted bars, stored in bar_features.

Every materialization recomputes the partitions' features over their whole history (cheap, vectorized) and
writes only the rows that are new or changed (storage.features), so the stored table always equals a full
recomputation from the stored bars.
"""

# No `from __future__ import annotations`: Dagster inspects the context and resource annotations at runtime.
import time
from typing import cast

import dagster as dg
import pandas as pd

from marketdata_pipeline.bars import split_key
from marketdata_pipeline.defs.features import checks
from marketdata_pipeline.defs.market_data.partitions import bar_partitions
from marketdata_pipeline.quant.features import INPUT_COLUMNS, SWING_REACH, compute_features
from marketdata_pipeline.storage.features import write_features
from marketdata_pipeline.storage.resource import MarketDatabase


def _partition_bars(bars: pd.DataFrame) -> dict[tuple[str, str], pd.DataFrame]:
    """market_data's input (every partition's bars, with symbol and timeframe columns) split by partition."""
    if bars.empty:
        return {}
    # Keys are (symbol, timeframe) pairs of the two text columns; pandas-stubs type them as Hashable tuples.
    return {cast(tuple[str, str], key): frame for key, frame in bars.groupby(["symbol", "timeframe"], sort=False)}


def _no_bars() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="datetime64[us, UTC]" if c == "time" else "float64") for c in INPUT_COLUMNS})


@dg.asset(
    partitions_def=bar_partitions,
    # Split-adjusted bars (storage.adjustment), so a split is no return shock.
    ins={"market_data": dg.AssetIn(metadata={"adjust": "splits"})},
    # A backfill of many partitions is one run, never one per partition.
    backfill_policy=dg.BackfillPolicy.single_run(),
    # Follows its bars: materialized by the daily job together with market_data, and requested by the
    # automation sensor (defs/features/sensors.py) after any other materialization of market_data.
    automation_condition=dg.AutomationCondition.eager(),
    check_specs=[checks.CHECK_SPEC],
    group_name="features",
    kinds={"postgres", "pandas"},
    description="Quant features (returns, volatility, ATR, RSI, moving averages, MACD, Bollinger %b, z-scores, "
    "range position, swings, trend structure, regimes) per bar of market_data, one partition per symbol × "
    "timeframe, stored in the bar_features table. Only new or changed rows are written.",
)
def bar_features(context: dg.AssetExecutionContext, database: MarketDatabase, market_data: pd.DataFrame):
    keys = [split_key(k) for k in context.partition_keys]
    by_partition = _partition_bars(market_data)
    del market_data  # each partition's frame is a copy: let the combined one go
    bars_seen = written = deleted = compared = 0
    compute_s = write_s = 0.0
    since = {}
    for symbol, tf in keys:
        bars = by_partition.pop((symbol, tf), None)
        bars = _no_bars() if bars is None else bars.reset_index(drop=True)
        started = time.monotonic()
        features = compute_features(bars)
        computed = time.monotonic()
        result = write_features(database.url, symbol, tf, bars, features, reach=SWING_REACH)
        compute_s, write_s = compute_s + computed - started, write_s + time.monotonic() - computed
        bars_seen += len(bars)
        since[(symbol, tf)] = result.tail_start
        written, deleted, compared = written + result.rows_written, deleted + result.rows_deleted, compared + result.rows_compared
    try:
        check = checks.evaluate(database.url, keys, since)
    except Exception as exc:  # an assessment that cannot run must not undo or retry a successful write
        context.log.error(f"{checks.ASSET} check could not evaluate: {type(exc).__name__}: {exc}")
        check = checks.unevaluated(f"{type(exc).__name__}: {exc}")
    return dg.MaterializeResult(
        metadata={
            "partitions": len(keys),
            "bars": bars_seen,
            "rows_written": written,
            "rows_deleted": deleted,
            "rows_compared": compared,
            "compute_seconds": round(compute_s, 3),
            "db_seconds": round(write_s, 3),
        },
        check_results=[check],
    )
