"""A split that becomes known after the features were stored (the sandbox lists NVDA's 2024-06-10 split only
once its clock passes that date) makes the next bar_features run rewrite the partition: the stored table then
equals a full recomputation on the newly split-adjusted bars."""

from __future__ import annotations

import dagster as dg
import numpy as np
import pandas as pd

from marketdata_pipeline.defs.corporate_actions.assets import splits
from marketdata_pipeline.defs.features.assets import bar_features
from marketdata_pipeline.defs.market_data.assets import market_data
from marketdata_pipeline.defs.market_data.partitions import SYMBOLS_PARTITION
from marketdata_pipeline.defs.resources import resources_from_env
from marketdata_pipeline.quant.features import compute_features
from marketdata_pipeline.storage.bars import load_bars
from marketdata_pipeline.storage.corporate_actions import SPLITS, load_actions
from marketdata_pipeline.storage.features import load_features
from marketdata_pipeline_tests.corporate_actions.conftest import AFTER_SPLIT

KEY = "NVDA|1d"


def _materialize(instance, assets: list, selection: list, partition: str) -> dg.ExecuteInProcessResult:
    result = dg.materialize(assets, instance=instance, resources=resources_from_env(), selection=selection,
                            partition_key=partition)
    assert result.success
    return result


def _stored_equals_recomputation(url: str) -> pd.DataFrame:
    stored = load_features(url, "NVDA", "1d")
    expected = compute_features(load_bars(url, "NVDA", "1d", adjust="splits"))
    expected["time"] = expected["time"].astype(stored["time"].dtype)
    pd.testing.assert_frame_equal(stored, expected, check_exact=True)
    return stored


def test_a_new_split_rewrites_the_partitions_features(pipeline_env, instance, sandbox, monkeypatch):
    url = pipeline_env
    monkeypatch.setenv("MARKETDATA_HISTORY_START", "2023-03-01")  # over 252 sessions: every feature defined
    instance.add_dynamic_partitions(SYMBOLS_PARTITION, ["NVDA"])
    assets = [market_data, bar_features, splits]
    _materialize(instance, assets, ["market_data", "bar_features"], KEY)
    _materialize(instance, assets, ["splits"], "NVDA")
    assert len(load_actions(url, SPLITS, "NVDA")) == 1  # only 2021's: the sandbox's clock is before 2024-06-10
    before = _stored_equals_recomputation(url)
    assert len(before) > 252

    sandbox.set_now(AFTER_SPLIT)  # the 2024-06-10 split is executed and listed now
    _materialize(instance, assets, ["splits"], "NVDA")
    assert len(load_actions(url, SPLITS, "NVDA")) == 2
    result = _materialize(instance, assets, ["bar_features"], KEY)  # no new bar: only the adjustment changed

    after = _stored_equals_recomputation(url)
    assert len(after) == len(before)
    # Every bar is before the split: prices are now a tenth, so every moving average is rewritten.
    np.testing.assert_allclose(after["sma_20"].dropna(), before["sma_20"].dropna() / 10, rtol=1e-12)
    metadata = result.asset_materializations_for_node("bar_features")[0].metadata
    assert metadata["rows_written"].value > len(after) - 5  # all but rows whose features are all NULL
    [check] = result.get_asset_check_evaluations()
    assert check.passed
