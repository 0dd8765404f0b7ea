import dagster as dg

from marketdata_pipeline.automation.universe_sync import symbol_universe_sensor

defs = dg.Definitions(sensors=[symbol_universe_sensor])
