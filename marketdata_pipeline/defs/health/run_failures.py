"""A page within minutes when a run of this code location fails (a rejected key, a crashed worker),
through the same channels as the health alerts, instead of waiting for its partitions to turn Stale."""

# No `from __future__ import annotations`: Dagster inspects the sensor's context annotation at runtime.
import dagster as dg

from marketdata_pipeline.defs.health import notify
from marketdata_pipeline.defs.market_data.partitions import PARTITION_TAG, RANGE_END_TAG, RANGE_START_TAG
from marketdata_pipeline.defs.resources import AlertChannels

_PARTITION_TAGS = (PARTITION_TAG, RANGE_START_TAG, RANGE_END_TAG)
_MAX_ERROR_CHARS = 500


def _root_cause(error) -> str:
    """The original exception's text, not Dagster's "Error occurred while executing op" wrapper."""
    while error.cause is not None:
        error = error.cause
    return error.message.strip()


def failure_payload(context: dg.RunFailureSensorContext, channels: AlertChannels) -> dict:
    run = context.dagster_run
    step_errors = [
        f"{e.step_key}: {_root_cause(e.step_failure_data.error)}"
        for e in context.get_step_failure_events()
        if e.step_failure_data.error
    ]
    # Error texts come from other components (the API client, the database driver): mask any credential.
    error = notify.without_secrets("; ".join(step_errors) or context.failure_event.message or "", channels)
    return {
        "event": "run_failed",
        "job": run.job_name,
        "run_id": run.run_id,
        "partitions": {k.removeprefix("dagster/"): v for k, v in run.tags.items() if k in _PARTITION_TAGS},
        "error": error[:_MAX_ERROR_CHARS],
        "url": f"{channels.webserver_url}/runs/{run.run_id}",
    }


def failure_text(p: dict) -> str:
    partitions = ", ".join(f"{k}={v}" for k, v in p["partitions"].items())
    return f"Run {p['run_id']} of {p['job']} failed{f' ({partitions})' if partitions else ''}: {p['error']} <{p['url']}|Open in Dagster>"


@dg.run_failure_sensor(
    name="market_data_run_failure_alerts",
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Notifies (log, webhook, Slack) when any run of this code location fails.",
)
def market_data_run_failure_alerts(context: dg.RunFailureSensorContext, alerts: AlertChannels):
    body = failure_payload(context, alerts)
    notify.send(body, failure_text(body), context.log, alerts)
