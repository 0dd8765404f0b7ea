"""The health domain: alerts when partitions turn unhealthy and when runs fail."""

import dagster as dg

from marketdata_pipeline.defs.health.alerts import market_data_health_alerts
from marketdata_pipeline.defs.health.run_failures import market_data_run_failure_alerts

defs = dg.Definitions(sensors=[market_data_health_alerts, market_data_run_failure_alerts])
