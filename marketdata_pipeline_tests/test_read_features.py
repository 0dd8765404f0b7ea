"""load_features: the stored quant features as a DataFrame, with load_bars' freshness attrs and warning."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from marketdata_pipeline import load_features
from marketdata_pipeline.quant.features import FEATURE_COLUMNS, compute_features
from marketdata_pipeline.read import StaleDataWarning, UnknownSymbolError
from marketdata_pipeline.storage.bars import load_bars
from marketdata_pipeline.storage.features import write_features
from marketdata_pipeline_tests.bars_support import make_bars


@pytest.fixture
def featured(store, clean_db, monkeypatch):
    for symbol in ("X:BTCUSD", "X:ETHUSD"):
        store(symbol, "1h", make_bars(symbol, "1h", date(2024, 6, 1), date(2024, 6, 7)))
        bars = load_bars(clean_db, symbol, "1h")
        write_features(clean_db, symbol, "1h", bars, compute_features(bars))
    monkeypatch.setenv("MARKETDATA_NOW", "2024-06-08T00:20:00Z")
    return clean_db


def test_one_symbol_is_the_stored_features_indexed_by_time(featured):
    frame = load_features("X:BTCUSD", "1h", database_url=featured)
    expected = compute_features(load_bars(featured, "X:BTCUSD", "1h")).set_index("time")
    expected.index = expected.index.astype(frame.index.dtype)
    pd.testing.assert_frame_equal(frame, expected[FEATURE_COLUMNS], check_exact=True)
    assert frame.attrs["freshness"]["state"] == "Fresh"
    assert frame.attrs["freshness"]["last_bar"] == frame.index[-1]


def test_several_symbols_and_a_window(featured):
    frame = load_features(["X:BTCUSD", "X:ETHUSD"], "1h", start="2024-06-03", end="2024-06-04", database_url=featured)
    assert list(frame.index.names) == ["symbol", "time"]
    assert set(frame.index.get_level_values("symbol")) == {"X:BTCUSD", "X:ETHUSD"}
    assert len(frame) == 2 * 48
    assert set(frame.attrs["freshness"]) == {"X:BTCUSD", "X:ETHUSD"}


def test_stale_features_warn_and_bad_input_raises(featured, monkeypatch):
    monkeypatch.setenv("MARKETDATA_NOW", "2024-06-20T00:00:00Z")
    with pytest.warns(StaleDataWarning, match="X:BTCUSD\\|1h is Stale"):
        load_features("X:BTCUSD", "1h", database_url=featured)
    with pytest.raises(UnknownSymbolError):
        load_features("NOPE", "1h", database_url=featured)
    with pytest.raises(ValueError, match="timeframe"):
        load_features("X:BTCUSD", "7x", database_url=featured)
