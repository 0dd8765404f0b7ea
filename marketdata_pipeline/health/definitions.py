import dagster as dg

from marketdata_pipeline.health.alerts import market_data_health_alerts
from marketdata_pipeline.health.checks import market_data_health
from marketdata_pipeline.health.run_failures import market_data_run_failure_alerts

defs = dg.Definitions(
    asset_checks=[market_data_health], sensors=[market_data_health_alerts, market_data_run_failure_alerts]
)
