"""Alembic environment: runs on the connection handed over by marketdata_pipeline.storage.migrations.upgrade."""

from __future__ import annotations

from alembic import context

from marketdata_pipeline.storage.migrations import VERSION_TABLE
from marketdata_pipeline.storage.schema import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, version_table=VERSION_TABLE,
                  transaction_per_migration=False)
with context.begin_transaction():
    context.run_migrations()
