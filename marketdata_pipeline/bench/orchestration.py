"""Where a workload's seconds go outside the fetch itself, from the instance's own event log: the backfill
daemon picking the backfill up, each run's wait in the queue, its start-up, its step, its teardown."""

from __future__ import annotations

import statistics
from datetime import UTC, datetime

import dagster as dg

from marketdata_pipeline.defs.market_data.assets import market_data
from marketdata_pipeline.defs.market_data.checks import market_data_health
from marketdata_pipeline.defs.market_data.partitions import PARTITION_TAG, RANGE_END_TAG, RANGE_START_TAG

_T = dg.DagsterEventType
_EVENTS = {
    _T.RUN_STARTING,
    _T.RUN_START,
    _T.STEP_START,
    _T.STEP_SUCCESS,
    _T.STEP_FAILURE,
    _T.RUN_SUCCESS,
    _T.RUN_FAILURE,
}
STEP_KEY = market_data.key.to_python_identifier()
CHECK_STEP_KEY = market_data_health.node_def.name


def run_timeline(instance: dg.DagsterInstance, run_id: str, origin: float) -> dict:
    """Seconds after `origin` (the submission) of the run's milestones: created, starting (dequeued and
    handed to the launcher), started (its process is up), market_data's step start and end, ended; and
    the partitions it covers."""
    record = instance.get_run_record_by_id(run_id)
    first: dict[tuple[_T, str | None], float] = {}
    for entry in instance.all_logs(run_id, of_type=_EVENTS):
        first.setdefault((entry.dagster_event_type, entry.step_key), entry.timestamp)

    def at(event: _T, step: str | None = None) -> float | None:
        t = first.get((event, step))
        return None if t is None else round(t - origin, 2)

    tags = record.dagster_run.tags
    step_end = at(_T.STEP_SUCCESS, STEP_KEY)
    return {
        "run_id": run_id[:8],
        "partitions": tags.get(RANGE_START_TAG, tags.get(PARTITION_TAG, ""))
        + (f"..{tags[RANGE_END_TAG]}" if RANGE_END_TAG in tags else ""),
        "created": round(record.create_timestamp.timestamp() - origin, 2),
        "starting": at(_T.RUN_STARTING),
        "started": at(_T.RUN_START),
        "step_start": at(_T.STEP_START, STEP_KEY),
        "step_end": step_end if step_end is not None else at(_T.STEP_FAILURE, STEP_KEY),
        "ended": round(record.end_time - origin, 2) if record.end_time else None,
        "checks_s": _duration(at(_T.STEP_START, CHECK_STEP_KEY), at(_T.STEP_SUCCESS, CHECK_STEP_KEY)),
    }


def _duration(start: float | None, end: float | None) -> float | None:
    return None if start is None or end is None else round(end - start, 2)


def _spans(timelines: list[dict], start: str, end: str) -> list[float]:
    return [t[end] - t[start] for t in timelines if t[start] is not None and t[end] is not None]


def _stats(values: list[float], name: str) -> dict:
    if not values:
        return {}
    return {f"{name}_s_mean": round(statistics.mean(values), 2), f"{name}_s_max": round(max(values), 2)}


def breakdown(instance: dg.DagsterInstance, run_ids: list[str], origin: float) -> dict:
    """Per run its timeline (run_timeline), and summaries: daemon_pickup_s (submission to the first run's
    creation; ~0 for runs submitted straight to the queue), queue_wait (created -> starting), launch
    (starting -> started: a process, the code loaded), startup (starting -> market_data's step start:
    launch plus resources and the pool slot), step, teardown (step end -> run end: mostly checks, the
    market_data_health step's run time)."""
    timelines = sorted((run_timeline(instance, run_id, origin) for run_id in run_ids), key=lambda t: t["created"])
    if not timelines:
        return {}
    last_end = max(t["ended"] or 0 for t in timelines) + origin
    others = [
        r
        for r in instance.get_run_records(dg.RunsFilter(created_after=datetime.fromtimestamp(origin, UTC)))
        if r.dagster_run.run_id not in run_ids and r.create_timestamp.timestamp() < last_end
    ]
    return {
        # Runs the workload did not launch that shared the run queue and the CPU meanwhile (e.g. bar_features
        # requested by its automation sensor as market_data partitions landed), and the seconds they ran before its end.
        "other_runs": len(others),
        "other_runs_s": round(
            sum(max(0.0, min(r.end_time or last_end, last_end) - r.start_time) for r in others if r.start_time), 1
        ),
        "daemon_pickup_s": timelines[0]["created"],
        "last_run_created_s": timelines[-1]["created"],
        **_stats(_spans(timelines, "created", "starting"), "queue_wait"),
        **_stats(_spans(timelines, "starting", "started"), "launch"),
        **_stats(_spans(timelines, "starting", "step_start"), "startup"),
        **_stats(_spans(timelines, "step_start", "step_end"), "step"),
        **_stats(_spans(timelines, "step_end", "ended"), "teardown"),
        **_stats([t["checks_s"] for t in timelines if t["checks_s"] is not None], "checks"),
        "runs": timelines,
    }
