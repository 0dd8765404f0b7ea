"""PolygonResource: built from Settings with secrets as EnvVar references, usable inside a Dagster run."""

from __future__ import annotations

from datetime import date

import dagster as dg
import pytest

from marketdata_pipeline.client import NullBudget, PolygonClient, PolygonConfigError, PostgresRequestBudget
from marketdata_pipeline.client.resource import PolygonResource
from marketdata_pipeline.settings import Settings

from .conftest import KEY


def test_from_settings_keeps_the_key_an_env_reference(monkeypatch):
    monkeypatch.delenv("POLYGON_API_KEY", raising=False)
    monkeypatch.setenv("MASSIVE_API_KEY", KEY)
    resource = PolygonResource.from_settings(Settings.from_env())
    assert resource.api_key == "MASSIVE_API_KEY"  # outside a run an EnvVar field holds the variable name
    assert KEY not in repr(resource)


def test_client_inside_a_run_is_cached_and_budgeted(monkeypatch, sandbox, clean_db):
    monkeypatch.setenv("POLYGON_API_KEY", KEY)
    monkeypatch.setenv("POLYGON_BASE_URL", sandbox.base_url)
    monkeypatch.setenv("DATABASE_URL", clean_db)
    monkeypatch.setenv("POLYGON_MAX_REQUESTS_PER_MINUTE", "100")
    monkeypatch.delenv("MASSIVE_API_KEY", raising=False)
    seen = []

    @dg.asset
    def bars(polygon: PolygonResource) -> None:
        client = polygon.client()
        assert client is polygon.client()
        with client.stats.measure() as usage:
            assert len(client.aggs.range("AAPL", "1d", date(2024, 6, 3), date(2024, 6, 5))) == 3
        seen.append((client, usage.snapshot()))

    assert dg.materialize([bars], resources={"polygon": PolygonResource.from_settings(Settings.from_env())}).success
    client, usage = seen[0]
    assert isinstance(client, PolygonClient) and isinstance(client.budget, PostgresRequestBudget)
    assert usage["requests"] == 1 and usage["pages"] == 1
    assert [r.key_id for r in sandbox.requests][0]  # the key reached the sandbox, as a header


def test_budget_needs_a_database():
    with pytest.raises(PolygonConfigError, match="DATABASE_URL"):
        PolygonResource(api_key=KEY, max_requests_per_minute=5).client()
    assert isinstance(PolygonResource(api_key=KEY, base_url="http://127.0.0.1:9").client().budget, NullBudget)
