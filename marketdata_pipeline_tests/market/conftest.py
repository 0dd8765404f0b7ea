"""A pipeline wired to real parts: the sandbox over loopback HTTP, PostgreSQL, a Dagster instance on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg
import pytest

from marketdata_pipeline.sandbox.server import SandboxConfig, SandboxServer

# 02:00 ET on Thursday 2024-06-06: every bar up to Wednesday's close exists.
THURSDAY = datetime(2024, 6, 6, 6, 0, tzinfo=UTC)
FRIDAY = datetime(2024, 6, 7, 6, 0, tzinfo=UTC)
HISTORY_START = "2024-05-01"


@pytest.fixture
def sandbox():
    with SandboxServer(SandboxConfig(now=THURSDAY)) as server:
        yield server


@pytest.fixture
def pipeline_env(monkeypatch, clean_db, sandbox):
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
