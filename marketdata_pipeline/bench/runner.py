"""Runs every workload of a plan and returns the report (one object per workload)."""

from __future__ import annotations

import json
import logging
import os
import platform
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import dagster

from marketdata_pipeline.bench import workloads
from marketdata_pipeline.bench.features import measure_features
from marketdata_pipeline.bench.fidelity import compare_with_sandbox
from marketdata_pipeline.bench.measure import bars_in_database, reference_pages
from marketdata_pipeline.bench.naive import TABLE as NAIVE_TABLE
from marketdata_pipeline.bench.naive import run_naive
from marketdata_pipeline.bench.plans import ALL_TIMEFRAMES, NEXT_DAY, NOW, Plan
from marketdata_pipeline.bench.processes import ProcessSampler
from marketdata_pipeline.bench.read_path import measure_read_path
from marketdata_pipeline.bench.sandbox_process import SandboxProcess
from marketdata_pipeline.bench.scratch import scratch_database
from marketdata_pipeline.bench.stack import at_midnight, stack, symbol_universe
from marketdata_pipeline.bench.targets import free_tier, targets
from marketdata_pipeline.bench.write_path import measure_write_path
from marketdata_pipeline.storage.database import embedded_server_pids
from marketdata_pipeline.storage.schema import create_schema

log = logging.getLogger("marketdata.bench")


class _Sampled(ProcessSampler):
    """The bench process, the sandbox, the embedded PostgreSQL and `extra` roots (e.g. dagster dev)."""

    def __init__(self, sandbox: SandboxProcess, extra: Sequence[int] = ()):
        super().__init__([os.getpid(), sandbox.process.pid, *embedded_server_pids(), *extra])
        self.sandbox_pid = sandbox.process.pid

    def summary(self) -> dict:
        # The sandbox stands in for Polygon: its CPU is the API's cost, not the pipeline's.
        return {**super().summary(), "sandbox_cpu_s": round(self.cpu_s(self.sandbox_pid), 1)}


def _naive(admin_url: str, sandbox: SandboxProcess, symbols: list[str], timeframes: list[str],
           start: datetime, rate: int | None) -> dict:
    with scratch_database(admin_url, "mdp_naive") as url:
        create_schema(url)
        sandbox.clear_requests()
        with _Sampled(sandbox) as sampler:
            figures = run_naive(url, sandbox.base_url, f"naive-{uuid.uuid4().hex[:6]}", symbols, timeframes, start, NOW)
        figures.update(sampler.summary(), runs_launched=0, symbols=len(symbols), timeframes=timeframes,
                       bars_in_database=bars_in_database(url, NAIVE_TABLE))
    reference = reference_pages(symbols, timeframes, start, NOW)
    figures["reference_pages"] = reference
    figures["requests_over_reference_pages"] = round(figures["requests"] / reference, 2)
    figures["bars_per_s"] = round(figures["bars_written"] / figures["wall_s"], 1)
    if rate:
        figures["floor_s"] = round(figures["requests"] / rate * 60, 1)
        figures["wall_over_floor"] = round(figures["wall_s"] / figures["floor_s"], 2)
    return figures


def _done(name: str, figures: dict) -> None:
    """Progress for people watching a long run: each workload's figures as soon as it ends."""
    log.info("%s done: %s", name, json.dumps(figures, default=str))


def _through_dagster(plan: Plan, admin_url: str, sandbox: SandboxProcess) -> dict:
    """The backfill and then the daily update on one stack, each followed by the check of every stored bar
    against the sandbox's native bars (outside the measured time)."""
    symbols = symbol_universe(plan.backfill_symbols)
    timeframes = plan.backfill_timeframes
    start = at_midnight(plan.backfill_history_start)
    rate = plan.rate_limit_per_minute
    report: dict = {}
    log.info("backfill: %d symbols x %s, rate limit %d/min", len(symbols), timeframes, rate)
    with stack(admin_url, sandbox, symbols, plan.backfill_history_start, rate) as s:
        with _Sampled(sandbox, [s.dev.process.pid]) as sampler:
            report["backfill"] = workloads.backfill(s, symbols, timeframes, start, NOW, rate)
        report["backfill"].update(sampler.summary(), symbols=len(symbols), timeframes=timeframes)
        report["backfill"].update(_fidelity(s.database_url, symbols, timeframes, plan.backfill_history_start, NOW))
        _done("backfill", report["backfill"])
        log.info("daily update")
        with _Sampled(sandbox, [s.dev.process.pid]) as sampler:
            report["daily_update"] = workloads.daily_update(s, NEXT_DAY, rate, plan.budget_settle_s)
        report["daily_update"].update(sampler.summary(), symbols=len(symbols))
        report["daily_update"].update(
            _fidelity(s.database_url, symbols, timeframes, plan.backfill_history_start, NEXT_DAY))
        _done("daily update", report["daily_update"])
    return report


def _fidelity(url: str, symbols: list[str], timeframes: list[str], history_start, now: datetime) -> dict:
    started = time.monotonic()
    figures = compare_with_sandbox(url, symbols, timeframes, history_start, now)
    figures["fidelity_check_s"] = round(time.monotonic() - started, 1)
    if figures["bars_differing"]:
        log.warning("stored bars differ from the sandbox's: %s", figures["partitions_differing"])
    return figures


def run_through_dagster(plan: Plan, admin_url: str) -> dict:
    """Only the workloads that go through Dagster under the rate limit (backfill, daily update), with their
    targets: a quick way to measure changes to the pipeline's orchestration."""
    rate = plan.rate_limit_per_minute
    with SandboxProcess(now=NOW.isoformat(), rate_limit_per_minute=rate, latency_s=plan.latency_s) as sandbox:
        report = _through_dagster(plan, admin_url, sandbox)
    report["free_tier"] = free_tier(report["backfill"])
    report["targets"] = targets(report, plan)
    return report


def run_plan(plan: Plan, admin_url: str) -> dict:
    report: dict = {}
    started = time.monotonic()

    log.info("write path: %s rows", plan.write_path_rows)
    report["write_path"] = measure_write_path(admin_url, rows=plan.write_path_rows)
    _done("write path", report["write_path"])
    report["read_path"] = measure_read_path(admin_url, rows=plan.write_path_rows)
    _done("read path", report["read_path"])

    log.info("features: %d symbols x %s", plan.backfill_symbols, plan.backfill_timeframes)
    report["features"] = measure_features(admin_url, plan.backfill_symbols, plan.backfill_timeframes,
                                          plan.backfill_history_start)
    _done("features", report["features"])

    symbols = symbol_universe(plan.backfill_symbols)
    start = at_midnight(plan.backfill_history_start)
    rate = plan.rate_limit_per_minute
    with SandboxProcess(now=NOW.isoformat(), rate_limit_per_minute=rate, latency_s=plan.latency_s) as sandbox:
        report.update(_through_dagster(plan, admin_url, sandbox))
        sandbox.configure(now=NOW.isoformat())

        naive_symbols = symbols[: plan.naive_symbols]
        log.info("naive baseline under the rate limit: %d symbols", len(naive_symbols))
        limited = _naive(admin_url, sandbox, naive_symbols, plan.backfill_timeframes, start, rate)
        _done("naive baseline, rate-limited", limited)

        sandbox.configure(rate_limit_per_minute=None, latency_s=plan.sweep_latency_s)
        sweep_start = at_midnight(plan.sweep_history_start)
        first = symbol_universe(plan.sweep_symbols[0])
        log.info("naive baseline without a rate limit: %d symbols", len(first))
        unlimited = _naive(admin_url, sandbox, first, ALL_TIMEFRAMES, sweep_start, None)
        _done("naive baseline, no limit", unlimited)
        report["naive_baseline"] = {"rate_limited": limited, "unlimited": unlimited}

        points = []
        for n in plan.sweep_symbols:
            universe = symbol_universe(n)
            log.info("scale sweep: %d symbols", n)
            with stack(admin_url, sandbox, universe, plan.sweep_history_start, None) as s:
                with _Sampled(sandbox, [s.dev.process.pid]) as sampler:
                    point = workloads.queued_backfill(s, universe, sweep_start, NOW)
                point.update(sampler.summary(), symbols=n)
            points.append(point)
            _done(f"scale sweep {n}", point)
        report["scale_sweep"] = {"latency_s": plan.sweep_latency_s, "history_start": str(plan.sweep_history_start),
                                 "points": points}
    # Same slice, same sandbox settings, no rate limit: naive wall time over ours.
    report["unlimited_speedup_vs_naive"] = round(unlimited["wall_s"] / points[0]["wall_s"], 2)
    report["free_tier"] = free_tier(report["backfill"])
    report["targets"] = targets(report, plan)
    report["meta"] = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "total_s": round(time.monotonic() - started, 1),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "dagster": dagster.__version__,
        "sandbox_now": NOW.isoformat(),
        "backfill_history_start": str(plan.backfill_history_start),
        "rate_limit_per_minute": rate,
        "latency_s": plan.latency_s,
    }
    return report
