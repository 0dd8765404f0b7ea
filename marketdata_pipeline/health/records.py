"""Reading and writing the health tables: partition_health and gap_ledger."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from marketdata_pipeline.health.freshness import Freshness
from marketdata_pipeline.health.gaps import Gap
from marketdata_pipeline.storage.database import engine_for
from marketdata_pipeline.storage.schema import gap_ledger, partition_health

Key = tuple[str, str]  # (symbol, timeframe)


@dataclass(frozen=True)
class PartitionHealth:
    symbol: str
    timeframe: str
    freshness: Freshness
    rows: int
    checked_at: datetime


def save_freshness(url: str, entries: list[PartitionHealth]) -> None:
    """Upsert the freshness columns; failing_checks is left as the last quality evaluation wrote it."""
    if not entries:
        return
    values = [
        {
            "symbol": e.symbol,
            "timeframe": e.timeframe,
            "state": e.freshness.state.value,
            "last_bar": e.freshness.last_bar,
            "expected_last_bar": e.freshness.expected_last_bar,
            "lag_seconds": e.freshness.lag.total_seconds() if e.freshness.lag is not None else None,
            "rows": e.rows,
            "checked_at": e.checked_at,
        }
        for e in entries
    ]
    stmt = insert(partition_health).values(values)
    updated = ["state", "last_bar", "expected_last_bar", "lag_seconds", "rows", "checked_at"]
    stmt = stmt.on_conflict_do_update(
        index_elements=["symbol", "timeframe"], set_={c: stmt.excluded[c] for c in updated}
    )
    with engine_for(url).begin() as conn:
        conn.execute(stmt)


def save_failing_checks(url: str, failing: dict[Key, list[str]]) -> None:
    """Record which quality checks fail per partition (rows must exist: save freshness first)."""
    if not failing:
        return
    stmt = (
        sa.update(partition_health)
        .where(partition_health.c.symbol == sa.bindparam("s"), partition_health.c.timeframe == sa.bindparam("tf"))
        .values(failing_checks=sa.bindparam("checks"))
    )
    with engine_for(url).begin() as conn:
        conn.execute(stmt, [{"s": s, "tf": tf, "checks": checks} for (s, tf), checks in failing.items()])


def load_health(url: str, keys: Iterable[Key]) -> dict[Key, dict]:
    wanted = set(keys)
    with engine_for(url).connect() as conn:
        rows = conn.execute(sa.select(partition_health)).mappings()
        return {(r["symbol"], r["timeframe"]): dict(r) for r in rows if (r["symbol"], r["timeframe"]) in wanted}


def replace_gaps(url: str, symbol: str, timeframe: str, gaps: list[Gap], recorded_at: datetime) -> None:
    """The ledger is recomputed from the stored bars each time, so a partition's rows are replaced whole."""
    where = (gap_ledger.c.symbol == symbol) & (gap_ledger.c.timeframe == timeframe)
    with engine_for(url).begin() as conn:
        conn.execute(sa.delete(gap_ledger).where(where))
        if gaps:
            conn.execute(
                gap_ledger.insert(),
                [
                    {"symbol": symbol, "timeframe": timeframe, "time": g.time, "reason": g.reason.value, "recorded_at": recorded_at}
                    for g in gaps
                ],
            )
