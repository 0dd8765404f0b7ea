from datetime import date

import dagster as dg
import pandas as pd
import pytest
import sqlalchemy as sa

from marketdata_pipeline.defs.market_data.checks import market_data_health
from marketdata_pipeline.defs.market_data.partitions import SYMBOLS_PARTITION, bar_partitions
from marketdata_pipeline.defs.resources import resources_from_env
from marketdata_pipeline.storage.database import engine_for
from marketdata_pipeline.storage.resource import MarketDatabase
from marketdata_pipeline_tests.bars_support import make_bars

# Monday 2024-06-10 10:00 UTC: Friday 2024-06-07 is the newest closed session.
NOW = "2024-06-10T10:00:00Z"


def run_checks(url: str, instance: dg.DagsterInstance, tags: dict) -> dict[str, dg.AssetCheckEvaluation]:
    # The real asset needs Polygon; the checks only need its key and partitions.
    market_data = dg.AssetSpec("market_data", partitions_def=bar_partitions)
    defs = dg.Definitions(
        assets=[market_data],
        asset_checks=[market_data_health],
        jobs=[dg.define_asset_job("health", selection=dg.AssetSelection.checks_for_assets("market_data"))],
        resources={
            "database": MarketDatabase(url=url),
            **{name: resources_from_env()[name] for name in ("health_rules", "fetch_config")},
        },
    )
    result = defs.resolve_job_def("health").execute_in_process(instance=instance, tags=tags, raise_on_error=True)
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


@pytest.fixture
def instance():
    with dg.instance_for_test() as inst:
        inst.add_dynamic_partitions(SYMBOLS_PARTITION, ["AAPL", "MSFT"])
        yield inst


def test_checks_pass_on_clean_data_and_name_offending_partitions(monkeypatch, store, clean_db, instance):
    monkeypatch.setenv("MARKETDATA_NOW", NOW)
    store("AAPL", "1d", make_bars("AAPL", "1d", date(2024, 5, 1), date(2024, 6, 7)))
    evaluations = run_checks(clean_db, instance, {"dagster/partition": "AAPL|1d"})
    assert all(e.passed for e in evaluations.values()), evaluations

    stale = make_bars("MSFT", "1d", date(2024, 5, 1), date(2024, 5, 31))
    stale.loc[3, "high"] = 1.0  # below open and close
    store("MSFT", "1d", stale)
    tags = {"dagster/asset_partition_range_start": "AAPL|1d", "dagster/asset_partition_range_end": "MSFT|1h"}
    evaluations = run_checks(clean_db, instance, tags)
    freshness = evaluations["freshness"]
    assert not freshness.passed and freshness.severity == dg.AssetCheckSeverity.ERROR
    assert freshness.metadata["stale"].value == "MSFT|1d"
    assert freshness.metadata["missing"].value == "AAPL|1h, MSFT|1h"
    assert freshness.metadata["partitions_checked"].value == 4
    ohlc = evaluations["ohlc_consistency"]
    assert not ohlc.passed and ohlc.metadata["failing_partitions"].value == "MSFT|1d"
    assert evaluations["calendar_gaps"].passed and evaluations["price_jumps"].passed

    with engine_for(clean_db).connect() as conn:
        health = {
            (s, tf): (state, list(failing))
            for s, tf, state, failing in conn.execute(
                sa.text("select symbol, timeframe, state, failing_checks from partition_health")
            )
        }
    assert health[("MSFT", "1d")] == ("Stale", ["ohlc_consistency"])
    assert health[("AAPL", "1d")] == ("Fresh", [])
    assert health[("AAPL", "1h")] == ("Missing", [])


def test_history_from_2000_is_checked_like_any_other(monkeypatch, store, clean_db, instance):
    # exchange_calendars' default calendar starts 20 years back and raised DateOutOfBounds here.
    monkeypatch.setenv("MARKETDATA_NOW", NOW)
    store("AAPL", "1d", make_bars("AAPL", "1d", date(2000, 1, 3), date(2024, 6, 7)))
    evaluations = run_checks(clean_db, instance, {"dagster/partition": "AAPL|1d"})
    assert all(e.passed for e in evaluations.values()), evaluations


def test_a_check_that_cannot_evaluate_fails_with_the_reason_and_the_run_succeeds(monkeypatch, store, clean_db, instance):
    monkeypatch.setenv("MARKETDATA_NOW", NOW)
    # Bars older than any calendar we build (nothing the vendor has): the checks cannot place them.
    old = make_bars("AAPL", "1d", date(1990, 1, 2), date(1990, 1, 5))
    old["time"] = old["time"] - pd.Timedelta(days=7)
    store("AAPL", "1d", old)
    evaluations = run_checks(clean_db, instance, {"dagster/partition": "AAPL|1d"})  # raise_on_error: no raise
    assert set(evaluations) == {"freshness", "ohlc_consistency", "calendar_gaps", "price_jumps", "derivation_conformance"}
    for e in evaluations.values():
        assert not e.passed and e.severity == dg.AssetCheckSeverity.ERROR
        assert "DateOutOfBounds" in e.metadata["error"].value and e.description.startswith("could not evaluate")
