"""A code location whose market_data is deliberately broken: the browser test must fail on it, with a
screenshot of what the user would see (proof that the browser test can fail)."""

import dagster as dg

from marketdata_pipeline import definitions

# Only one Definitions object may live at module scope: reach the real one through its module.
(real_market_data,) = [
    a for a in definitions.defs.assets
    if isinstance(a, dg.AssetsDefinition) and dg.AssetKey("market_data") in a.keys
]


@dg.asset(
    name="market_data",
    partitions_def=real_market_data.partitions_def,
    backfill_policy=dg.BackfillPolicy.single_run(),
)
def market_data() -> None:
    raise dg.Failure("deliberately broken market_data (a test fixture)")


defs = dg.Definitions(assets=[market_data, *(a for a in definitions.defs.assets if a is not real_market_data)], asset_checks=definitions.defs.asset_checks,
                      resources=definitions.defs.resources,
                      executor=dg.in_process_executor)
