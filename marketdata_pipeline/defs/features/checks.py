"""The bar_features check, evaluated by the asset after each write over exactly the partitions it wrote:
features are current (each partition's newest feature row is at its newest bar), finite where defined, and
RSI within [0, 100]. One SQL aggregate per evaluation, so it costs no transfer of the features themselves;
after a write only the rows it sent are scanned (the rest were checked when they were written)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

import dagster as dg
import sqlalchemy as sa

from marketdata_pipeline.storage.database import engine_for
from marketdata_pipeline.storage.schema import FEATURE_TYPES

ASSET = "bar_features"
CHECK = "features_valid"
CHECK_SPEC = dg.AssetCheckSpec(
    CHECK,
    asset=ASSET,
    description="Each partition's newest feature row is at its newest bar; every float feature is finite or "
    "NULL (never NaN or ±Infinity); rsi_14 is within [0, 100]. Failing partitions are named.",
)
_MAX_LISTED = 50

_FLOATS = [name for name, kind in FEATURE_TYPES.items() if kind == "float8"]
# NaN = NaN is true in PostgreSQL (unlike IEEE), so these comparisons find the non-finite values.
_NOT_FINITE = " or ".join(f"{c} = any(cast('{{NaN,Infinity,-Infinity}}' as float8[]))" for c in _FLOATS)
# Newest bar and feature: one index probe each per partition. Values: only rows at or after `since` (the rows
# a write just sent; the ones before it were checked when they were written), all rows when since is NULL.
_QUERY = sa.text(f"""
with k(symbol, timeframe, since) as (
    select * from unnest(cast(:symbols as text[]), cast(:timeframes as text[]), cast(:since as timestamptz[]))),
v as (select f.symbol, f.timeframe,
             count(*) filter (where {_NOT_FINITE}) as not_finite,
             count(*) filter (where rsi_14 < 0 or rsi_14 > 100) as rsi_out
      from k join bar_features f on f.symbol = k.symbol and f.timeframe = k.timeframe
           and f.time >= coalesce(k.since, '-infinity')
      group by 1, 2)
select k.symbol, k.timeframe,
       (select max(time) from market_data m where m.symbol = k.symbol and m.timeframe = k.timeframe),
       (select max(time) from bar_features f where f.symbol = k.symbol and f.timeframe = k.timeframe),
       coalesce(v.not_finite, 0), coalesce(v.rsi_out, 0)
from k left join v using (symbol, timeframe)
order by 1, 2
""")


def _listed(keys: list[str]) -> str:
    more = f" (+{len(keys) - _MAX_LISTED} more)" if len(keys) > _MAX_LISTED else ""
    return ", ".join(keys[:_MAX_LISTED]) + more


def evaluate(url: str, keys: list[tuple[str, str]], since: Mapping[tuple[str, str], datetime | None] | None = None,
             ) -> dg.AssetCheckResult:
    """The check over `keys`; `since` (per key, optional) limits the value checks to rows from that time on
    (a key mapped to None: no rows to check), else every row is checked."""
    far_future = datetime.max.replace(tzinfo=UTC)
    bounds = [None if since is None else (since.get(key) or far_future) for key in keys]
    params = {"symbols": [s for s, _ in keys], "timeframes": [tf for _, tf in keys], "since": bounds}
    with engine_for(url).connect() as conn:
        rows = conn.execute(_QUERY, params).all()
    stale, not_finite, rsi_out = [], [], []
    for symbol, tf, last_bar, last_feature, bad_values, bad_rsi in rows:
        key = f"{symbol}|{tf}"
        if last_bar != last_feature:
            stale.append(key)
        if bad_values:
            not_finite.append(key)
        if bad_rsi:
            rsi_out.append(key)
    failing = sorted(set(stale + not_finite + rsi_out))
    return dg.AssetCheckResult(
        check_name=CHECK,
        asset_key=ASSET,
        passed=not failing,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "partitions_checked": len(rows),
            "failing_partitions": _listed(failing),
            "not_current": _listed(stale),
            "not_finite": _listed(not_finite),
            "rsi_out_of_range": _listed(rsi_out),
        },
    )


def unevaluated(reason: str) -> dg.AssetCheckResult:
    """The check FAILED with the reason: the features are stored, only their assessment failed."""
    return dg.AssetCheckResult(
        check_name=CHECK, asset_key=ASSET, passed=False, severity=dg.AssetCheckSeverity.ERROR,
        description=f"could not evaluate: {reason}", metadata={"error": reason},
    )
