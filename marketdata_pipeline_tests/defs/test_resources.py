"""The resources as the code location configures them: secrets as EnvVar references, the Polygon client built
per run (setup_for_execution) and closed after it, the request budget on the nested database resource."""

from __future__ import annotations

from datetime import date

import dagster as dg
import pytest

from marketdata_pipeline.client import NullBudget, PolygonClient, PolygonConfigError
from marketdata_pipeline.defs.resources import PolygonResource, resources_from_env
from marketdata_pipeline.storage.request_budget import PostgresRequestBudget
from marketdata_pipeline.storage.resource import MarketDatabase
from marketdata_pipeline_tests.client.conftest import KEY


def test_the_key_is_an_env_reference_to_whichever_variable_holds_it(monkeypatch):
    monkeypatch.delenv("POLYGON_API_KEY", raising=False)
    monkeypatch.setenv("MASSIVE_API_KEY", KEY)
    resource = resources_from_env()["polygon"]
    assert resource.api_key == "MASSIVE_API_KEY"  # outside a run an EnvVar field holds the variable name
    assert KEY not in repr(resource)
    assert isinstance(resource.database, MarketDatabase)  # the budget's database is the nested resource


def test_a_run_gets_its_own_budgeted_client_and_closes_it(monkeypatch, sandbox, clean_db):
    monkeypatch.setenv("POLYGON_API_KEY", KEY)
    monkeypatch.setenv("POLYGON_BASE_URL", sandbox.base_url)
    monkeypatch.setenv("DATABASE_URL", clean_db)
    monkeypatch.setenv("POLYGON_MAX_REQUESTS_PER_MINUTE", "100")
    monkeypatch.delenv("MASSIVE_API_KEY", raising=False)
    seen = []

    @dg.asset
    def bars(polygon: PolygonResource) -> None:
        client = polygon.client()
        assert client is polygon.client()  # one client for the whole step
        before = client.stats.snapshot()
        assert len(client.aggs.range("AAPL", "1d", date(2024, 6, 3), date(2024, 6, 5))) == 3
        seen.append((client, before, client.stats.snapshot()))

    resources = resources_from_env()
    for _ in range(2):
        assert dg.materialize([bars], resources={"polygon": resources["polygon"]}).success
    (first, before, after), (second, _, _) = seen
    assert first is not second  # no process-global client cache: each run builds (and closes) its own
    assert isinstance(first, PolygonClient) and isinstance(first.budget, PostgresRequestBudget)
    assert after["requests"] - before["requests"] == 1 and after["pages"] - before["pages"] == 1
    assert first._transport._http.is_closed  # torn down after the run
    assert [r.key_id for r in sandbox.requests][0]  # the key reached the sandbox, as a header


def test_budget_needs_a_database():
    with pytest.raises(PolygonConfigError, match="DATABASE_URL"):
        PolygonResource(api_key=KEY, max_requests_per_minute=5).build_client()
    with PolygonResource(api_key=KEY, base_url="http://127.0.0.1:9").build_client() as client:
        assert isinstance(client.budget, NullBudget)


def test_client_outside_a_run_is_a_clear_error():
    with pytest.raises(RuntimeError, match="only available inside a run"):
        PolygonResource(api_key=KEY).client()
