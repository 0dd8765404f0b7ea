"""Driving and observing the real stack: runs through the run queue, run workers, pool slots, messages."""

from __future__ import annotations

import logging
import re
import time

import dagster as dg
import psutil
import sqlalchemy as sa
from dagster_graphql import DagsterGraphQLClientError

from marketdata_pipeline.bars import partition_key
from marketdata_pipeline.bench.stack import Stack
from marketdata_pipeline.defs.market_data.partitions import RANGE_END_TAG, RANGE_START_TAG, SYMBOLS_PARTITION
from marketdata_pipeline.storage.database import engine_for

log = logging.getLogger("marketdata.faults")

POOL = "polygon_api"
PARENT_TAG = "dagster/parent_run_id"
_PID = re.compile(r"Started process for run \(pid: (\d+)\)")
# NOT_STARTED is left out: a run whose submission failed half-way stays so for ever, and never runs.
_IN_FLIGHT = {dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED,
              dg.DagsterRunStatus.CANCELING}


def launch(stack: Stack, first_symbol: str, last_symbol: str, first_tf: str, last_tf: str,
           errors: list[str] | None = None, attempts: int = 4) -> str:
    """One run over a range of partitions, submitted like the daily schedule's run (into the run queue):
    the range covers every symbol registered from `first_symbol` to `last_symbol` × the timeframes between.
    The run's clock is the sandbox's. A submission the UI's API refuses is retried (as a user clicks again); each refusal goes into `errors`.
    After a database restart the webserver's storage pools (runs, events, schedules: one each) hand out dead
    connections until each meets its first error, so a few refusals in a row are the fault under test."""
    tags = {RANGE_START_TAG: partition_key(first_symbol, first_tf), RANGE_END_TAG: partition_key(last_symbol, last_tf),
            "marketdata/api": "polygon"}
    for attempt in range(1, attempts + 1):
        try:
            return stack.dev.client.submit_job_execution(
                "market_data_update", tags=tags, run_config=stack.sandbox.clock_run_config()
            )
        except DagsterGraphQLClientError as exc:
            message = _first_line(str(exc))
            log.warning("  the UI refused to launch a run (attempt %d): %s", attempt, message)
            if errors is not None:
                errors.append(message)
            if attempt == attempts:
                raise
            time.sleep(1)
    raise ValueError(f"attempts must be at least 1, got {attempts}")


def registered_symbols(instance: dg.DagsterInstance) -> list[str]:
    return list(instance.get_dynamic_partitions(SYMBOLS_PARTITION))


def run(instance: dg.DagsterInstance, run_id: str) -> dg.DagsterRun:
    return instance.get_run_by_id(run_id)


def retries_of(instance: dg.DagsterInstance, run_id: str) -> list[str]:
    """The chain of automatic run retries started from `run_id` (each retry's parent is the previous run)."""
    chain: list[str] = []
    current = run_id
    while True:
        children = instance.get_run_records(dg.RunsFilter(tags={PARENT_TAG: current}))
        if not children:
            return chain
        current = children[0].dagster_run.run_id
        chain.append(current)


def wait_settled(instance: dg.DagsterInstance, run_ids: list[str], timeout_s: float, retry_grace_s: float = 15) -> list[str]:
    """Waits until the runs and their automatic retries have all finished; returns every run id seen.
    A failed run gets `retry_grace_s` for the run-retry daemon to launch its retry."""
    deadline = time.monotonic() + timeout_s
    next_progress = time.monotonic() + 30
    while True:
        seen = [rid for r in run_ids for rid in (r, *retries_of(instance, r))]
        runs = [run(instance, rid) for rid in seen]
        if time.monotonic() > next_progress:
            log.info("  waiting for runs: %s", ", ".join(f"{r.run_id[:8]} {r.status.value}" for r in runs))
            next_progress += 30
        done = all(r.status not in _IN_FLIGHT for r in runs)
        if done:
            last = [run(instance, (r, *retries_of(instance, r))[-1]) for r in run_ids]
            failed_recently = [r for r in last if r.status == dg.DagsterRunStatus.FAILURE
                               and time.time() - (instance.get_run_record_by_id(r.run_id).end_time or 0) < retry_grace_s]
            if not failed_recently:
                return seen
        if time.monotonic() > deadline:
            log.warning("runs still going after %.0f s: %s", timeout_s,
                        ", ".join(f"{r.run_id[:8]} {r.status.value}" for r in runs))
            return seen
        time.sleep(1)


def succeeded(instance: dg.DagsterInstance, run_id: str) -> bool:
    return run(instance, run_id).status == dg.DagsterRunStatus.SUCCESS


def terminate(stack: Stack, run_id: str) -> None:
    try:
        stack.dev.client.terminate_run(run_id)
    except Exception as exc:  # already finished, or a dead worker: the run is reported and left alone
        log.warning("  could not terminate run %s: %s", run_id[:8], exc)


def _run_ids(instance: dg.DagsterInstance, statuses: list[dg.DagsterRunStatus]) -> list[str]:
    return [r.dagster_run.run_id for r in instance.get_run_records(dg.RunsFilter(statuses=statuses))]


def in_flight_runs(instance: dg.DagsterInstance) -> list[str]:
    return _run_ids(instance, list(_IN_FLIGHT))


def unstarted_runs(instance: dg.DagsterInstance) -> list[str]:
    """Runs created by a submission that failed half-way (the UI refused the launch after storing the run).
    Left alone, run monitoring fails each 180 s later and run_retries launches it: a run nobody expects."""
    return _run_ids(instance, [dg.DagsterRunStatus.NOT_STARTED])


def cancel_unstarted(instance: dg.DagsterInstance) -> list[str]:
    """Marks every unstarted run canceled, as the UI's "mark canceled" does; returns their ids."""
    run_ids = unstarted_runs(instance)
    for run_id in run_ids:
        instance.report_run_canceled(run(instance, run_id), message="never started: its submission was refused")
    return run_ids


def failure_message(instance: dg.DagsterInstance, run_id: str) -> str:
    """The first line a user reads about why the run failed: the step's failure, else the run's."""
    types = {dg.DagsterEventType.STEP_FAILURE, dg.DagsterEventType.RUN_FAILURE}
    records = instance.get_records_for_run(run_id, of_type=types).records
    for record in records:
        event = record.event_log_entry.dagster_event
        if event.event_type == dg.DagsterEventType.STEP_FAILURE:
            data = event.step_failure_data
            if data.user_failure_data is not None and data.user_failure_data.description:
                return _first_line(data.user_failure_data.description)
            if data.error is not None:
                return _first_line(data.error.message)
    for record in records:
        entry = record.event_log_entry
        return _first_line(entry.dagster_event.message or entry.user_message or "run failed")
    return ""


def _first_line(text: str, width: int = 200) -> str:
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    return line if len(line) <= width else line[: width - 1] + "…"


def run_worker(instance: dg.DagsterInstance, run_id: str) -> psutil.Process | None:
    """The process executing `run_id`, as its own engine event names it ("Started process for run (pid: N)")."""
    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT).records
    for record in records:
        found = _PID.search(record.event_log_entry.dagster_event.message or "")
        if found:
            try:
                return psutil.Process(int(found.group(1)))
            except psutil.NoSuchProcess:
                return None
    return None


def claimed_slots(instance: dg.DagsterInstance, run_id: str) -> int:
    """Pool slots of `polygon_api` still held by `run_id`."""
    info = instance.event_log_storage.get_concurrency_info(POOL)
    return sum(slot.run_id == run_id for slot in info.claimed_slots)


def clean_slate(url: str) -> None:
    """No bars, no conformance probe, and a request budget that has seen nothing: the previous scenario's
    grants were made while the sandbox had no limit, and would otherwise count as requests the API accepted."""
    with engine_for(url).begin() as conn:
        conn.execute(sa.text("truncate market_data, derivation_probes, rate_budget_grants, rate_budget_rejections"))
        conn.execute(sa.text("update rate_budget set blocked_until = null, learned_per_window = null, learned_at = null"))


def data_requests(stack: Stack) -> list[dict]:
    return [r for r in stack.sandbox.requests() if not r["path"].startswith("/_sandbox")]


def ticker_of(path: str) -> str | None:
    """The ticker of a range request (/v2/aggs/ticker/{ticker}/range/...), else None."""
    parts = path.split("/")
    return parts[4] if len(parts) > 4 and parts[3] == "ticker" else None
