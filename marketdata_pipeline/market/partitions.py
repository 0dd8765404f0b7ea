"""symbol × timeframe partitions of the bar assets."""

from __future__ import annotations

import dagster as dg

from marketdata_pipeline.timeframes import TIMEFRAMES

SYMBOLS_PARTITION = "symbols"

symbol_partitions = dg.DynamicPartitionsDefinition(name=SYMBOLS_PARTITION)
timeframe_partitions = dg.StaticPartitionsDefinition(list(TIMEFRAMES))
bar_partitions = dg.MultiPartitionsDefinition({"symbol": symbol_partitions, "timeframe": timeframe_partitions})


def split_key(key: str) -> tuple[str, str]:
    """'AAPL|1d' -> ('AAPL', '1d'). Works for MultiPartitionKey and plain strings alike."""
    symbol, timeframe = str(key).split("|")
    return symbol, timeframe


def partition_key(symbol: str, timeframe: str) -> dg.MultiPartitionKey:
    return dg.MultiPartitionKey({"symbol": symbol, "timeframe": timeframe})
