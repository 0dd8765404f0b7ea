"""Storing corporate actions (`splits`, `dividends`): one symbol's complete listing replaces its stored rows.

The vendor's listing for a symbol is the truth: a revised action (same natural key, new values) replaces
the stored row, an action no longer listed (cancelled, or withdrawn) is deleted, all in one transaction so
a reader never sees half a replacement. Writers of one symbol's actions take turns (an advisory lock).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime

import pandas as pd
import sqlalchemy as sa

from marketdata_pipeline.storage.database import advisory_lock_key, engine_for
from marketdata_pipeline.storage.schema import dividends as dividends_table
from marketdata_pipeline.storage.schema import splits as splits_table


@dataclass(frozen=True)
class _Kind:
    table: sa.Table
    key: tuple[str, ...]  # natural key after `symbol`
    # stored column -> the client frame's column (reference.SPLIT_COLUMNS / DIVIDEND_COLUMNS)
    columns: dict[str, str]


SPLITS = _Kind(
    splits_table,
    ("execution_date",),
    {"execution_date": "execution_date", "split_from": "split_from", "split_to": "split_to", "vendor_id": "id"},
)
DIVIDENDS = _Kind(
    dividends_table,
    ("ex_dividend_date", "dividend_type"),
    {
        "ex_dividend_date": "ex_dividend_date",
        "dividend_type": "dividend_type",
        "cash_amount": "cash_amount",
        "currency": "currency",
        "declaration_date": "declaration_date",
        "record_date": "record_date",
        "pay_date": "pay_date",
        "frequency": "frequency",
        "vendor_id": "id",
    },
)


@dataclass(frozen=True)
class Replacement:
    """What one replace changed."""

    listed: int  # actions in the vendor's listing
    inserted: int
    updated: int  # revisions: same natural key, other values
    deleted: int  # stored actions the listing no longer has (cancelled)

    def as_metadata(self) -> dict[str, int]:
        return {"listed": self.listed, "inserted": self.inserted, "updated": self.updated, "deleted": self.deleted}


def _plain(value: object) -> object:
    """pandas scalars -> Python values psycopg stores (NaT/NA/NaN -> None, Timestamps -> dates)."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.date()
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return value


def _rows(kind: _Kind, symbol: str, listing: pd.DataFrame) -> dict[tuple[object, ...], dict[str, object]]:
    """The listed actions of `symbol` as rows to store, by natural key."""
    mine = listing[listing["ticker"] == symbol] if "ticker" in listing else listing
    rows: dict[tuple[object, ...], dict[str, object]] = {}
    for record in mine.to_dict("records"):
        row = {column: _plain(record.get(source)) for column, source in kind.columns.items()}
        key = tuple(row[k] for k in kind.key)
        if any(part is None for part in key):
            raise ValueError(f"{kind.table.name} of {symbol}: a listed action lacks {', '.join(kind.key)}: {row}")
        if key in rows:
            # Two listed actions on one natural key cannot both be stored: refuse rather than keep one silently.
            raise ValueError(f"{kind.table.name} of {symbol}: the vendor listed two actions for {key}")
        rows[key] = row
    return rows


def _replace(url: str, kind: _Kind, symbol: str, listing: pd.DataFrame, fetched_at: datetime | None) -> Replacement:
    new = _rows(kind, symbol, listing)
    fetched_at = fetched_at or datetime.now(UTC)
    table, values = kind.table, [c for c in kind.columns if c not in kind.key]
    with engine_for(url).begin() as conn:
        conn.execute(sa.text("select pg_advisory_xact_lock(:k)"), {"k": advisory_lock_key(table.name, symbol)})
        stored = {
            tuple(r[k] for k in kind.key): r
            for r in conn.execute(sa.select(table).where(table.c.symbol == symbol)).mappings()
        }
        gone = [key for key in stored if key not in new]
        changed = [key for key in new if key in stored and any(stored[key][c] != new[key][c] for c in values)]
        added = [key for key in new if key not in stored]
        for key in gone:
            conn.execute(table.delete().where(table.c.symbol == symbol, *(table.c[k] == v for k, v in zip(kind.key, key))))
        for key in changed:
            conn.execute(
                table.update()
                .where(table.c.symbol == symbol, *(table.c[k] == v for k, v in zip(kind.key, key)))
                .values(**{c: new[key][c] for c in values}, fetched_at=fetched_at)
            )
        if added:
            conn.execute(table.insert(), [{"symbol": symbol, **new[key], "fetched_at": fetched_at} for key in added])
    return Replacement(len(new), len(added), len(changed), len(gone))


def replace_splits(url: str, symbol: str, listing: pd.DataFrame, fetched_at: datetime | None = None) -> Replacement:
    """Make `symbol`'s stored splits exactly `listing` (client.reference.splits(symbol)'s frame)."""
    return _replace(url, SPLITS, symbol, listing, fetched_at)


def replace_dividends(url: str, symbol: str, listing: pd.DataFrame, fetched_at: datetime | None = None) -> Replacement:
    """Make `symbol`'s stored dividends exactly `listing` (client.reference.dividends(symbol)'s frame)."""
    return _replace(url, DIVIDENDS, symbol, listing, fetched_at)


def load_actions(url: str, kind: _Kind, symbol: str | None = None) -> pd.DataFrame:
    """Stored actions (all symbols, or one), ordered by symbol and natural key."""
    table = kind.table
    query = sa.select(table).order_by(table.c.symbol, *(table.c[k] for k in kind.key))
    if symbol is not None:
        query = query.where(table.c.symbol == symbol)
    with engine_for(url).connect() as conn:
        return pd.DataFrame(conn.execute(query).mappings().all(), columns=[c.name for c in table.columns])


def split_dates(url: str, symbol: str) -> list[date]:
    """Execution dates of `symbol`'s stored splits (the price-jump check excuses those days)."""
    with engine_for(url).connect() as conn:
        return list(
            conn.execute(sa.select(splits_table.c.execution_date).where(splits_table.c.symbol == symbol)).scalars()
        )
