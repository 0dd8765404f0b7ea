import dagster as dg

from marketdata_pipeline.automation.daily_schedule import daily_market_data_schedule, market_data_job
from marketdata_pipeline.automation.universe_sync import symbol_universe_sensor

defs = dg.Definitions(jobs=[market_data_job], schedules=[daily_market_data_schedule], sensors=[symbol_universe_sensor])
