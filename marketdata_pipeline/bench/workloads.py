"""The benchmark workloads that go through Dagster: a UI-style backfill, the daily update, a scale sweep."""

from __future__ import annotations

import time
from datetime import datetime

import dagster as dg

from marketdata_pipeline.bench.measure import (
    bars_in_database,
    reference_pages,
    repeated_fetches,
    run_figures,
    sandbox_figures,
)
from marketdata_pipeline.bench.orchestration import breakdown
from marketdata_pipeline.bench.stack import Stack, partition_keys
from marketdata_pipeline.bench.waiting import wait_for
from marketdata_pipeline.defs.automation.schedules import daily_market_data_schedule, daily_run_request
from marketdata_pipeline.defs.market_data.partitions import SYMBOLS_PARTITION
from marketdata_pipeline.timeframes import TIMEFRAMES


def _finish(figures: dict, rate_per_minute: int | None, reference: int | None) -> dict:
    requests = figures["requests"]
    if rate_per_minute:
        figures["floor_s"] = round(requests / rate_per_minute * 60, 1)
        figures["wall_over_floor"] = round(figures["wall_s"] / figures["floor_s"], 2) if requests else None
    if reference is not None:
        figures["reference_pages"] = reference
        figures["requests_over_reference_pages"] = round(requests / reference, 2) if reference else None
        if rate_per_minute and reference:
            # The floor of fetching every timeframe natively: what the targets measure the wall time against.
            figures["reference_floor_s"] = round(reference / rate_per_minute * 60, 1)
            figures["wall_over_reference_floor"] = round(figures["wall_s"] / figures["reference_floor_s"], 2)
    figures["bars_per_s"] = round(figures["bars_written"] / figures["wall_s"], 1) if figures["wall_s"] else None
    return figures


def backfill(stack: Stack, symbols: list[str], timeframes: list[str], start: datetime, now: datetime,
             rate_per_minute: int | None) -> dict:
    """All partitions selected and launched as one backfill, timed from submission to the last run's end."""
    stack.sandbox.clear_requests()
    run_config = stack.sandbox.clock_run_config()
    submitted = time.time()
    backfill_id = stack.dev.launch_backfill(partition_keys(symbols, timeframes), run_config=run_config)
    status = stack.dev.wait_backfill(backfill_id)
    run_ids = [r.dagster_run.run_id for r in stack.instance.get_run_records(
        dg.RunsFilter(tags={"dagster/backfill": backfill_id}))]
    requests = stack.sandbox.requests()
    figures = {
        "partitions": len(symbols) * len(timeframes),
        "backfill_status": status["status"],
        **run_figures(stack.instance, run_ids, submitted),
        **sandbox_figures(requests),
        **repeated_fetches(requests),
        "bars_in_database": bars_in_database(stack.database_url),
        "orchestration": breakdown(stack.instance, run_ids, submitted),
    }
    return _finish(figures, rate_per_minute, reference_pages(symbols, timeframes, start, now))


def daily_update(stack: Stack, next_now: datetime, rate_per_minute: int | None, settle_s: float) -> dict:
    """Moves the sandbox clock, then submits exactly what the daily schedule asks for."""
    before = bars_in_database(stack.database_url)
    time.sleep(settle_s)
    stack.sandbox.configure(now=next_now)
    context = dg.build_schedule_context(instance=stack.instance, scheduled_execution_time=next_now)
    request = daily_market_data_schedule(context)
    assert isinstance(request, dg.RunRequest), request
    figures = _queued(stack, [request])
    figures["new_bars"] = figures["bars_in_database"] - before
    return _finish(figures, rate_per_minute, None)


def queued_backfill(stack: Stack, symbols: list[str], start: datetime, now: datetime) -> dict:
    """Every partition submitted as the daily schedule submits work (one run, straight into the run
    queue), so the backfill daemon's 30 s loop does not hide the cost of the work itself."""
    # The instance's partition order, so that a first..last range spans every symbol.
    request = daily_run_request(stack.instance.get_dynamic_partitions(SYMBOLS_PARTITION), "sweep")
    figures = {"partitions": len(symbols) * len(TIMEFRAMES), **_queued(stack, [request])}
    return _finish(figures, None, reference_pages(symbols, list(TIMEFRAMES), start, now))


def _queued(stack: Stack, requests: list[dg.RunRequest]) -> dict:
    stack.sandbox.clear_requests()
    submitted = time.time()
    run_config = stack.sandbox.clock_run_config()
    run_ids = [
        stack.dev.client.submit_job_execution("market_data_update", tags=dict(r.tags), run_config=run_config)
        for r in requests
    ]
    _wait_for_runs(stack.instance, run_ids)
    served = stack.sandbox.requests()
    return {
        "runs_requested": len(requests),
        **run_figures(stack.instance, run_ids, submitted),
        **sandbox_figures(served),
        **repeated_fetches(served),
        "bars_in_database": bars_in_database(stack.database_url),
        "orchestration": breakdown(stack.instance, run_ids, submitted),
    }


def _wait_for_runs(instance: dg.DagsterInstance, run_ids: list[str], timeout_s: float = 1800) -> None:
    finished = wait_for(lambda: all(instance.get_run_by_id(run_id).is_finished for run_id in run_ids), timeout_s, 1)
    if not finished:
        raise TimeoutError(f"runs still going after {timeout_s} s")
