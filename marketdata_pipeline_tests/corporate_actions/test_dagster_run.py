"""A real Dagster run (PostgreSQL instance) materializes splits and dividends for a stock and a crypto pair."""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg

from marketdata_pipeline.definitions import defs
from marketdata_pipeline.defs.corporate_actions.assets import dividends, splits
from marketdata_pipeline.defs.corporate_actions.schedules import corporate_actions_job, daily_corporate_actions_schedule
from marketdata_pipeline.defs.market_data.partitions import RANGE_END_TAG, RANGE_START_TAG, SYMBOLS_PARTITION
from marketdata_pipeline.defs.resources import resources_from_env
from marketdata_pipeline.storage.corporate_actions import DIVIDENDS, SPLITS, load_actions
from marketdata_pipeline_tests.corporate_actions.conftest import logged, served


def test_one_run_materializes_both_assets_for_two_symbols(monkeypatch, clean_db, actions_sandbox, instance):
    monkeypatch.setenv("DATABASE_URL", clean_db)
    monkeypatch.setenv("POLYGON_API_KEY", "test-key")
    monkeypatch.delenv("MASSIVE_API_KEY", raising=False)
    monkeypatch.setenv("POLYGON_BASE_URL", actions_sandbox.base_url)
    instance.add_dynamic_partitions(SYMBOLS_PARTITION, ["AAPL", "X:BTCUSD"])
    actions_sandbox.clear_requests()

    result = dg.materialize(
        [splits, dividends], instance=instance, resources=resources_from_env(),
        tags={RANGE_START_TAG: "AAPL", RANGE_END_TAG: "X:BTCUSD"},
    )

    assert result.success
    requests = logged(actions_sandbox)
    # One request per stock and asset; the crypto pair costs none.
    assert sorted(r["path"] for r in requests) == ["/v3/reference/dividends", "/v3/reference/splits"]
    assert all("ticker=AAPL" in r["query"] for r in requests)
    assert len(load_actions(clean_db, SPLITS, "AAPL")) == len(served(actions_sandbox, "/v3/reference/splits", ticker="AAPL")) == 1
    assert len(load_actions(clean_db, DIVIDENDS, "AAPL")) == len(served(actions_sandbox, "/v3/reference/dividends", ticker="AAPL"))
    metadata = result.asset_materializations_for_node("splits")[0].metadata
    assert metadata["crypto_skipped"].value == 1 and metadata["requests"].value == 1
    events = result.get_asset_materialization_events()
    materialized = {(e.materialization.asset_key.path[-1], e.materialization.partition) for e in events}
    assert materialized == {(a, s) for a in ("splits", "dividends") for s in ("AAPL", "X:BTCUSD")}


def test_graph_schedule_and_backfill_policy(instance):
    graph = defs.resolve_asset_graph()
    adjusted = dg.AssetKey("market_data_adjusted")
    assert graph.get(adjusted).parent_keys == {dg.AssetKey("market_data"), dg.AssetKey("splits"), dg.AssetKey("dividends")}
    assert splits.backfill_policy == dg.BackfillPolicy.single_run()
    assert defs.resolve_job_def(corporate_actions_job.name) is not None

    instance.add_dynamic_partitions(SYMBOLS_PARTITION, ["AAPL", "MSFT", "X:BTCUSD"])
    context = dg.build_schedule_context(instance=instance, scheduled_execution_time=datetime(2024, 6, 12, 2, tzinfo=UTC))
    request = daily_corporate_actions_schedule.evaluate_tick(context).run_requests[0]
    assert (request.tags[RANGE_START_TAG], request.tags[RANGE_END_TAG]) == ("AAPL", "X:BTCUSD")
