"""Shared fixtures, all real parts: PostgreSQL (DATABASE_URL or an embedded one), the Polygon sandbox
over loopback HTTP, Dagster instances on PostgreSQL."""

from __future__ import annotations

import os
import tempfile
import uuid
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

from marketdata_pipeline.bench.stack import scratch_environment
from marketdata_pipeline.sandbox.server import SandboxConfig, SandboxServer
from marketdata_pipeline.storage import database
from marketdata_pipeline.storage.bars import upsert_bars
from marketdata_pipeline.storage.schema import create_schema, metadata
from marketdata_pipeline.storage.universe import add_symbols
from marketdata_pipeline_tests.support import HISTORY_START, THURSDAY


@pytest.fixture(scope="session")
def pg_admin_url() -> str:
    """A server we may create databases on: DATABASE_URL if set, else an embedded PostgreSQL."""
    if os.environ.get("DATABASE_URL"):
        return os.environ["DATABASE_URL"]
    data_dir = Path(tempfile.mkdtemp(prefix="mdp-test-pg-")) / "data"
    return database.start_embedded(data_dir, cleanup="delete")


def _fresh_database(admin_url: str, prefix: str) -> str:
    return database.create_database(admin_url, f"{prefix}_{uuid.uuid4().hex[:8]}")


@pytest.fixture(scope="session")
def database_url(pg_admin_url) -> str:
    """A database of its own for this test session, schema created."""
    url = _fresh_database(pg_admin_url, "mdp_test")
    create_schema(url)
    return url


@pytest.fixture
def clean_db(database_url) -> str:
    """The session database with every table emptied."""
    with database.engine_for(database_url).begin() as conn:
        names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
        conn.execute(sa.text(f"truncate {names}"))
    return database_url


@pytest.fixture
def store(clean_db):
    """store(symbol, tf, bars): register the symbol as active and upsert its bars."""

    def _store(symbol: str, tf: str, bars) -> None:
        add_symbols(clean_db, [symbol])
        upsert_bars(clean_db, symbol, tf, bars)

    return _store


@pytest.fixture
def fresh_database(pg_admin_url):
    """Factory for extra empty databases (e.g. Dagster's own storage)."""
    return lambda prefix="mdp_extra": _fresh_database(pg_admin_url, prefix)


@pytest.fixture
def sandbox():
    with SandboxServer(SandboxConfig(now=THURSDAY)) as server:
        yield server


@pytest.fixture
def pipeline_env(monkeypatch, clean_db, sandbox):
    """This process's environment pointed at the sandbox and the session database."""
    monkeypatch.setenv("DATABASE_URL", clean_db)
    monkeypatch.setenv("POLYGON_API_KEY", "test-key")
    monkeypatch.delenv("MASSIVE_API_KEY", raising=False)
    monkeypatch.setenv("POLYGON_BASE_URL", sandbox.base_url)
    monkeypatch.setenv("MARKETDATA_HISTORY_START", HISTORY_START)
    monkeypatch.delenv("POLYGON_MAX_REQUESTS_PER_MINUTE", raising=False)
    return clean_db


@pytest.fixture
def instance(fresh_database):
    """A real Dagster instance whose storage is PostgreSQL, as in dagster.yaml."""
    overrides = {"storage": {"postgres": {"postgres_url": fresh_database("mdp_dagster")}}}
    with dg.instance_for_test(overrides=overrides) as inst:
        yield inst


@pytest.fixture
def project_env(tmp_path, fresh_database, sandbox) -> dict:
    """Environment for subprocesses of a user who set DATABASE_URL and an API key, with the repo's
    dagster.yaml as the instance config."""
    url = fresh_database("mdp_project")
    create_schema(url)
    home = tmp_path / "dagster_home"
    home.mkdir()
    return scratch_environment(url, home, sandbox.base_url, "test-key", HISTORY_START)
