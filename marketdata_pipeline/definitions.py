"""The code location: every domain registers its own definitions; resources are configured from Settings."""

import dagster as dg

from marketdata_pipeline.defs.automation import definitions as automation
from marketdata_pipeline.defs.corporate_actions import definitions as corporate_actions
from marketdata_pipeline.defs.features import definitions as features
from marketdata_pipeline.defs.health import definitions as health
from marketdata_pipeline.defs.market_data import definitions as market_data
from marketdata_pipeline.defs.resources import resources_from_env

defs = dg.Definitions.merge(
    market_data.defs,
    corporate_actions.defs,
    features.defs,
    automation.defs,
    health.defs,
    # Runs hold one API-bound step each: a step subprocess per run would only add start-up time.
    dg.Definitions(resources=resources_from_env(), executor=dg.in_process_executor),
)
