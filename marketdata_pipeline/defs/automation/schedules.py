"""The daily update: every active partition brought up to date in a single run."""

from collections.abc import Sequence

import dagster as dg

from marketdata_pipeline.bars import partition_key
from marketdata_pipeline.defs.market_data.partitions import RANGE_END_TAG, RANGE_START_TAG, SYMBOLS_PARTITION
from marketdata_pipeline.timeframes import TIMEFRAMES

SCHEDULE_TAG = "marketdata/schedule"
_IN_FLIGHT = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]

# bar_features rides along: the day's features are written in the same run as the day's bars.
market_data_job = dg.define_asset_job("market_data_update", selection=dg.AssetSelection.assets("market_data", "bar_features"))


def daily_run_request(symbols: Sequence[str], date_key: str) -> dg.RunRequest:
    """One run over every symbol × timeframe: a range's keys are the cartesian product of the
    per-dimension ranges, so first symbol|first timeframe .. last symbol|last timeframe covers all.
    One run instead of one per partition (or per timeframe) keeps Dagster's per-run overhead out of
    the daily cost; the fetch inside the run is concurrent and bounded by the request budget."""
    timeframes = list(TIMEFRAMES)
    return dg.RunRequest(
        run_key=f"daily:{date_key}",
        tags={
            RANGE_START_TAG: partition_key(symbols[0], timeframes[0]),
            RANGE_END_TAG: partition_key(symbols[-1], timeframes[-1]),
            SCHEDULE_TAG: "daily",
            "marketdata/api": "polygon",
        },
    )


@dg.schedule(
    cron_schedule="0 2 * * *",
    job=market_data_job,
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
def daily_market_data_schedule(context: dg.ScheduleEvaluationContext):
    in_flight = context.instance.get_run_records(
        dg.RunsFilter(tags={SCHEDULE_TAG: "daily"}, statuses=_IN_FLIGHT), limit=1
    )
    if in_flight:
        return dg.SkipReason(f"the previous daily update ({in_flight[0].dagster_run.run_id}) is still running")
    symbols = context.instance.get_dynamic_partitions(SYMBOLS_PARTITION)
    if not symbols:
        return dg.SkipReason("no symbols registered (marketdata symbols add …)")
    return daily_run_request(symbols, context.scheduled_execution_time.strftime("%Y-%m-%d"))
