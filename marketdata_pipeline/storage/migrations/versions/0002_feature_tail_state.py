"""bar_features_state gains the head of the partition its features were computed from (storage.feature_plan):
the boundary time, how many bars precede it, their fingerprint, and a digest of the symbol's adjustment factors.

Idempotent (ADD COLUMN IF NOT EXISTS): the baseline creates missing tables from the live metadata, which
already has these columns, so on a new database this revision finds them there.

Revision ID: 0002_feature_tail_state
Revises: 0001_baseline
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_feature_tail_state"
down_revision = "0001_baseline"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.get_bind().execute(sa.text(
        "alter table bar_features_state add column if not exists head_time timestamptz, "
        "add column if not exists head_count integer, add column if not exists head_print bigint, "
        "add column if not exists factors_print text"
    ))


def downgrade() -> None:
    op.get_bind().execute(sa.text(
        "alter table bar_features_state drop column if exists head_time, drop column if exists head_count, "
        "drop column if exists head_print, drop column if exists factors_print"
    ))
