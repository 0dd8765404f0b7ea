"""bar_features in Dagster: one real run materializes market_data and bar_features for two partitions
against the sandbox and PostgreSQL; a revised bar is followed exactly; the check fails on tampered features."""

from __future__ import annotations

import dagster as dg
import httpx
import pandas as pd
import pytest
import sqlalchemy as sa

from marketdata_pipeline.definitions import defs
from marketdata_pipeline.defs.automation.schedules import market_data_job
from marketdata_pipeline.defs.features import checks
from marketdata_pipeline.defs.features.assets import bar_features
from marketdata_pipeline.defs.market_data.assets import market_data
from marketdata_pipeline.defs.market_data.partitions import SYMBOLS_PARTITION
from marketdata_pipeline.defs.resources import resources_from_env
from marketdata_pipeline.quant.features import compute_features
from marketdata_pipeline.storage.bars import load_bars
from marketdata_pipeline.storage.database import engine_for
from marketdata_pipeline.storage.features import load_features
from marketdata_pipeline_tests.support import THURSDAY

KEYS = [("AAPL", "1h"), ("X:BTCUSD", "1h")]
RANGE = {"dagster/asset_partition_range_start": "AAPL|1h", "dagster/asset_partition_range_end": "X:BTCUSD|1h"}


def run_both(instance) -> dg.ExecuteInProcessResult:
    job = dg.Definitions(assets=[market_data, bar_features], resources=resources_from_env()).resolve_implicit_global_asset_job_def()
    result = job.execute_in_process(instance=instance, tags=RANGE)
    assert result.success
    return result


def assert_features_equal_recomputation(url):
    for symbol, tf in KEYS:
        stored, expected = load_features(url, symbol, tf), compute_features(load_bars(url, symbol, tf))
        assert len(stored) > 300
        expected["time"] = expected["time"].astype(stored["time"].dtype)
        pd.testing.assert_frame_equal(stored, expected, check_exact=True)


def features_metadata(result) -> dict:
    """The run's metadata (a multi-partition run records it on each partition's materialization)."""
    materializations = result.asset_materializations_for_node("bar_features")
    assert {str(m.partition) for m in materializations} == {f"{s}|{tf}" for s, tf in KEYS}
    return {k: v.value for k, v in materializations[0].metadata.items()}


@pytest.fixture
def two_partitions(pipeline_env, instance):
    instance.add_dynamic_partitions(SYMBOLS_PARTITION, [s for s, _ in KEYS])
    return pipeline_env


def test_one_run_stores_features_equal_to_recomputation(two_partitions, instance, sandbox, monkeypatch):
    monkeypatch.setenv("MARKETDATA_NOW", THURSDAY.isoformat())  # the sandbox's clock: the revision window follows it
    url = two_partitions
    result = run_both(instance)
    assert_features_equal_recomputation(url)
    meta = features_metadata(result)
    bars = sum(len(load_bars(url, s, tf)) for s, tf in KEYS)
    assert meta["partitions"] == 2 and meta["bars"] == meta["rows_written"] == bars
    [check] = result.get_asset_check_evaluations()
    assert check.passed and check.metadata["partitions_checked"].value == 2

    # A revised bar inside the revision window: the next run follows it, writing only what changed.
    correction = {"revisions": [{"ticker": "X:BTCUSD", "start": "2024-06-05T10:00:00+00:00",
                                 "end": "2024-06-05T12:00:00+00:00", "price_factor": 0.98}]}
    httpx.post(f"{sandbox.base_url}/_sandbox/config", json=correction).raise_for_status()
    before = load_features(url, "X:BTCUSD", "1h")
    meta = features_metadata(run_both(instance))
    assert_features_equal_recomputation(url)
    after = load_features(url, "X:BTCUSD", "1h")
    assert not after.equals(before)
    assert 0 < meta["rows_written"] < len(after) // 2


def test_check_fails_on_tampered_features_and_names_the_partition(two_partitions, instance):
    url = two_partitions
    run_both(instance)
    assert checks.evaluate(url, KEYS).passed
    tamper = {
        "rsi_out_of_range": "update bar_features set rsi_14 = 150 where symbol = 'AAPL' and time = "
                            "(select max(time) from bar_features where symbol = 'AAPL')",
        "not_finite": "update bar_features set macd = 'NaN' where symbol = 'X:BTCUSD' and rsi_14 is not null",
        "not_current": "delete from bar_features where symbol = 'AAPL' and time = "
                       "(select max(time) from bar_features where symbol = 'AAPL')",
    }
    expected = {"rsi_out_of_range": "AAPL|1h", "not_finite": "X:BTCUSD|1h", "not_current": "AAPL|1h"}
    for name, statement in tamper.items():
        with engine_for(url).begin() as conn:
            conn.execute(sa.text(statement))
        result = checks.evaluate(url, KEYS)
        assert not result.passed
        assert result.metadata[name].value == expected[name]
        assert expected[name] in result.metadata["failing_partitions"].value


def test_features_follow_their_bars_without_user_work():
    repo = defs.get_repository_def()
    spec = defs.get_assets_def("bar_features")
    assert spec.partitions_def == defs.get_assets_def("market_data").partitions_def
    assert spec.backfill_policy == dg.BackfillPolicy.single_run()
    # The daily run writes the day's features; anything else that updates market_data is followed by the
    # automation sensor, one backfill (one run) for all its partitions.
    assert dg.AssetKey("bar_features") in repo.get_job(market_data_job.name).asset_layer.executable_asset_keys
    assert spec.automation_conditions_by_key[dg.AssetKey("bar_features")] is not None
    sensor = repo.get_sensor_def("bar_features_automation")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
