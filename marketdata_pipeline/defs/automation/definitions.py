"""The automation domain: the daily update and the symbol-universe sync."""

import dagster as dg

from marketdata_pipeline.defs.automation.schedules import daily_market_data_schedule, market_data_job
from marketdata_pipeline.defs.automation.sensors import symbol_universe_sensor

defs = dg.Definitions(jobs=[market_data_job], schedules=[daily_market_data_schedule], sensors=[symbol_universe_sensor])
