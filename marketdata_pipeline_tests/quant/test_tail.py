"""quant.features' tail recomputation: rows computed from the last WARM_UP+ bars equal the whole history's
within the issue's tolerance, NULLs and integer features identical, trend_structure included."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from marketdata_pipeline.client import PolygonClient
from marketdata_pipeline.quant.features import (
    BOOL_FEATURES,
    FLOAT_FEATURES,
    INT_FEATURES,
    WARM_UP,
    compute_features,
    tail_is_exact,
)

RTOL, ATOL_PER_CLOSE = 1e-9, 1e-12


@pytest.fixture(scope="module")
def long_bars():
    """X:BTCUSD 5m over three months (~26,000 bars), split-adjusted, from the sandbox over HTTP."""
    from marketdata_pipeline.sandbox.server import SandboxConfig, SandboxServer
    from marketdata_pipeline_tests.support import THURSDAY

    with SandboxServer(SandboxConfig(now=THURSDAY)) as server, PolygonClient("test-key", server.base_url) as client:
        frame = client.aggs.range("X:BTCUSD", "5m", date(2024, 3, 1), date(2024, 6, 1), adjusted=True)
    assert len(frame) > 4 * WARM_UP
    return frame


def assert_rows_equal(tail, full, close):
    for name in FLOAT_FEATURES:
        a, b = tail[name].to_numpy(), full[name].to_numpy()
        assert (np.isnan(a) == np.isnan(b)).all(), f"{name}: NULLs differ"
        ok = ~np.isnan(b)
        bound = RTOL * np.abs(b[ok]) + ATOL_PER_CLOSE * close[ok]
        assert (np.abs(a[ok] - b[ok]) <= bound).all(), f"{name}: worst {np.max(np.abs(a[ok] - b[ok]) / bound):.3g}×"
    for name in BOOL_FEATURES + INT_FEATURES:
        assert tail[name].reset_index(drop=True).equals(full[name].reset_index(drop=True)), name


@pytest.mark.parametrize("start", [1, 5_000, 11_111])
def test_tail_rows_equal_the_full_recomputation(long_bars, start):
    full = compute_features(long_bars)
    first_row = WARM_UP + 3
    tail = compute_features(long_bars.iloc[start:].reset_index(drop=True))
    assert tail_is_exact(tail, first_row)
    close = long_bars["close"].to_numpy()[start + first_row:]
    assert_rows_equal(tail.iloc[first_row:], full.iloc[start + first_row:], close)


def test_a_short_warm_up_is_refused_and_would_differ(long_bars):
    """The check can fail: 40 warm-up bars give different EMAs (so tail_is_exact must say no)."""
    full = compute_features(long_bars)
    tail = compute_features(long_bars.iloc[5_000:].reset_index(drop=True))
    assert not tail_is_exact(tail, 40)
    with pytest.raises(AssertionError):
        assert_rows_equal(tail.iloc[40:], full.iloc[5_040:], long_bars["close"].to_numpy()[5_040:])


def test_no_swings_in_the_tail_is_refused(long_bars):
    tail = compute_features(long_bars.iloc[5_000:].reset_index(drop=True))
    tail["swing_low"] = tail["swing_low"].where(tail["swing_low"].isna(), False)
    assert not tail_is_exact(tail, WARM_UP + 3)
