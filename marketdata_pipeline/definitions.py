"""The code location: every domain registers its own definitions; resources come from the environment."""

import dagster as dg

from marketdata_pipeline.automation import definitions as automation
from marketdata_pipeline.defs.corporate_actions import definitions as corporate_actions
from marketdata_pipeline.defs.features import definitions as features
from marketdata_pipeline.health import definitions as health
from marketdata_pipeline.market import definitions as market
from marketdata_pipeline.resources import resources_from_env

defs = dg.Definitions.merge(
    market.defs,
    features.defs,
    automation.defs,
    health.defs,
    corporate_actions.defs,
    # Runs hold one API-bound step each: a step subprocess per run would only add start-up time.
    dg.Definitions(resources=resources_from_env(), executor=dg.in_process_executor),
)
