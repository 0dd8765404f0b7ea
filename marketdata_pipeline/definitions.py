"""The code location: every domain registers its own definitions; resources are configured from Settings."""

import os

import dagster as dg

from marketdata_pipeline.defs.automation import definitions as automation
from marketdata_pipeline.defs.corporate_actions import definitions as corporate_actions
from marketdata_pipeline.defs.features import definitions as features
from marketdata_pipeline.defs.health import definitions as health
from marketdata_pipeline.defs.market_data import definitions as market_data
from marketdata_pipeline.defs.resources import resources_from_env

# A market_data run stores one materialization event per partition it covers. One at a time, the 125 of the
# benchmark's no-limit run took 2.3 s of its 9.9 s; in batches of 100 (Dagster's opt-in DAGSTER_EVENT_BATCH_SIZE,
# which falls back to single writes if a batch fails) 0.1 s. Dagster reads it whenever it stores events, so
# setting it here reaches every process that executes runs, however it was started; a value already set wins.
os.environ.setdefault("DAGSTER_EVENT_BATCH_SIZE", "100")

defs = dg.Definitions.merge(
    market_data.defs,
    corporate_actions.defs,
    features.defs,
    automation.defs,
    health.defs,
    # Runs hold one API-bound step each: a step subprocess per run would only add start-up time.
    dg.Definitions(resources=resources_from_env(), executor=dg.in_process_executor),
)
