"""symbol × timeframe partitions of the bar assets."""

from __future__ import annotations

import dagster as dg

from marketdata_pipeline.timeframes import TIMEFRAMES

SYMBOLS_PARTITION = "symbols"
# The run tags of a partition-range run (what the daily schedule and the fault harness set).
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
PARTITION_TAG = "dagster/partition"

symbol_partitions = dg.DynamicPartitionsDefinition(name=SYMBOLS_PARTITION)
timeframe_partitions = dg.StaticPartitionsDefinition(list(TIMEFRAMES))
bar_partitions = dg.MultiPartitionsDefinition({"symbol": symbol_partitions, "timeframe": timeframe_partitions})
