"""The symbol universe: rows of the `symbols` table."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from marketdata_pipeline.storage.database import engine_for
from marketdata_pipeline.storage.schema import symbols as symbols_table
from marketdata_pipeline.symbols import asset_class, is_valid_symbol, validate_symbol

DEFAULT_UNIVERSE = ["AAPL", "MSFT", "NVDA", "AMZN", "SPY", "X:BTCUSD", "X:ETHUSD"]


def add_symbols(url: str, raw: list[str]) -> list[str]:
    """Validate every ticker first (nothing is written if one is malformed), then upsert them as active."""
    valid = list(dict.fromkeys(validate_symbol(s) for s in raw))
    if valid:
        stmt = insert(symbols_table).values([{"symbol": s, "asset_class": asset_class(s), "active": True} for s in valid])
        stmt = stmt.on_conflict_do_update(index_elements=["symbol"], set_={"active": True})
        with engine_for(url).begin() as conn:
            conn.execute(stmt)
    return valid


def deactivate_symbols(url: str, raw: list[str]) -> list[str]:
    """Mark tickers inactive (their stored bars are kept); returns those that were known."""
    wanted = [s.strip().upper() for s in raw]
    with engine_for(url).begin() as conn:
        rows = conn.execute(
            sa.update(symbols_table)
            .where(symbols_table.c.symbol.in_(wanted))
            .values(active=False)
            .returning(symbols_table.c.symbol)
        )
        return [r[0] for r in rows]


def list_symbols(url: str, active_only: bool = False) -> list[dict[str, Any]]:
    query = sa.select(symbols_table).order_by(symbols_table.c.symbol)
    if active_only:
        query = query.where(symbols_table.c.active)
    with engine_for(url).connect() as conn:
        return [dict(r._mapping) for r in conn.execute(query)]


def active_symbols(url: str) -> list[str]:
    """Active tickers that may become partitions. Malformed rows (written by hand before the table had
    its CHECK constraint) are left out here and named by invalid_active_symbols."""
    return [s for s in _active(url) if is_valid_symbol(s)]


def invalid_active_symbols(url: str) -> list[str]:
    return [s for s in _active(url) if not is_valid_symbol(s)]


def _active(url: str) -> list[str]:
    return [r["symbol"] for r in list_symbols(url, active_only=True)]
