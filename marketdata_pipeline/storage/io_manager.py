"""The bars IO manager: writes the partitions an asset hands over, one transaction each, and loads
partitions back for downstream assets.

The asset does the fetching and decides what a failure means; it returns an iterable of PartitionBars
(usually a lazy one, so writing overlaps fetching and memory stays bounded). An iterable that raises after
its last partition (the asset's deferred failure) has every partition before that written first. Extra
metadata the iterable carries in a `metadata` mapping (the API usage) is reported with the write's own.
"""

# No `from __future__ import annotations`: Dagster inspects the nested resource's annotation at runtime.
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import dagster as dg
import pandas as pd

from marketdata_pipeline.bars import BAR_COLUMNS, partition_key, split_key
from marketdata_pipeline.storage.bar_reader import read_partitions
from marketdata_pipeline.storage.bars import upsert_bars
from marketdata_pipeline.storage.feature_plan import read_for_features
from marketdata_pipeline.storage.resource import MarketDatabase

# What load_input returns: one frame for every partition asked for.
FRAME_COLUMNS = ["symbol", "timeframe", *BAR_COLUMNS]


@dataclass(frozen=True)
class PartitionBars:
    """One partition's fetched bars: the complete answer for [window[0], window[1]], fetched from
    `fetch_started` on (see storage.bars.upsert_bars for what both mean to the write)."""

    symbol: str
    timeframe: str
    window: tuple[datetime, datetime]
    fetch_started: datetime
    bars: pd.DataFrame
    source: str = "api"  # or "derived:5m": built from the stored 5m bars

    @property
    def key(self) -> str:
        return partition_key(self.symbol, self.timeframe)


@dataclass
class _Tally:
    partitions: int = 0
    rows: int = 0
    derived_partitions: int = 0
    db_s: float = 0.0
    first: Any = None
    last: Any = None
    keys: list[str] = field(default_factory=list)

    def add(self, part: PartitionBars, rows: int, seconds: float) -> None:
        self.partitions += 1
        self.rows += rows
        if part.source != "api":
            self.derived_partitions += 1
        self.db_s += seconds
        if not part.bars.empty:
            first, last = part.bars["time"].iloc[0], part.bars["time"].iloc[-1]
            self.first = first if self.first is None else min(self.first, first)
            self.last = last if self.last is None else max(self.last, last)

    def metadata(self) -> dict[str, Any]:
        return {
            "partitions_written": self.partitions,
            "partitions_derived": self.derived_partitions,
            "rows_written": self.rows,
            "db_seconds": round(self.db_s, 3),
            "first_bar": str(self.first) if self.first is not None else "none",
            "last_bar": str(self.last) if self.last is not None else "none",
        }


class PostgresBarsIOManager(dg.ConfigurableIOManager):
    """market_data in PostgreSQL: one atomic upsert per partition out, one frame of partitions in."""

    database: MarketDatabase

    def handle_output(self, context: dg.OutputContext, obj: Iterable[PartitionBars]) -> None:
        tally = _Tally()
        try:
            for part in obj:
                started = time.monotonic()
                try:
                    rows = upsert_bars(
                        self.database.url, part.symbol, part.timeframe, part.bars,
                        window=part.window, fetch_started=part.fetch_started, source=part.source,
                    )
                except (KeyboardInterrupt, dg.DagsterExecutionInterruptedError):
                    # Run termination (or Ctrl-C) lands here: say what the user will want to know.
                    context.log.error(
                        f"interrupted while writing {part.key}: its transaction was rolled back, so its previous rows "
                        "are intact; partitions written before it keep their new rows, the rest were not written"
                    )
                    raise
                tally.add(part, rows, time.monotonic() - started)
        finally:
            # Also when the asset's iterable raises its deferred failure: what was written is reported.
            extra: Mapping[str, Any] = getattr(obj, "metadata", None) or {}
            context.add_output_metadata({**extra, **tally.metadata()})

    def load_input(self, context: dg.InputContext) -> pd.DataFrame:
        """Every partition of the upstream asset the input covers, as one frame (FRAME_COLUMNS) sorted by
        symbol, timeframe, time. Input metadata `adjust` ("none", "splits", "all") picks the price series;
        `tail` (True) reads only what storage.feature_plan says the features need."""
        metadata = context.definition_metadata or {}
        adjust = metadata.get("adjust", "none")
        # One COPY for all partitions: per-partition queries cost ~5x as much for a large backfill.
        keys = sorted(split_key(key) for key in context.asset_partition_keys)
        if metadata.get("tail"):
            # bar_features: only each partition's tail after its unchanged head (storage.feature_plan), with
            # the bars' row hashes (column row_hash) and the plans in attrs["feature_plans"] by (symbol, timeframe).
            frame, plans = read_for_features(self.database.url, keys, adjust)
            frame = frame[[*FRAME_COLUMNS, "row_hash"]]
            frame.attrs["feature_plans"] = dict(zip(keys, plans))
            return frame
        return read_partitions(self.database.url, keys, adjust)[FRAME_COLUMNS]
