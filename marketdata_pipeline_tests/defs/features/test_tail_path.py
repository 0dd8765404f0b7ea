"""bar_features' daily path in a real Dagster run (sandbox, PostgreSQL): after new bars it reads and rewrites
only the partition's tail, and the stored table equals a full recomputation from the stored bars (within the
issue's tolerance, NULLs and flags identical); a bar revised inside the tail keeps the tail path, one revised
before the recorded head, or a new split, makes the run recompute the whole partition."""

from __future__ import annotations

from datetime import timedelta

import dagster as dg
import numpy as np
import sqlalchemy as sa

from marketdata_pipeline.defs.features.assets import bar_features
from marketdata_pipeline.defs.market_data.assets import market_data
from marketdata_pipeline.defs.market_data.partitions import SYMBOLS_PARTITION
from marketdata_pipeline.defs.resources import resources_from_env
from marketdata_pipeline.quant.features import BOOL_FEATURES, FLOAT_FEATURES, INT_FEATURES, compute_features
from marketdata_pipeline.storage.bars import load_bars
from marketdata_pipeline.storage.database import engine_for
from marketdata_pipeline.storage.features import load_features
from marketdata_pipeline_tests.support import THURSDAY

SYMBOL, TF = "X:BTCUSD", "1h"
KEY = f"{SYMBOL}|{TF}"


def _run(instance, selection: list[str]) -> dict:
    result = dg.materialize([market_data, bar_features], instance=instance, resources=resources_from_env(),
                            selection=selection, partition_key=KEY)
    assert result.success
    [check] = result.get_asset_check_evaluations()
    assert check.passed
    return {k: v.value for k, v in result.asset_materializations_for_node("bar_features")[0].metadata.items()}


def _assert_equals_recomputation(url: str) -> None:
    stored = load_features(url, SYMBOL, TF)
    expected = compute_features(load_bars(url, SYMBOL, TF, adjust="splits"))
    assert len(stored) == len(expected) > 3000
    assert (stored["time"].to_numpy() == expected["time"].astype(stored["time"].dtype).to_numpy()).all()
    close = load_bars(url, SYMBOL, TF, adjust="splits")["close"].to_numpy()
    for name in FLOAT_FEATURES:
        a, b = stored[name].to_numpy(), expected[name].to_numpy()
        assert (np.isnan(a) == np.isnan(b)).all(), f"{name}: NULLs differ"
        ok = ~np.isnan(b)
        assert (np.abs(a[ok] - b[ok]) <= 1e-9 * np.abs(b[ok]) + 1e-12 * close[ok]).all(), name
    for name in BOOL_FEATURES + INT_FEATURES:
        assert stored[name].equals(expected[name]), name


def _state(url: str):
    with engine_for(url).connect() as conn:
        return conn.execute(sa.text("select head_time, head_count, bar_count from bar_features_state "
                                    "where symbol = :s and timeframe = :tf"), {"s": SYMBOL, "tf": TF}).one()


def _revise(url: str, before: bool) -> None:
    """Revise one stored bar (its close and high up 1%): just before the recorded head, or the newest bar (the tail is sure to start WARM_UP bars before it)."""
    head_time = _state(url).head_time
    side = "time < :h order by time desc" if before else "time >= :h order by time desc"
    with engine_for(url).begin() as conn:
        conn.execute(sa.text(
            f"update market_data set close = close * 1.01, high = greatest(high, close * 1.01) "
            f"where symbol = :s and timeframe = :tf and time = (select time from market_data "
            f"where symbol = :s and timeframe = :tf and {side} limit 1)"), {"s": SYMBOL, "tf": TF, "h": head_time})


def test_daily_runs_rewrite_the_tail_only_when_that_is_exact(pipeline_env, instance, sandbox, monkeypatch):
    url = pipeline_env
    monkeypatch.setenv("MARKETDATA_HISTORY_START", "2024-01-01")  # ~3,800 hourly bars: a head is recorded
    instance.add_dynamic_partitions(SYMBOLS_PARTITION, [SYMBOL])
    first = _run(instance, ["market_data", "bar_features"])
    assert first["partitions_from_tail"] == 0
    _assert_equals_recomputation(url)
    assert _state(url).head_time is not None

    # One day later: 24 new bars; only the tail is read and rewritten.
    sandbox.set_now(THURSDAY + timedelta(days=1))
    daily = _run(instance, ["market_data", "bar_features"])
    assert daily["partitions_from_tail"] == 1
    assert daily["bars_read"] < daily["bars"] - 1000 and 0 < daily["rows_written"] < 60
    _assert_equals_recomputation(url)

    _revise(url, before=False)  # inside the tail: still the tail path, from the revised bar on
    inside = _run(instance, ["bar_features"])
    assert inside["partitions_from_tail"] == 1 and inside["rows_written"] >= 1
    _assert_equals_recomputation(url)

    _revise(url, before=True)  # before the head: the fingerprint differs, the whole partition is recomputed
    assert _run(instance, ["bar_features"])["partitions_from_tail"] == 0
    _assert_equals_recomputation(url)

    with engine_for(url).begin() as conn:  # a split the pipeline stores: every adjusted price changes
        conn.execute(sa.text("insert into splits (symbol, execution_date, split_from, split_to, fetched_at) "
                             "values (:s, '2099-01-02', 1, 4, now())"), {"s": SYMBOL})
    split = _run(instance, ["bar_features"])
    assert split["partitions_from_tail"] == 0 and split["rows_written"] > 3000
    _assert_equals_recomputation(url)
