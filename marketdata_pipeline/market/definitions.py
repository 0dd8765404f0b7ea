import dagster as dg

from marketdata_pipeline.market.assets import market_data

defs = dg.Definitions(assets=[market_data])
