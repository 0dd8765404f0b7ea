"""The code location: every domain registers its own definitions; resources come from the environment."""

import dagster as dg

from marketdata_pipeline.automation.definitions import defs as automation_defs
from marketdata_pipeline.market.definitions import defs as market_defs
from marketdata_pipeline.resources import resources_from_env

defs = dg.Definitions.merge(
    market_defs,
    automation_defs,
    dg.Definitions(resources=resources_from_env()),
)
