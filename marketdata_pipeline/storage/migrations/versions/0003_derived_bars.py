"""market_data records each bar's source ('api' or 'derived:5m'), and derivation_probes keeps the conformance
probe of each asset class × derived timeframe (storage.derivation).

Idempotent like 0002: on a new database the baseline has already created both from the live metadata.
Adding a column with a constant default rewrites no rows (PostgreSQL 11+).

Revision ID: 0003_derived_bars
Revises: 0002_feature_tail_state
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_derived_bars"
down_revision = "0002_feature_tail_state"
branch_labels = None
depends_on = None


def upgrade() -> None:
    from marketdata_pipeline.storage.schema import BAR_SOURCES, derivation_probes

    conn = op.get_bind()
    conn.execute(sa.text("alter table market_data add column if not exists source text not null default 'api'"))
    exists = conn.execute(sa.text(
        "select 1 from pg_constraint where conrelid = 'market_data'::regclass and conname = 'market_data_source'"
    )).scalar()
    if not exists:
        allowed = ", ".join(f"'{s}'" for s in BAR_SOURCES)
        conn.execute(sa.text(f"alter table market_data add constraint market_data_source check (source in ({allowed}))"))
    derivation_probes.create(conn, checkfirst=True)


def downgrade() -> None:
    conn = op.get_bind()
    conn.execute(sa.text("drop table if exists derivation_probes"))
    conn.execute(sa.text("alter table market_data drop column if exists source"))
