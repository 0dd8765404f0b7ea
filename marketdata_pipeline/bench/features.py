"""The features benchmark: bar_features for the backfill slice inside one Dagster run, the daily
update one trading day later, and the naive per-bar loop beside them.

The bars are the sandbox's synthetic market (the bars the backfill workload fetches), written with the
pipeline's own bar writer; no API is involved, so the figures are the features' own cost. Each Dagster run
executes in a fresh process, so its peak RSS is the run's alone.

    python -m marketdata_pipeline.bench.features [--quick]   # merges "features" into docs/benchmarks.json
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import multiprocessing
import os
import resource
import time
from datetime import date, datetime

import pandas as pd

from marketdata_pipeline.bars import partition_key
from marketdata_pipeline.bench.plans import ALL_TIMEFRAMES, NEXT_DAY, NOW
from marketdata_pipeline.bench.scratch import scratch_database
from marketdata_pipeline.bench.stack import at_midnight, symbol_universe
from marketdata_pipeline.client.aggs import BAR_COLUMNS
from marketdata_pipeline.quant.features import compute_features
from marketdata_pipeline.quant.naive import naive_features
from marketdata_pipeline.sandbox.aggregate import bars as sandbox_bars
from marketdata_pipeline.storage.bars import load_bars, upsert_bars
from marketdata_pipeline.storage.schema import create_schema
from marketdata_pipeline.timeframes import TIMEFRAMES, timeframe

BACKFILL_HISTORY_START = date(2024, 6, 5)  # the backfill workload's slice: 1 year before NOW
NAIVE_SAMPLE_PARTITIONS = 5  # the naive loop runs on one symbol's five partitions, then is extrapolated


def _served(symbol: str, tf: str, start: datetime, end: datetime) -> pd.DataFrame:
    """The sandbox's unadjusted bars whose window has closed by `end`, as the client returns them."""
    spec = timeframe(tf)
    raw = sandbox_bars(symbol, spec.multiplier, spec.timespan, start, end, adjusted=False)
    raw = raw[raw["t_ms"] + spec.length.total_seconds() * 1000 <= end.timestamp() * 1000]
    frame = pd.DataFrame({"time": pd.to_datetime(raw["t_ms"], unit="ms", utc=True)})
    for column, field in zip(BAR_COLUMNS[1:], ["o", "h", "l", "c", "v", "vw", "n"]):
        frame[column] = raw[field].to_numpy()
    return frame.reset_index(drop=True)


def _store(url: str, symbols: list[str], timeframes: list[str], start: datetime, end: datetime,
           after: dict | None = None) -> dict[tuple[str, str], datetime]:
    """Store the sandbox's bars in [start, end] (only those newer than `after`'s); returns each newest bar."""
    newest = {}
    for symbol in symbols:
        for tf in timeframes:
            frame = _served(symbol, tf, start, end)
            if after and (symbol, tf) in after:
                frame = frame[frame["time"] > after[(symbol, tf)]].reset_index(drop=True)
            upsert_bars(url, symbol, tf, frame)
            newest[(symbol, tf)] = frame["time"].iloc[-1] if len(frame) else (after or {}).get((symbol, tf))
    return newest


def _ordered(timeframes: list[str]) -> list[str]:
    return [tf for tf in TIMEFRAMES if tf in timeframes]  # the static partitions' order, for the range tags


def run_features(url: str, symbols: list[str], timeframes: list[str]) -> dict:
    """One Dagster run of bar_features over every symbol × timeframe (market_data loaded through its IO
    manager), in this process; returns its wall time, metadata and this process's peak RSS."""
    import dagster as dg

    from marketdata_pipeline.defs.features.assets import bar_features
    from marketdata_pipeline.defs.market_data.assets import market_data
    from marketdata_pipeline.defs.market_data.partitions import RANGE_END_TAG, RANGE_START_TAG, SYMBOLS_PARTITION
    from marketdata_pipeline.defs.resources import resources_from_env

    os.environ.update(DATABASE_URL=url, POLYGON_API_KEY="bench-unused", POLYGON_BASE_URL="http://127.0.0.1:9")
    job = dg.define_asset_job("bar_features_only", selection=["bar_features"])
    defs = dg.Definitions(assets=[market_data, bar_features], jobs=[job], resources=resources_from_env())
    tfs = _ordered(timeframes)
    tags = {RANGE_START_TAG: partition_key(symbols[0], tfs[0]), RANGE_END_TAG: partition_key(symbols[-1], tfs[-1])}
    with dg.DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions(SYMBOLS_PARTITION, symbols)
        started = time.perf_counter()
        result = defs.get_job_def("bar_features_only").execute_in_process(instance=instance, tags=tags)
        wall = time.perf_counter() - started
    materializations = result.asset_materializations_for_node("bar_features")
    metadata = {k: v.value for k, v in materializations[0].metadata.items()}
    [check] = result.get_asset_check_evaluations()
    return {
        "success": result.success,
        "partitions_materialized": len(materializations),
        "wall_s": round(wall, 2),
        **metadata,
        "check_passed": check.passed,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def _in_fresh_process(*args) -> dict:
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(run_features, *args).result()


def _figures(run: dict) -> dict:
    wall = run["wall_s"]
    return {
        "bars": run["bars"],
        "wall_s": wall,
        "rows_written": run["rows_written"],
        "rows_per_s": round(run["rows_written"] / wall, 1) if wall else None,
        "peak_rss_mb": run["peak_rss_mb"],
        "partitions": run["partitions"],
        "partitions_from_tail": run.get("partitions_from_tail"),
        "bars_read": run.get("bars_read"),
        "full_reads_by_reason": run.get("full_reads_by_reason"),
        "rows_deleted": run["rows_deleted"],
        "rows_compared": run["rows_compared"],
        "compute_s": run["compute_seconds"],
        "db_s": run["db_seconds"],
        "check_s": run.get("check_seconds"),
        "check_passed": run["check_passed"],
    }


def naive_baseline(url: str, keys: list[tuple[str, str]], total_bars: int, vectorized_wall_s: float) -> dict:
    """The per-bar loop on a sample of partitions (compute only, no storage), extrapolated per bar to the
    whole slice; the vectorized computation timed on the same sample for a like-for-like ratio."""
    sample = [load_bars(url, s, tf) for s, tf in keys]
    bars = sum(len(frame) for frame in sample)
    started = time.perf_counter()
    for frame in sample:
        naive_features(frame)
    naive_s = time.perf_counter() - started
    started = time.perf_counter()
    for frame in sample:
        compute_features(frame)
    vectorized_s = time.perf_counter() - started
    extrapolated = naive_s / bars * total_bars
    return {
        "sample_partitions": [f"{s}|{tf}" for s, tf in keys],
        "sample_bars": bars,
        "naive_compute_s_on_sample": round(naive_s, 2),
        "vectorized_compute_s_on_sample": round(vectorized_s, 3),
        "compute_ratio_on_sample": round(naive_s / vectorized_s, 1),
        "naive_compute_s_extrapolated_to_backfill": round(extrapolated, 1),
        "extrapolation": f"naive seconds per bar on the sample × {total_bars} bars; compute only (no storage)",
        "naive_extrapolated_over_backfill_run_wall": round(extrapolated / vectorized_wall_s, 1),
    }


def measure_features(admin_url: str, symbols: int = 25, timeframes: list[str] = ALL_TIMEFRAMES,
                     history_start: date = BACKFILL_HISTORY_START) -> dict:
    with scratch_database(admin_url, "mdp_bench_features") as url:
        create_schema(url)
        universe = symbol_universe(symbols)
        started = time.perf_counter()
        newest = _store(url, universe, timeframes, at_midnight(history_start), NOW)
        stored_s = time.perf_counter() - started

        backfill = _figures(_in_fresh_process(url, universe, timeframes))
        _store(url, universe, timeframes, at_midnight(history_start), NEXT_DAY, after=newest)
        daily = _figures(_in_fresh_process(url, universe, timeframes))
        daily["new_bars"] = daily["bars"] - backfill["bars"]
        sample = [(universe[0], tf) for tf in timeframes][:NAIVE_SAMPLE_PARTITIONS]
        return {
            "symbols": len(universe),
            "timeframes": timeframes,
            "history_start": str(history_start),
            "bars_generated_and_stored_s": round(stored_s, 1),
            "backfill": backfill,
            "daily_update": daily,
            "naive": naive_baseline(url, sample, backfill["bars"], backfill["wall_s"]),
            "targets": "backfill ≤ 20 s inside the Dagster run, peak RSS < 1 GB; daily update ≤ 3 s",
            "note": "each figure is one bar_features run (executed in process, ephemeral Dagster instance), "
                    "timed from job start to end: bars loaded through market_data's IO manager, features computed, "
                    "written, and the check evaluated",
        }


def main() -> int:
    from marketdata_pipeline.environment import PROJECT_ROOT

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 symbols × 2 timeframes, to check it works")
    parser.add_argument("--output", default=str(PROJECT_ROOT / "docs" / "benchmarks.json"))
    args = parser.parse_args()
    admin_url = os.environ["DATABASE_URL"]
    figures = (measure_features(admin_url, 2, ["1d", "1h"], date(2025, 3, 1)) if args.quick
               else measure_features(admin_url))
    figures["command"] = "python -m marketdata_pipeline.bench.features" + (" --quick" if args.quick else "")
    print(json.dumps(figures, indent=2))
    if not args.quick:
        with open(args.output) as f:
            report = json.load(f)
        report["features"] = figures
        with open(args.output, "w") as f:
            f.write(json.dumps(report, indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
