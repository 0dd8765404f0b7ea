"""Asset checks on market_data: freshness and data quality of the partitions a run covered.

Dagster keeps a check's partition only in single-partition runs, so each check evaluates every partition
the run covered, records the per-partition outcome in partition_health, and names offenders in metadata.
"""

# No `from __future__ import annotations`: Dagster inspects the context and resource annotations at runtime.
from collections.abc import Iterable
from typing import Any

import dagster as dg

from marketdata_pipeline.bars import partition_key, split_key
from marketdata_pipeline.defs.evaluate import PartitionHealth, active_partitions, check_quality, refresh_freshness
from marketdata_pipeline.defs.market_data.partitions import (
    PARTITION_TAG,
    RANGE_END_TAG,
    RANGE_START_TAG,
    bar_partitions,
)
from marketdata_pipeline.defs.resources import FetchConfig, HealthRules
from marketdata_pipeline.rules import quality
from marketdata_pipeline.rules.freshness import State
from marketdata_pipeline.storage.derivation import Probe, latest_probes
from marketdata_pipeline.storage.health import Key, save_failing_checks
from marketdata_pipeline.storage.resource import MarketDatabase

ASSET = "market_data"
FRESHNESS = "freshness"
DERIVATION = "derivation_conformance"
_MAX_LISTED = 50  # keep metadata readable in the UI; the full picture is in partition_health

_DESCRIPTIONS = {
    FRESHNESS: "Each partition's newest bar against the newest bar the exchange calendar says should be "
    "published (market time). WARN when any is Aging, ERROR when any is Stale or Missing.",
    quality.OHLC_CONSISTENCY: "low <= open, close <= high; prices > 0; volume >= 0.",
    quality.CALENDAR_GAPS: "1d: every session between the first and last bar is stored (ERROR). Intraday: "
    "regular-hours bars missing (WARN: no trades means no bar). Reasons are in the gap_ledger table.",
    quality.PRICE_JUMPS: "Close-to-close moves beyond the bound on a date without a split (WARN).",
    DERIVATION: "Per asset class, the last conformance probe of each timeframe built from 5m bars (15m, 1h, 4h): "
    "derived bars equal to the vendor's native ones. ERROR naming the timeframes that differ (they are "
    "fetched natively until a later probe agrees).",
}
CHECK_SPECS = [dg.AssetCheckSpec(name, asset=ASSET, description=text) for name, text in _DESCRIPTIONS.items()]


def covered_partitions(context: dg.AssetCheckExecutionContext, url: str) -> list[Key]:
    """The run's partitions from its tags; every active partition when the check runs on its own."""
    tags = context.run.tags
    if PARTITION_TAG in tags:
        return [split_key(tags[PARTITION_TAG])]
    start, end = tags.get(RANGE_START_TAG), tags.get(RANGE_END_TAG)
    if start and end:
        keys = bar_partitions.get_partition_keys_in_range(
            dg.PartitionKeyRange(start, end), dynamic_partitions_store=context.instance
        )
        return [split_key(k) for k in keys]
    return active_partitions(url)


def _listed(keys: Iterable[str]) -> str:
    keys = list(keys)
    more = f" (+{len(keys) - _MAX_LISTED} more)" if len(keys) > _MAX_LISTED else ""
    return ", ".join(keys[:_MAX_LISTED]) + more


def freshness_result(entries: list[PartitionHealth]) -> dg.AssetCheckResult:
    by_state = {state: [e for e in entries if e.freshness.state is state] for state in State}
    bad = [e for e in entries if e.freshness.state is not State.FRESH]
    severe = by_state[State.STALE] or by_state[State.MISSING]
    lines = ["| partition | state | last bar | expected last bar |", "|---|---|---|---|"]
    lines += [
        f"| {e.symbol}\\|{e.timeframe} | {e.freshness.state} | {e.freshness.last_bar or '-'} | {e.freshness.expected_last_bar} |"
        for e in bad[:_MAX_LISTED]
    ]
    metadata: dict[str, Any] = {
        "partitions_checked": len(entries),
        **{
            state.value.lower(): _listed(partition_key(e.symbol, e.timeframe) for e in by_state[state])
            for state in State
            if state is not State.FRESH
        },
    }
    if bad:
        metadata["not_fresh"] = dg.MetadataValue.md("\n".join(lines))
    return dg.AssetCheckResult(
        check_name=FRESHNESS,
        passed=not bad,
        severity=dg.AssetCheckSeverity.ERROR if severe else dg.AssetCheckSeverity.WARN,
        metadata=metadata,
    )


def quality_result(name: str, findings: dict[Key, quality.Finding]) -> dg.AssetCheckResult:
    failing = {key: f for key, f in findings.items() if not f.passed}
    errors = any(f.severity == quality.Severity.ERROR for f in failing.values())
    metadata: dict[str, Any] = {"partitions_checked": len(findings), "failing_partitions": _listed(partition_key(s, tf) for s, tf in failing)}
    if failing:
        sample = [f"- **{partition_key(s, tf)}** ({len(f.problems)}): " + "; ".join(f.problems[:5]) for (s, tf), f in failing.items()]
        metadata["problems"] = dg.MetadataValue.md("\n".join(sample[:_MAX_LISTED]))
    return dg.AssetCheckResult(
        check_name=name,
        passed=not failing,
        severity=dg.AssetCheckSeverity.ERROR if errors else dg.AssetCheckSeverity.WARN,
        metadata=metadata,
    )


def derivation_result(probes: dict[tuple[str, str], Probe], mode: str) -> dg.AssetCheckResult:
    if mode != "auto":
        return dg.AssetCheckResult(
            check_name=DERIVATION, passed=True, metadata={"derivation": f"off (MARKETDATA_DERIVE_INTRADAY={mode})"}
        )
    differing = [p for p in probes.values() if not p.agrees]
    lines = ["| asset class | timeframe | agrees | probed | symbol, window | bars | first differences |", "|---|---|---|---|---|---|---|"]
    lines += [
        f"| {p.asset_class} | {p.timeframe} | {p.agrees} | {p.probed_at:%Y-%m-%d %H:%M} | {p.symbol} "
        f"{p.window_start:%Y-%m-%d}..{p.window_end:%Y-%m-%d} | {p.bars_compared} | {p.detail or '-'} |"
        for p in sorted(probes.values(), key=lambda p: (p.asset_class, p.timeframe))
    ]
    named = ", ".join(f"{p.asset_class} {p.timeframe}" for p in differing)
    return dg.AssetCheckResult(
        check_name=DERIVATION,
        passed=not differing,
        severity=dg.AssetCheckSeverity.ERROR,
        description=f"derived bars differ from the vendor's for {named}: fetched natively" if differing else None,
        metadata={
            "probes": dg.MetadataValue.md("\n".join(lines)) if probes else "none yet",
            "differing": named or "none",
        },
    )


def unevaluated_results(reason: str) -> list[dg.AssetCheckResult]:
    """Every check FAILED with the reason: the run's bars are stored, only their assessment failed."""
    return [
        dg.AssetCheckResult(
            check_name=spec.name,
            passed=False,
            severity=dg.AssetCheckSeverity.ERROR,
            description=f"could not evaluate: {reason}",
            metadata={"error": reason},
        )
        for spec in CHECK_SPECS
    ]


def evaluate(
    context: dg.AssetCheckExecutionContext, url: str, health: HealthRules, fetch_config: FetchConfig
) -> list[dg.AssetCheckResult]:
    keys = covered_partitions(context, url)
    now, rules = health.clock(), health.rules()
    entries = refresh_freshness(url, keys, now, rules)
    findings: dict[str, dict[Key, quality.Finding]] = {name: {} for name in quality.QUALITY_CHECKS}
    for symbol, tf in keys:
        for finding in check_quality(url, symbol, tf, now, rules):
            findings[finding.check][(symbol, tf)] = finding
    save_failing_checks(
        url, {key: [name for name in quality.QUALITY_CHECKS if not findings[name][key].passed] for key in keys}
    )
    context.log.info(f"evaluated {len(keys)} partitions of {ASSET} at {now.isoformat()}")
    return [
        freshness_result(entries),
        *(quality_result(name, findings[name]) for name in quality.QUALITY_CHECKS),
        derivation_result(latest_probes(url), fetch_config.derive_intraday),
    ]


@dg.multi_asset_check(specs=CHECK_SPECS, name="market_data_health")
def market_data_health(
    context: dg.AssetCheckExecutionContext, database: MarketDatabase, health_rules: HealthRules, fetch_config: FetchConfig
):
    # The checks run in the materialization's run after its bars are stored: a check that cannot
    # evaluate (a date outside the calendar, a bad threshold, the database gone) must fail as a check,
    # not fail the run and trigger a retry of a fetch that succeeded.
    try:
        results = evaluate(context, database.url, health_rules, fetch_config)
    except Exception as exc:
        reason = f"{type(exc).__name__}: {exc}"
        context.log.error(f"{ASSET} checks could not evaluate: {reason}")
        results = unevaluated_results(reason)
    yield from results
