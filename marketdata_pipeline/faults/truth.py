"""What the database should hold: the sandbox's own bars, and how far the stored bars are from them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time

import numpy as np
import pandas as pd
import sqlalchemy as sa

from marketdata_pipeline.sandbox.aggregate import bars as sandbox_bars
from marketdata_pipeline.sandbox.calendar import zone
from marketdata_pipeline.sandbox.revisions import Edits, parse_drops, parse_revisions
from marketdata_pipeline.storage.database import engine_for
from marketdata_pipeline.timeframes import timeframe

_VALUES = [("open", "o"), ("high", "h"), ("low", "l"), ("close", "c"), ("volume", "v"), ("vwap", "vw")]


def expected_bars(symbol: str, tf: str, history_start: date, now: datetime, changes: dict | None = None) -> pd.DataFrame:
    """Every bar the sandbox serves for the partition at its clock `now`, from the session of
    `history_start` in the symbol's market zone. `changes` holds the sandbox's revisions and drops, if any."""
    spec = timeframe(tf)
    start = datetime.combine(history_start, time(0), tzinfo=zone(symbol))
    changes = changes or {}
    edits = Edits(parse_revisions(changes.get("revisions", [])), parse_drops(changes.get("drops", [])))
    return sandbox_bars(symbol, spec.multiplier, spec.timespan, start, now, adjusted=False, now=now, edits=edits)


@dataclass(frozen=True)
class Comparison:
    rows_expected: int
    rows_stored: int
    rows_lost: int  # bars the sandbox serves that are not stored
    rows_duplicated: int  # stored rows beyond one per (symbol, timeframe, time)
    rows_stale: int  # stored bars whose values differ from the sandbox's, or that it no longer serves

    @property
    def exact(self) -> bool:
        return self.rows_lost == self.rows_duplicated == self.rows_stale == 0


def stored_rows(url: str) -> pd.DataFrame:
    query = sa.text(
        "select symbol, timeframe, (extract(epoch from time) * 1000)::bigint as t_ms, "
        "open, high, low, close, volume, vwap from market_data"
    )
    with engine_for(url).connect() as conn:
        return pd.read_sql(query, conn)


def diff(stored: pd.DataFrame, expected: pd.DataFrame) -> Comparison:
    """`stored`: every row of market_data; `expected`: the sandbox's bars of every partition under test
    (columns symbol, timeframe, t_ms and the sandbox's o/h/l/c/v/vw)."""
    key = ["symbol", "timeframe", "t_ms"]
    duplicated = int(stored.duplicated(key).sum())
    unique = stored.drop_duplicates(key)
    joined = unique.merge(expected, on=key, how="outer", indicator=True)
    lost = int((joined["_merge"] == "right_only").sum())
    left_behind = int((joined["_merge"] == "left_only").sum())
    both = joined[joined["_merge"] == "both"]
    differs = np.zeros(len(both), dtype=bool)
    for column, theirs in _VALUES:
        differs |= ~np.isclose(both[column].astype(float), both[theirs].astype(float), rtol=1e-9, atol=1e-9)
    return Comparison(len(expected), len(stored), lost, duplicated, left_behind + int(differs.sum()))


def compare(url: str, partitions: list[tuple[str, str]], history_start: date, now: datetime,
            changes: dict | None = None, only: list[tuple[str, str]] | None = None) -> Comparison:
    """Every stored bar against the sandbox's bars of `partitions`: rows of any other partition count as
    stale, unless `only` names the partitions whose rows are compared."""
    frames = []
    for symbol, tf in partitions:
        frame = expected_bars(symbol, tf, history_start, now, changes)
        frames.append(frame.assign(symbol=symbol, timeframe=tf))
    stored = stored_rows(url)
    if only is not None:
        keys = pd.MultiIndex.from_tuples(only)
        stored = stored[pd.MultiIndex.from_frame(stored[["symbol", "timeframe"]]).isin(keys)]
    return diff(stored, pd.concat(frames, ignore_index=True))


def partition_state(url: str, symbol: str, tf: str, history_start: date, versions: dict[str, datetime]) -> str:
    """Which version of the sandbox's bars a partition holds exactly (e.g. "old" or "new"), else "mixed"."""
    stored = stored_rows(url)
    stored = stored[(stored["symbol"] == symbol) & (stored["timeframe"] == tf)]
    for label, now in versions.items():
        expected = expected_bars(symbol, tf, history_start, now).assign(symbol=symbol, timeframe=tf)
        if diff(stored, expected).exact:
            return label
    return "mixed"
