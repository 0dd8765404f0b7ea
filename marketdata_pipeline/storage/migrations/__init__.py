"""Alembic migrations of the pipeline's own tables (storage/schema.py); applied by storage.schema.create_schema.

The version table is `marketdata_alembic_version`, not alembic's default: Dagster's storage may share the
database and keeps its own `alembic_version`.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

VERSION_TABLE = "marketdata_alembic_version"
_HERE = Path(__file__).resolve().parent


@cache
def config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(_HERE))
    return cfg


@cache
def head() -> str | None:
    return ScriptDirectory.from_config(config()).get_current_head()


def current(conn: sa.Connection) -> str | None:
    return MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE}).get_current_revision()


def upgrade(conn: sa.Connection) -> None:
    """`alembic upgrade head` on `conn` (inside the caller's transaction); a no-op query when already there.

    A database created before migrations existed (market_data, no version table) needs no stamp: the
    baseline is written to bring any earlier shape to the baseline schema (create if missing, add missing
    columns and constraints), so it simply runs, keeping every row.
    """
    if current(conn) == head():
        return  # the common case, kept to one query: create_schema runs at every start and in many tests
    cfg = config()
    cfg.attributes["connection"] = conn
    command.upgrade(cfg, "head")
