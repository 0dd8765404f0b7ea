"""The corporate actions' part of the daily update: one run over every symbol, beside market_data's.

A Dagster job holds assets of one partitioning only, so the symbol-partitioned actions cannot share the
market_data_update job (symbol × timeframe); this schedule fires with it (same cron) and runs one job
over the whole symbol range. Adjustment happens on read, so the two runs need no ordering.
"""

from collections.abc import Sequence

import dagster as dg

from marketdata_pipeline.defs.automation.schedules import SCHEDULE_TAG, daily_market_data_schedule
from marketdata_pipeline.defs.market_data.partitions import RANGE_END_TAG, RANGE_START_TAG, SYMBOLS_PARTITION

corporate_actions_job = dg.define_asset_job(
    "corporate_actions_update", selection=dg.AssetSelection.assets("splits", "dividends")
)


def daily_actions_request(symbols: Sequence[str], date_key: str) -> dg.RunRequest:
    return dg.RunRequest(
        run_key=f"actions:{date_key}",
        tags={RANGE_START_TAG: symbols[0], RANGE_END_TAG: symbols[-1], SCHEDULE_TAG: "daily_actions", "marketdata/api": "polygon"},
    )


@dg.schedule(
    cron_schedule=daily_market_data_schedule.cron_schedule,
    job=corporate_actions_job,
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
def daily_corporate_actions_schedule(context: dg.ScheduleEvaluationContext):
    symbols = context.instance.get_dynamic_partitions(SYMBOLS_PARTITION)
    if not symbols:
        return dg.SkipReason("no symbols registered (marketdata symbols add …)")
    return daily_actions_request(symbols, context.scheduled_execution_time.strftime("%Y-%m-%d"))
