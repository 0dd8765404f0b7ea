import dagster as dg

from marketdata_pipeline.defs.corporate_actions.assets import dividends, market_data_adjusted, splits
from marketdata_pipeline.defs.corporate_actions.schedules import corporate_actions_job, daily_corporate_actions_schedule

defs = dg.Definitions(
    assets=[splits, dividends, market_data_adjusted],
    jobs=[corporate_actions_job],
    schedules=[daily_corporate_actions_schedule],
)
