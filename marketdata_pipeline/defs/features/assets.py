"""bar_features: quant features of each symbol × timeframe's split-adjusted bars, stored in bar_features.

Every materialization recomputes each partition's features from a tail of its bars when the bars before it
are unchanged (storage.feature_plan verifies a fingerprint; the tail starts quant.features.WARM_UP bars early,
so the recursions have forgotten their seed), else over the whole history, and writes only the rows that are
new or changed (storage.features): the stored table always equals a full recomputation from the stored bars.
"""

# No `from __future__ import annotations`: Dagster inspects the context and resource annotations at runtime.
import time
from typing import cast

import dagster as dg
import pandas as pd

from marketdata_pipeline.bars import split_key
from marketdata_pipeline.defs.features import checks
from marketdata_pipeline.defs.market_data.partitions import bar_partitions
from marketdata_pipeline.quant.features import INPUT_COLUMNS, SWING_REACH, WARM_UP, compute_features, tail_is_exact
from marketdata_pipeline.storage.feature_plan import PartitionPlan, read_for_features
from marketdata_pipeline.storage.features import (
    FeatureWrite,
    Head,
    tail_first_change,
    write_features,
    write_features_tail,
)
from marketdata_pipeline.storage.resource import MarketDatabase


def _partition_bars(bars: pd.DataFrame) -> dict[tuple[str, str], pd.DataFrame]:
    """market_data's input (every partition's bars, with symbol and timeframe columns) split by partition."""
    if bars.empty:
        return {}
    # Keys are (symbol, timeframe) pairs of the two text columns; pandas-stubs type them as Hashable tuples.
    return {cast(tuple[str, str], key): frame for key, frame in bars.groupby(["symbol", "timeframe"], sort=False)}


ADJUST = "splits"  # split-adjusted bars (storage.adjustment), so a split is no return shock


def _computed(bars: pd.DataFrame, seconds: list[float]) -> pd.DataFrame:
    """compute_features, its time added to seconds[0]."""
    started = time.monotonic()
    features = compute_features(bars)
    seconds[0] += time.monotonic() - started
    return features


def _write_tail(url: str, symbol: str, tf: str, bars: pd.DataFrame, plan: PartitionPlan,
                compute_s: list[float]) -> tuple[FeatureWrite | None, str]:
    """Recompute and write from the tail the plan read (bars from the head on); (None, why) when the tail
    cannot give what a full recomputation gives (a change too early in it, too few swings) or the state moved."""
    state = plan.state
    assert state is not None and state.head_count is not None and state.head_print is not None
    first_row = tail_first_change(state, bars) - SWING_REACH - state.head_count
    if first_row < WARM_UP:
        return None, "change_in_warm_up"
    features = _computed(bars, compute_s)
    if not tail_is_exact(features, first_row):
        return None, "tail_not_exact"
    head = Head(bars["row_hash"].to_numpy(), plan.factors_print, state.head_count, state.head_print)
    result = write_features_tail(url, symbol, tf, bars, features, state, first_row, head, reach=SWING_REACH,
                                 warm_up=WARM_UP)
    return result, "state_moved"


def _no_bars() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="datetime64[us, UTC]" if c == "time" else "float64") for c in INPUT_COLUMNS})


@dg.asset(
    partitions_def=bar_partitions,
    # Split-adjusted bars (storage.adjustment), so a split is no return shock.
    # `tail`: only what the stored state says is needed (storage.feature_plan), with the plans.
    ins={"market_data": dg.AssetIn(metadata={"adjust": ADJUST, "tail": True})},
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
    # Popped, not read: pandas deep-copies attrs into every frame derived from this one (each partition's
    # group, each step of the computation), which with 125 plans cost more than the tail path saved.
    plans: dict[tuple[str, str], PartitionPlan] = market_data.attrs.pop("feature_plans", {})
    by_partition = _partition_bars(market_data)
    del market_data  # each partition's frame is a copy: let the combined one go
    bars_seen = bars_read = written = deleted = compared = from_tail = 0
    compute_s, write_s = [0.0], 0.0
    since = {}
    fallbacks: dict[str, int] = {}  # partitions read whole, by why (no_state, no_head, head_changed, ...)
    for symbol, tf in keys:
        bars = by_partition.pop((symbol, tf), None)
        bars = _no_bars() if bars is None else bars.reset_index(drop=True)
        plan = plans.get((symbol, tf))
        started = time.monotonic()
        result, skipped = None, 0  # skipped: the head's bars, not read
        if plan is None or plan.since is None:
            why = ("no_state" if plan is None or plan.state is None
                   else "no_head" if plan.state.head_time is None  # too few bars to keep a head: cheap anyway
                   else "head_changed")
            fallbacks[why] = fallbacks.get(why, 0) + 1
        else:
            result, why = _write_tail(database.url, symbol, tf, bars, plan, compute_s)
            if result is None:
                fallbacks[why] = fallbacks.get(why, 0) + 1
            else:
                from_tail, skipped = from_tail + 1, plan.state.head_count if plan.state else 0
            if result is None:  # the whole partition after all, with a fresh plan (its head is recorded anew)
                frame, [plan] = read_for_features(database.url, [(symbol, tf)], ADJUST, full=True)
                bars = frame.reset_index(drop=True)
        if result is None:
            features = _computed(bars, compute_s)
            head = Head(bars["row_hash"].to_numpy(), plan.factors_print) if plan is not None else None
            result = write_features(database.url, symbol, tf, bars, features, reach=SWING_REACH, head=head,
                                    warm_up=WARM_UP)
        write_s += time.monotonic() - started
        bars_read += len(bars)
        bars_seen += len(bars) + (skipped or 0)
        since[(symbol, tf)] = result.tail_start
        written, deleted, compared = written + result.rows_written, deleted + result.rows_deleted, compared + result.rows_compared
    check_started = time.monotonic()
    try:
        check = checks.evaluate(database.url, keys, since)
    except Exception as exc:  # an assessment that cannot run must not undo or retry a successful write
        context.log.error(f"{checks.ASSET} check could not evaluate: {type(exc).__name__}: {exc}")
        check = checks.unevaluated(f"{type(exc).__name__}: {exc}")
    check_s = time.monotonic() - check_started
    return dg.MaterializeResult(
        metadata={
            "partitions": len(keys),
            "bars": bars_seen,  # in the partitions
            "bars_read": bars_read,  # of them, read and recomputed (the tails, or whole partitions)
            "rows_written": written,
            "rows_deleted": deleted,
            "rows_compared": compared,
            "partitions_from_tail": from_tail,
            "full_reads_by_reason": dg.MetadataValue.json(dict(sorted(fallbacks.items()))),
            "compute_seconds": round(compute_s[0], 3),
            "db_seconds": round(write_s - compute_s[0], 3),  # writes, and the reads of tails that fell back
            "check_seconds": round(check_s, 3),
        },
        check_results=[check],
    )
