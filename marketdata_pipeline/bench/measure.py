"""Turning a finished set of Dagster runs into benchmark figures, from the instance's own records."""

from __future__ import annotations

import math
from datetime import datetime

import dagster as dg
import sqlalchemy as sa

from marketdata_pipeline.defs.market_data.assets import market_data
from marketdata_pipeline.rules.request_plan import range_pages
from marketdata_pipeline.sandbox.calendar import days_between, zone
from marketdata_pipeline.sandbox.synthetic import minute_bars
from marketdata_pipeline.storage.database import engine_for
from marketdata_pipeline.timeframes import timeframe

_STEP_EVENTS = {dg.DagsterEventType.STEP_START, dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE}


def run_figures(instance: dg.DagsterInstance, run_ids: list[str], submitted_at: float) -> dict:
    """Wall time from submission until every market_data partition is materialized, i.e. every bar is stored
    (and until the last run, asset checks and the features that ride along included, has ended), the runs'
    own metadata summed, and how much of the wall time no step was executing (orchestration: queueing, run
    start-up, teardown)."""
    records = [instance.get_run_record_by_id(run_id) for run_id in run_ids]
    materialized = submitted_at
    totals = {"rows_written": 0, "pages": 0, "retries": 0, "api_seconds": 0.0, "db_seconds": 0.0,
              "budget_wait_seconds": 0.0}
    windows = []
    for record in records:
        run_id = record.dagster_run.run_id
        events = [
            e for e in instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION).records
            if e.event_log_entry.asset_materialization.asset_key == market_data.key
        ]
        if events:  # every partition of a range run carries the run's metadata: count it once
            materialized = max(materialized, max(e.timestamp for e in events))
            metadata = events[0].event_log_entry.asset_materialization.metadata
            for key in totals:
                totals[key] += float(metadata[key].value) if key in metadata else 0  # type: ignore[arg-type]
        steps = instance.get_records_for_run(run_id, of_type=_STEP_EVENTS).records
        starts = [s.timestamp for s in steps if s.event_log_entry.dagster_event_type == dg.DagsterEventType.STEP_START]
        ends = [s.timestamp for s in steps if s.event_log_entry.dagster_event_type != dg.DagsterEventType.STEP_START]
        if starts and ends:
            windows.append((min(starts), max(ends)))
    wall = materialized - submitted_at
    finished = max(r.end_time for r in records) - submitted_at
    return {
        "wall_s": round(wall, 1),
        "runs_finished_s": round(finished, 1),
        "runs_launched": len(records),
        "failed_runs": sum(r.dagster_run.status != dg.DagsterRunStatus.SUCCESS for r in records),
        "bars_written": int(totals["rows_written"]),
        "pages": int(totals["pages"]),
        "retries": int(totals["retries"]),
        "api_s_summed_over_threads": round(totals["api_seconds"], 1),
        "budget_wait_s_summed_over_threads": round(totals["budget_wait_seconds"], 1),
        "db_s": round(totals["db_seconds"], 1),
        "orchestration_s": round(finished - _union(windows), 1),
    }


def _union(windows: list[tuple[float, float]]) -> float:
    total, end = 0.0, -math.inf
    for start, stop in sorted(windows):
        if stop > end:
            total += stop - max(start, end)
            end = stop
    return total


def sandbox_figures(requests: list[dict]) -> dict:
    data = [r for r in requests if not r["path"].startswith("/_sandbox")]
    return {"requests": len(data), "rate_limited_429s": sum(r["status"] == 429 for r in data)}


def reference_pages(symbols: list[str], timeframes: list[str], start: datetime, end: datetime) -> int:
    """Pages a direct fetch of every partition needs: rules.request_plan.range_pages over the sandbox's exact
    base aggregates (minutes with trades for intraday timeframes, trading days for 1d), where the planner
    uses its calendar bound."""
    pages = 0
    for symbol in symbols:
        minutes = len(minute_bars(symbol, start, end))
        days = len(days_between(symbol, start.astimezone(zone(symbol)).date(), end.astimezone(zone(symbol)).date()))
        for tf in timeframes:
            pages += range_pages(minutes if timeframe(tf).is_intraday else days)
    return pages


def bars_in_database(url: str, table: str = "market_data") -> int:
    with engine_for(url).connect() as conn:
        return conn.execute(sa.text(f"select count(*) from {table}")).scalar()


def repeated_fetches(requests: list[dict]) -> dict:
    """Data requests by endpoint kind (e.g. "range 5/minute", "grouped"), and how many asked for exactly what
    an earlier request of the workload had asked for (e.g. a symbol's 5m bars fetched by two runs)."""
    data = [r for r in requests if not r["path"].startswith("/_sandbox")]
    kinds: dict[str, int] = {}
    for r in data:
        parts = r["path"].strip("/").split("/")
        kind = f"range {parts[5]}/{parts[6]}" if "range" in parts and len(parts) > 6 else "/".join(parts[:3])
        kinds[kind] = kinds.get(kind, 0) + 1
    distinct = {(r["path"], r["query"]) for r in data}
    return {"requests_by_kind": dict(sorted(kinds.items())), "repeated_requests": len(data) - len(distinct)}
