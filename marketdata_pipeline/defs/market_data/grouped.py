"""Daily bars of many symbols from the grouped daily endpoint: one request per session for a whole market,
instead of one per symbol, when a daily update needs the same few sessions for many symbols."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime

import pandas as pd

from marketdata_pipeline.bars import BAR_COLUMNS
from marketdata_pipeline.client import PolygonClient
from marketdata_pipeline.defs.market_data.fetch import PartitionRequest
from marketdata_pipeline.storage.io_manager import PartitionBars


def fetch_grouped(
    client: PolygonClient, market: str, requests: list[PartitionRequest], days: list[date]
) -> Iterator[PartitionBars]:
    """Each request's daily bars from one grouped request per day of `days`, as the range endpoint would
    have answered for its window (the endpoint's 16:00 ET stamps normalised to the session's midnight)."""
    started = datetime.now(UTC)
    frames = [client.aggs.grouped_daily(day, adjusted=False, market=market) for day in days]
    wanted = {req.symbol for req in requests}
    rows = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["symbol", *BAR_COLUMNS])
    rows = rows[rows["symbol"].isin(wanted)]
    by_symbol = {symbol: group for symbol, group in rows.groupby("symbol", sort=False)}
    for req in requests:
        group = by_symbol.get(req.symbol)
        if group is None:
            continue
        bars = group[group["time"] >= req.start][BAR_COLUMNS].sort_values("time", ignore_index=True)
        yield PartitionBars(req.symbol, req.timeframe, (req.start, req.end), started, bars)
