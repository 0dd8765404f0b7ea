"""Reading and writing the health tables: partition_health and gap_ledger."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from marketdata_pipeline.storage.database import engine_for
from marketdata_pipeline.storage.schema import gap_ledger, partition_health

Key = tuple[str, str]  # (symbol, timeframe)


def save_freshness(url: str, values: list[dict[str, Any]]) -> None:
    """Upsert the freshness columns (symbol, timeframe, state, last_bar, expected_last_bar, lag_seconds, rows,
    checked_at); failing_checks is left as the last quality evaluation wrote it."""
    if not values:
        return
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


def load_health(url: str, keys: Iterable[Key]) -> dict[Key, dict[str, Any]]:
    wanted = set(keys)
    with engine_for(url).connect() as conn:
        rows = conn.execute(sa.select(partition_health)).mappings()
        return {(r["symbol"], r["timeframe"]): dict(r) for r in rows if (r["symbol"], r["timeframe"]) in wanted}


def replace_gaps(
    url: str, symbol: str, timeframe: str, gaps: Iterable[tuple[datetime, str]], recorded_at: datetime
) -> None:
    """The ledger is recomputed from the stored bars each time, so a partition's rows are replaced whole."""
    where = (gap_ledger.c.symbol == symbol) & (gap_ledger.c.timeframe == timeframe)
    with engine_for(url).begin() as conn:
        conn.execute(sa.delete(gap_ledger).where(where))
        rows = [
            {"symbol": symbol, "timeframe": timeframe, "time": time, "reason": reason, "recorded_at": recorded_at}
            for time, reason in gaps
        ]
        if rows:
            conn.execute(gap_ledger.insert(), rows)
