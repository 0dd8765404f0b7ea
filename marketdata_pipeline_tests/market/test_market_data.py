"""market_data end to end: sandbox over HTTP -> client -> asset -> IO manager -> PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg
import pandas as pd
import pytest
import sqlalchemy as sa

from marketdata_pipeline.market.assets import market_data
from marketdata_pipeline.market.partitions import SYMBOLS_PARTITION
from marketdata_pipeline.resources import resources_from_env
from marketdata_pipeline.sandbox.aggregate import bars as sandbox_bars
from marketdata_pipeline.storage.bars import load_bars
from marketdata_pipeline.storage.database import engine_for
from marketdata_pipeline.timeframes import timeframe
from marketdata_pipeline_tests.support import FRIDAY, HISTORY_START, THURSDAY


def truth(symbol: str, tf: str, now: datetime) -> pd.DataFrame:
    spec = timeframe(tf)
    start = datetime.fromisoformat(HISTORY_START).replace(tzinfo=UTC)
    frame = sandbox_bars(symbol, spec.multiplier, spec.timespan, start, now, adjusted=False)
    # The sandbox serves only bars whose window has closed by its clock.
    complete = frame["t_ms"] + spec.length.total_seconds() * 1000 <= now.timestamp() * 1000
    return frame[complete].reset_index(drop=True)


def materialize(instance, key: str) -> dg.ExecuteInProcessResult:
    return dg.materialize([market_data], partition_key=key, instance=instance, resources=resources_from_env())


def assert_matches_truth(url, symbol, tf, now):
    stored = load_bars(url, symbol, tf)
    expected = truth(symbol, tf, now)
    assert len(stored) == len(expected) > 0
    assert (stored["time"].astype("datetime64[ms, UTC]").astype("int64").to_numpy() == expected["t_ms"].to_numpy()).all()
    assert stored["close"].to_numpy() == pytest.approx(expected["c"].to_numpy())
    assert stored["volume"].to_numpy() == pytest.approx(expected["v"].to_numpy())
    return stored


@pytest.mark.parametrize("key", ["AAPL|1d", "X:BTCUSD|1h"])
def test_first_materialization_stores_exactly_the_sandbox_bars(pipeline_env, instance, key):
    symbol, tf = key.split("|")
    instance.add_dynamic_partitions(SYMBOLS_PARTITION, [symbol])
    result = materialize(instance, key)
    assert result.success
    stored = assert_matches_truth(pipeline_env, symbol, tf, THURSDAY)
    meta = result.asset_materializations_for_node("market_data")[0].metadata
    assert meta["rows_written"].value == len(stored)
    assert meta["requests"].value >= 1


def test_incremental_update_adds_only_new_bars(pipeline_env, instance, sandbox):
    instance.add_dynamic_partitions(SYMBOLS_PARTITION, ["AAPL"])
    materialize(instance, "AAPL|1d")
    before = load_bars(pipeline_env, "AAPL", "1d")

    sandbox.set_now(FRIDAY)
    sandbox.clear_requests()
    materialize(instance, "AAPL|1d")
    after = assert_matches_truth(pipeline_env, "AAPL", "1d", FRIDAY)
    assert len(after) == len(before) + 1  # Thursday's session, nothing duplicated
    pd.testing.assert_frame_equal(after.iloc[: len(before)], before)
    # The second fetch started near the last stored bar, not at the history start.
    assert len(sandbox.requests) == 1
    assert "2024-05" not in sandbox.requests[0].path


def test_rematerializing_is_idempotent(pipeline_env, instance):
    instance.add_dynamic_partitions(SYMBOLS_PARTITION, ["MSFT"])
    materialize(instance, "MSFT|15m")
    first = load_bars(pipeline_env, "MSFT", "15m")
    materialize(instance, "MSFT|15m")
    pd.testing.assert_frame_equal(load_bars(pipeline_env, "MSFT", "15m"), first)


def test_a_range_run_covers_every_partition(pipeline_env, instance):
    instance.add_dynamic_partitions(SYMBOLS_PARTITION, ["AAPL", "MSFT", "X:ETHUSD"])
    job = dg.Definitions(assets=[market_data], resources=resources_from_env()).resolve_implicit_global_asset_job_def()
    tags = {"dagster/asset_partition_range_start": "AAPL|4h", "dagster/asset_partition_range_end": "X:ETHUSD|4h"}
    result = job.execute_in_process(instance=instance, tags=tags)
    assert result.success
    for symbol in ["AAPL", "MSFT", "X:ETHUSD"]:
        assert_matches_truth(pipeline_env, symbol, "4h", THURSDAY)
    materialized = {str(m.partition) for m in result.asset_materializations_for_node("market_data")}
    assert materialized == {"AAPL|4h", "MSFT|4h", "X:ETHUSD|4h"}


def test_ticker_without_data_writes_zero_rows_with_a_warning(pipeline_env, instance):
    instance.add_dynamic_partitions(SYMBOLS_PARTITION, ["ZZZZ"])
    result = materialize(instance, "ZZZZ|1d")
    assert result.success
    assert result.asset_materializations_for_node("market_data")[0].metadata["rows_written"].value == 0
    messages = [record.user_message for record in instance.all_logs(result.run_id)]
    assert any("no bars returned for ZZZZ|1d" in m for m in messages)
    with engine_for(pipeline_env).connect() as conn:
        assert conn.execute(sa.text("select count(*) from market_data")).scalar() == 0
