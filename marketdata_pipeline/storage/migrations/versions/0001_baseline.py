"""Baseline: the schema as it stood when migrations were introduced (storage/schema.py + adjustment views).

Idempotent on purpose: databases created before migrations existed come in several earlier shapes (tables,
columns and the ticker constraint were added over time by ad-hoc ALTERs), and this revision brings each of
them to the baseline without touching rows. Later revisions change the schema with ordinary `op` calls.

Revision ID: 0001_baseline
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_baseline"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    from marketdata_pipeline.storage.adjustment import create_adjustment_views
    from marketdata_pipeline.storage.schema import SYMBOL_CHECK, SYMBOL_RULE, metadata

    conn = op.get_bind()
    metadata.create_all(conn, checkfirst=True)
    # Databases created before the request budget learned limits from 429s.
    conn.execute(sa.text("alter table rate_budget add column if not exists learned_per_window integer, "
                         "add column if not exists learned_at timestamptz"))
    # A symbols table created before the ticker rule: NOT VALID, so rows already there are not checked (a
    # bad one must not stop start-up; the universe sync skips and names it), new ones are.
    exists = conn.execute(sa.text("select 1 from pg_constraint where conrelid = 'symbols'::regclass and conname = :n"),
                          {"n": SYMBOL_CHECK}).scalar()
    if not exists:
        conn.execute(sa.text(f"alter table symbols add constraint {SYMBOL_CHECK} check ({SYMBOL_RULE}) not valid"))
    create_adjustment_views(conn)


def downgrade() -> None:
    raise NotImplementedError("the baseline is not downgraded: it would drop the market data")
