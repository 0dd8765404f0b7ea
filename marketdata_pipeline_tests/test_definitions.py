"""Every definition in the code location loads, the way `dagster dev` loads it."""

import dagster as dg

from marketdata_pipeline.definitions import defs


def test_all_definitions_load():
    dg.Definitions.validate_loadable(defs)
    repo = defs.get_repository_def()
    keys = {k.to_user_string() for k in repo.asset_graph.get_all_asset_keys()}
    assert "market_data" in keys
    assert repo.has_sensor_def("symbol_universe_sensor")


def test_market_data_partitions_are_symbol_by_timeframe():
    spec = defs.get_assets_def("market_data")
    partitions = spec.partitions_def
    assert isinstance(partitions, dg.MultiPartitionsDefinition)
    assert [d.name for d in partitions.partitions_defs] == ["symbol", "timeframe"]
    assert partitions.partitions_defs[1].partitions_def.get_partition_keys() == ["1d", "1h", "4h", "15m", "5m"]
