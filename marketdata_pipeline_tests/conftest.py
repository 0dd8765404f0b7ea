"""Shared fixtures: a real PostgreSQL (DATABASE_URL or an embedded one) and the Polygon sandbox over loopback."""

from __future__ import annotations

import os
import tempfile
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from marketdata_pipeline.storage import database

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def pg_admin_url() -> str:
    """A server we may create databases on: DATABASE_URL if set, else an embedded PostgreSQL."""
    if os.environ.get("DATABASE_URL"):
        return os.environ["DATABASE_URL"]
    data_dir = Path(tempfile.mkdtemp(prefix="mdp-test-pg-")) / "data"
    return database.start_embedded(data_dir, cleanup="delete")


def _fresh_database(admin_url: str, prefix: str) -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    return database.create_database(admin_url, name)


@pytest.fixture(scope="session")
def database_url(pg_admin_url) -> str:
    """A database of its own for this test session, schema created."""
    from marketdata_pipeline.storage.schema import create_schema

    url = _fresh_database(pg_admin_url, "mdp_test")
    create_schema(url)
    return url


@pytest.fixture
def clean_db(database_url) -> str:
    """The session database with every table emptied."""
    from marketdata_pipeline.storage.schema import metadata

    with database.engine_for(database_url).begin() as conn:
        names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
        conn.execute(sa.text(f"truncate {names}"))
    return database_url


@pytest.fixture
def fresh_database(pg_admin_url):
    """Factory for extra empty databases (e.g. Dagster's own storage)."""
    return lambda prefix="mdp_extra": _fresh_database(pg_admin_url, prefix)
