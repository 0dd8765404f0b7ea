"""Quant features of one partition's bars, vectorized (numpy, pandas, TA-Lib): no Python loop over bars.

Input: one symbol × timeframe's split-adjusted bars, sorted by time. Output: `time` + FEATURE_COLUMNS, one row
per bar; a value whose window is incomplete is missing (NaN in float columns, <NA> in the nullable integer and
boolean ones), stored as SQL NULL. A ratio whose denominator is 0 (a flat window) is missing too, never ±inf.

Definitions (t = bar index, n = window length):
- log_return: ln(close_t / close_{t-1}).
- realized_vol_20, realized_vol_60: sample standard deviation (ddof 1) of the last n log_returns, not annualised.
- atr_14: Wilder's average true range (TA-Lib ATR; seeded with the mean of the first 14 true ranges).
- rsi_14: Wilder's RSI (TA-Lib RSI; average gain/loss seeded with the mean of the first 14 changes).
- sma_20, sma_50, sma_200: simple moving averages of close.
- ema_12, ema_26: EMA with α = 2/(n+1), seeded with the SMA of the first n closes (TA-Lib EMA).
- macd: ema_12 − ema_26 (not TA-Lib's MACD, which starts its fast EMA later).
- macd_signal: EMA(9) of macd, seeded with the mean of its first 9 values; macd_hist: macd − macd_signal.
- bb_pct_b_20: (close − (sma_20 − 2σ)) / 4σ, σ the population (ddof 0) std of the last 20 closes.
- zscore_20: (close − sma_20) / σ; volume_zscore_20: the same on volume.
- range_pos_252: (close − min(low, 252 bars)) / (max(high, 252 bars) − min(low, 252 bars)).
- swing_high / swing_low: the bar's high (low) is the strict max (min) of the 5 bars centred on it; NULL for
  the first 2 bars and until 2 bars later.
- trend_structure: from swings confirmed by t (swing at s confirmed at s+2): +1 when the last two swing highs
  and the last two swing lows both strictly rise, −1 when both strictly fall, else 0; NULL until two of each.
- vol_regime: p = #(previous 251 realized_vol_20 strictly below the current) / 251, NULL until 252 values:
  −1 when p < 0.2, +1 when p > 0.8, else 0.
- trend_regime: +1 when close > sma_200 and sma_200 > sma_200 20 bars earlier, −1 when both are below, else 0.

Every value at bar t depends only on bars ≤ t + 2 (the swings look 2 bars ahead, everything else is causal),
and is computed the same way whatever follows: the storage relies on this to rewrite only a partition's tail.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import talib
from numpy.lib.stride_tricks import sliding_window_view

FLOAT_FEATURES = [
    "log_return", "realized_vol_20", "realized_vol_60", "atr_14", "rsi_14",
    "sma_20", "sma_50", "sma_200", "ema_12", "ema_26", "macd", "macd_signal", "macd_hist",
    "bb_pct_b_20", "zscore_20", "volume_zscore_20", "range_pos_252",
]
BOOL_FEATURES = ["swing_high", "swing_low"]
INT_FEATURES = ["trend_structure", "vol_regime", "trend_regime"]  # −1, 0, +1
FEATURE_COLUMNS = [*FLOAT_FEATURES, *BOOL_FEATURES, *INT_FEATURES]
INPUT_COLUMNS = ["time", "open", "high", "low", "close", "volume"]  # what the features read (not vwap, trade_count)

SWING_REACH = 2  # a swing needs 2 bars on each side: values up to 2 bars back change when bars are appended


def _window_std(x: np.ndarray, n: int, ddof: int) -> tuple[np.ndarray, np.ndarray]:
    """(mean, std) of the last n values at each t; NaN until n values exist. Two-pass per window (mean, then
    squared deviations), so a small σ next to a large price keeps its precision, unlike running sums."""
    mean, std = np.full(len(x), np.nan), np.full(len(x), np.nan)
    if len(x) >= n:
        windows = sliding_window_view(x, n)
        m = windows.mean(axis=1)
        mean[n - 1:] = m
        std[n - 1:] = np.sqrt(((windows - m[:, None]) ** 2).sum(axis=1) / (n - ddof))
    return mean, std


def _window_mean(x: np.ndarray, n: int) -> np.ndarray:
    """Mean of the last n values at each t, each window summed on its own; NaN until n values exist."""
    out = np.full(len(x), np.nan)
    if len(x) >= n:
        out[n - 1:] = sliding_window_view(x, n).mean(axis=1)
    return out


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, missing where the denominator is 0 or missing (a flat window has no scale)."""
    out = np.full(len(numerator), np.nan)
    ok = np.isfinite(denominator) & (denominator != 0)
    np.divide(numerator, denominator, out=out, where=ok)
    return out


def _shift(x: np.ndarray, k: int) -> np.ndarray:
    """x shifted k bars later (k > 0) or earlier (k < 0), NaN where nothing came from."""
    out = np.full(len(x), np.nan)
    if k > 0:
        out[k:] = x[:-k]
    elif k < 0:
        out[:k] = x[-k:]
    return out


def _swings(values: np.ndarray, sign: float) -> np.ndarray:
    """1.0 where sign·value is the strict max of the 5 bars centred on it, 0.0 elsewhere, NaN where undecided."""
    v = sign * values
    neighbours = np.vstack([_shift(v, k) for k in (2, 1, -1, -2)])
    out = np.all(v > neighbours, axis=0).astype(float)
    out[np.isnan(neighbours).any(axis=0)] = np.nan
    return out


def _swing_direction(values: np.ndarray, swing: np.ndarray) -> np.ndarray:
    """At each t: +1 / −1 / 0 as the last two swings confirmed by t rise / fall / tie; NaN until two exist."""
    out = np.full(len(values), np.nan)
    at = np.flatnonzero(swing == 1.0)
    if len(at) >= 2:
        steps = np.sign(np.diff(values[at]))  # the k-th step is known once swing k+1 is confirmed
        out[at[1:] + SWING_REACH] = steps
        out = pd.Series(out).ffill().to_numpy()
    return out


def _signs(up: np.ndarray, down: np.ndarray, defined: np.ndarray) -> np.ndarray:
    return np.where(defined, np.where(up, 1.0, np.where(down, -1.0, 0.0)), np.nan)


def _nullable(values: np.ndarray, dtype: str) -> pd.api.extensions.ExtensionArray:
    missing = np.isnan(values)
    if dtype == "boolean":
        return pd.arrays.BooleanArray(np.nan_to_num(values) == 1.0, missing)
    return pd.arrays.IntegerArray(np.nan_to_num(values).astype(np.int8), missing)


def compute_features(bars: pd.DataFrame) -> pd.DataFrame:
    """The features of one partition's bars (columns INPUT_COLUMNS at least, sorted by time, no NaN prices)."""
    missing = [c for c in INPUT_COLUMNS if c not in bars.columns]
    if missing:
        raise ValueError(f"bars lack column(s) {', '.join(missing)}")
    times = pd.Series(bars["time"]).reset_index(drop=True)
    if not times.is_monotonic_increasing or times.duplicated().any():
        raise ValueError("bars must be sorted by time with no duplicate times")
    o, h, l, c, v = (np.ascontiguousarray(bars[k].to_numpy(dtype=np.float64)) for k in ("open", "high", "low", "close", "volume"))
    if not np.isfinite(np.concatenate([h, l, c, v])).all():
        raise ValueError("bars have missing or non-finite high, low, close or volume")
    n = len(c)
    if n == 0:
        return _frame(times, {k: np.empty(0) for k in FEATURE_COLUMNS})
    f: dict[str, np.ndarray] = {}

    f["log_return"] = np.concatenate([[np.nan], np.diff(np.log(c))])
    for w in (20, 60):
        _, std = _window_std(f["log_return"][1:], w, ddof=1)
        f[f"realized_vol_{w}"] = np.concatenate([[np.nan], std])
    f["atr_14"] = talib.ATR(h, l, c, timeperiod=14)
    f["rsi_14"] = talib.RSI(c, timeperiod=14)

    sma_20, sigma_20 = _window_std(c, 20, ddof=0)
    # sma_50 and sma_200 as per-window means (not TA-Lib's running sum, whose rounding depends on where the
    # input starts): a tail's values are then bit-identical to the full history's, and trend_regime's
    # comparisons of sma_200 cannot flip between the two (see compute_features_tail).
    f["sma_20"], f["sma_50"], f["sma_200"] = sma_20, _window_mean(c, 50), _window_mean(c, 200)
    f["ema_12"], f["ema_26"] = talib.EMA(c, 12), talib.EMA(c, 26)
    f["macd"] = f["ema_12"] - f["ema_26"]
    f["macd_signal"] = np.full(n, np.nan)
    if n > 25:
        f["macd_signal"][25:] = talib.EMA(f["macd"][25:], 9)  # seeded with the mean of macd's first 9 values
    f["macd_hist"] = f["macd"] - f["macd_signal"]

    f["bb_pct_b_20"] = _ratio(c - (sma_20 - 2 * sigma_20), 4 * sigma_20)
    f["zscore_20"] = _ratio(c - sma_20, sigma_20)
    volume_mean, volume_sigma = _window_std(v, 20, ddof=0)
    f["volume_zscore_20"] = _ratio(v - volume_mean, volume_sigma)
    lowest, highest = talib.MIN(l, 252), talib.MAX(h, 252)
    f["range_pos_252"] = _ratio(c - lowest, highest - lowest)

    f["swing_high"], f["swing_low"] = _swings(h, 1.0), _swings(l, -1.0)
    highs, lows = _swing_direction(h, f["swing_high"]), _swing_direction(l, f["swing_low"])
    f["trend_structure"] = _signs((highs == 1) & (lows == 1), (highs == -1) & (lows == -1), ~np.isnan(highs) & ~np.isnan(lows))

    vol20 = pd.Series(f["realized_vol_20"])
    # rank "min" in a window = 1 + how many values in it are strictly below the current one.
    below = vol20.rolling(252, min_periods=252).rank(method="min").to_numpy() - 1
    f["vol_regime"] = _signs(below * 5 > 251 * 4, below * 5 < 251, ~np.isnan(below))
    sma_200, earlier = f["sma_200"], _shift(f["sma_200"], 20)
    f["trend_regime"] = _signs((c > sma_200) & (sma_200 > earlier), (c < sma_200) & (sma_200 < earlier), ~np.isnan(earlier))

    return _frame(times, f)


def _frame(times: pd.Series, f: dict[str, np.ndarray]) -> pd.DataFrame:
    """float64 columns with NaN for missing; nullable boolean and Int8 columns for the flags and signs."""
    columns: dict[str, pd.Series | np.ndarray | pd.api.extensions.ExtensionArray] = {"time": times}
    columns.update({name: f[name] for name in FLOAT_FEATURES})
    columns.update({name: _nullable(f[name], "boolean") for name in BOOL_FEATURES})
    columns.update({name: _nullable(f[name], "Int8") for name in INT_FEATURES})
    return pd.DataFrame(columns)


# --- Tail recomputation ---------------------------------------------------------------------------------
# A row t computed from bars [t − WARM_UP, t] instead of the whole history:
# - windows: the longest lookback is vol_regime's, 252 values of realized_vol_20, itself 20 log_returns
#   (21 bars) back: 272 bars; trend_regime reads sma_200 20 bars back (220), range_pos_252 252.
#   Per-window computations (two-pass std, window means, MIN/MAX, rolling rank) give bit-identical values.
# - recursions seeded at the tail's start: the seed's error is multiplied by (1 − α) per bar. The slowest is
#   Wilder's 14 (ATR, RSI): 13/14 per bar; EMA(26): 25/27; EMA(12): 11/13; the MACD signal's EMA(9): 4/5
#   (it also inherits the EMAs' decaying error). A seed error of at most the whole price (1 × close) falls
#   below the absolute tolerance 1e-12 × close after ln(1e12) / ln(14/13) ≈ 373 bars, and below one ulp
#   (≈ 1e-16 × close) after ln(1e16) / ln(14/13) ≈ 497 bars.
# WARM_UP = 2048 leaves a margin of (13/14)^1500 ≈ 1e-48 beyond the windows and the ulp.
# - trend_structure needs the last two swing highs and lows: the caller checks two of each are confirmed
#   inside the tail before its first row (tail_is_exact), else recomputes the whole partition.
WARM_UP = 2048


def tail_is_exact(tail_features: pd.DataFrame, first_row: int) -> bool:
    """Whether `tail_features` (compute_features of bars starting at some bar, not the first) give rows
    first_row onward as the whole history would: enough warm-up bars, and two swing highs and two swing lows
    decided inside the tail (bar index ≥ SWING_REACH there) and confirmed before first_row."""
    if first_row < WARM_UP:
        return False
    confirmed_before = first_row - SWING_REACH  # a swing at s is confirmed at s + 2 <= first_row
    for name in ("swing_high", "swing_low"):
        swings = tail_features[name].to_numpy(dtype="float64", na_value=np.nan)[SWING_REACH:confirmed_before]
        if np.count_nonzero(swings == 1.0) < 2:
            return False
    return True
