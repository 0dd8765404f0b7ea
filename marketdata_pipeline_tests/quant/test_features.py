"""quant.features against the definitions: each feature equals the bar-by-bar reference (reference.py) on
sandbox bars fetched over HTTP, NULL exactly where the reference has no value."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from marketdata_pipeline.client import PolygonClient
from marketdata_pipeline.quant.features import FEATURE_COLUMNS, compute_features
from marketdata_pipeline.storage.schema import FEATURE_TYPES
from marketdata_pipeline_tests.quant.reference import EXACT_FEATURES, FLOAT_FEATURES, reference_features

RTOL, ATOL_PER_CLOSE = 1e-9, 1e-12


@pytest.fixture(scope="module")
def sandbox_bars():
    """Split-adjusted bars long enough for every window (vol_regime needs 272), from the sandbox over HTTP."""
    from marketdata_pipeline.sandbox.server import SandboxConfig, SandboxServer
    from marketdata_pipeline_tests.support import THURSDAY

    with SandboxServer(SandboxConfig(now=THURSDAY)) as server, PolygonClient("test-key", server.base_url) as client:
        yield {
            "AAPL|1h": client.aggs.range("AAPL", "1h", date(2024, 4, 1), date(2024, 6, 5), adjusted=True),
            "X:BTCUSD|4h": client.aggs.range("X:BTCUSD", "4h", date(2024, 3, 1), date(2024, 6, 5), adjusted=True),
        }


def _reference(bars: pd.DataFrame) -> dict[str, list]:
    return reference_features(*(bars[c].astype(float).tolist() for c in ("open", "high", "low", "close", "volume")))


def test_column_names_are_the_contract():
    assert FEATURE_COLUMNS == FLOAT_FEATURES + EXACT_FEATURES == list(FEATURE_TYPES)


@pytest.mark.parametrize("key", ["AAPL|1h", "X:BTCUSD|4h"])
def test_each_feature_equals_its_definition(sandbox_bars, key):
    bars = sandbox_bars[key]
    assert len(bars) > 400  # every window completes somewhere
    got, ref = compute_features(bars), _reference(bars)
    assert list(got.columns) == ["time", *FEATURE_COLUMNS]
    assert (got["time"] == bars["time"]).all()
    close = bars["close"].to_numpy()
    for name in FLOAT_FEATURES:
        expected = np.array([np.nan if x is None else x for x in ref[name]])
        actual = got[name].to_numpy()
        assert (np.isnan(actual) == np.isnan(expected)).all(), f"{name}: NULLs differ"
        assert np.isfinite(actual[~np.isnan(actual)]).all(), name
        defined = ~np.isnan(expected)
        assert defined.sum() > 0, name
        error = np.abs(actual[defined] - expected[defined])
        bound = RTOL * np.abs(expected[defined]) + ATOL_PER_CLOSE * close[defined]
        assert (error <= bound).all(), f"{name}: worst {np.max(error / bound):.3g}× the tolerance"
    for name in EXACT_FEATURES:
        actual = [None if pd.isna(x) else int(x) for x in got[name]]
        expected = [None if x is None else int(x) for x in ref[name]]
        assert actual == expected, name
        assert len(set(expected) - {None}) > 1, f"{name}: the bars exercise more than one value"


@pytest.mark.parametrize("key", ["AAPL|1h"])
def test_nulls_exactly_where_a_window_is_incomplete(sandbox_bars, key):
    got = compute_features(sandbox_bars[key])
    first = {name: int(np.argmax(got[name].notna().to_numpy())) for name in FEATURE_COLUMNS}
    # The first index with a value, from each definition's window (0-based).
    assert first["log_return"] == 1 and first["realized_vol_20"] == 20 and first["realized_vol_60"] == 60
    assert first["atr_14"] == 14 and first["rsi_14"] == 14
    assert (first["sma_20"], first["sma_50"], first["sma_200"]) == (19, 49, 199)
    assert (first["ema_12"], first["ema_26"], first["macd"]) == (11, 25, 25)
    assert first["macd_signal"] == first["macd_hist"] == 33
    assert first["bb_pct_b_20"] == first["zscore_20"] == first["volume_zscore_20"] == 19
    assert first["range_pos_252"] == 251 and first["vol_regime"] == 271 and first["trend_regime"] == 219
    assert first["swing_high"] == first["swing_low"] == 2
    assert got[["swing_high", "swing_low"]].iloc[-2:].isna().all().all()  # known 2 bars later
    assert got[["swing_high", "swing_low"]].iloc[2:-2].notna().all().all()
    # Once defined, never missing again (sandbox bars have no flat windows).
    for name in FEATURE_COLUMNS:
        if name not in ("swing_high", "swing_low"):
            assert got[name].iloc[first[name]:].notna().all(), name


def test_short_and_empty_partitions_are_all_null():
    bars = pd.DataFrame({
        "time": pd.date_range("2024-01-01", periods=3, freq="D", tz="UTC"),
        "open": [1.0, 2.0, 3.0], "high": [1.5, 2.5, 3.5], "low": [0.5, 1.5, 2.5], "close": [1.2, 2.2, 3.2],
        "volume": [10.0, 20.0, 30.0],
    })
    got = compute_features(bars)
    assert got.drop(columns=["time", "log_return"]).isna().all().all()
    assert compute_features(bars.iloc[:0]).empty


def test_flat_window_gives_null_not_infinity():
    n = 30
    bars = pd.DataFrame({
        "time": pd.date_range("2024-01-01", periods=n, freq="D", tz="UTC"),
        "open": [5.0] * n, "high": [5.0] * n, "low": [5.0] * n, "close": [5.0] * n, "volume": [7.0] * n,
    })
    got = compute_features(bars)
    assert got[["zscore_20", "bb_pct_b_20", "volume_zscore_20"]].isna().all().all()
    assert (got["log_return"].iloc[1:] == 0).all()


def test_bad_input_is_refused_with_a_clear_error():
    bars = pd.DataFrame({"time": pd.to_datetime(["2024-01-02", "2024-01-01"], utc=True), "open": [1.0, 1.0],
                         "high": [1.0, 1.0], "low": [1.0, 1.0], "close": [1.0, 1.0], "volume": [1.0, 1.0]})
    with pytest.raises(ValueError, match="sorted"):
        compute_features(bars)
    with pytest.raises(ValueError, match="volume"):
        compute_features(bars.drop(columns=["volume"]))
