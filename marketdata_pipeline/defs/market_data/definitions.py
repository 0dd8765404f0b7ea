"""The market_data domain: the bars asset and its health checks."""

import dagster as dg

from marketdata_pipeline.defs.market_data.assets import market_data
from marketdata_pipeline.defs.market_data.checks import market_data_health

defs = dg.Definitions(assets=[market_data], asset_checks=[market_data_health])
