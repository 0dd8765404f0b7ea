"""The bar schema every layer agrees on: columns, dtypes, the API's page limit and partition keys.

A leaf module: it imports nothing of the project, so the client, storage and the Dagster layer can all
depend on it without depending on each other.
"""

from __future__ import annotations

from typing import Final

# The columns of a bar frame, in storage order (the market_data table adds symbol and timeframe in front).
BAR_COLUMNS = ["time", "open", "high", "low", "close", "volume", "vwap", "trade_count"]
TIME_DTYPE: Final = "datetime64[ns, UTC]"
BAR_DTYPES = {
    "time": TIME_DTYPE,
    "open": "float64",
    "high": "float64",
    "low": "float64",
    "close": "float64",
    "volume": "float64",
    "vwap": "float64",
    "trade_count": "Int64",  # nullable: Polygon omits `n` on some bars
}
# Polygon's largest `limit` for aggregates. It counts base aggregates (minutes for intraday bars), so a
# client always asks for the maximum.
MAX_PAGE_LIMIT = 50_000

_SEPARATOR = "|"


def partition_key(symbol: str, timeframe: str) -> str:
    """('AAPL', '1d') -> 'AAPL|1d', the string form of a market_data partition key (symbol first, as
    Dagster orders a MultiPartitionKey's dimensions alphabetically)."""
    return f"{symbol}{_SEPARATOR}{timeframe}"


def split_key(key: object) -> tuple[str, str]:
    """'AAPL|1d' -> ('AAPL', '1d'). Works for Dagster's MultiPartitionKey and plain strings alike."""
    symbol, timeframe = str(key).split(_SEPARATOR)
    return symbol, timeframe
