"""The features written straight from their definitions, bar by bar in plain Python: the
independent reference the vectorized implementation is tested against. Slow on purpose; tests only."""

from __future__ import annotations

import math
import statistics

FLOAT_FEATURES = [
    "log_return", "realized_vol_20", "realized_vol_60", "atr_14", "rsi_14", "sma_20", "sma_50", "sma_200",
    "ema_12", "ema_26", "macd", "macd_signal", "macd_hist", "bb_pct_b_20", "zscore_20", "volume_zscore_20",
    "range_pos_252",
]
EXACT_FEATURES = ["swing_high", "swing_low", "trend_structure", "vol_regime", "trend_regime"]


def _sma(x, n, t):
    return math.fsum(x[t - n + 1 : t + 1]) / n if t >= n - 1 else None


def _ema(x, n, first):
    """EMA with α = 2/(n+1) seeded with the mean of x[first : first+n]; None before."""
    out, a = [None] * len(x), 2 / (n + 1)
    if len(x) - first < n:
        return out
    out[first + n - 1] = math.fsum(x[first : first + n]) / n
    for t in range(first + n, len(x)):
        out[t] = a * x[t] + (1 - a) * out[t - 1]
    return out


def _wilder(values, n, first):
    """Wilder's average of values[first:]: the mean of the first n, then (prev·(n−1) + x) / n."""
    out = [None] * len(values)
    if len(values) - first < n:
        return out
    out[first + n - 1] = math.fsum(values[first : first + n]) / n
    for t in range(first + n, len(values)):
        out[t] = (out[t - 1] * (n - 1) + values[t]) / n
    return out


def _zscore(x, n, t):
    if t < n - 1:
        return None
    window = x[t - n + 1 : t + 1]
    sigma = statistics.pstdev(window)
    return None if sigma == 0 else (x[t] - statistics.fmean(window)) / sigma


def _sign(up, down):
    return 1 if up else -1 if down else 0


def reference_features(o, h, l, c, v) -> dict[str, list]:
    n = len(c)
    f: dict[str, list] = {}
    f["log_return"] = [None] + [math.log(c[t] / c[t - 1]) for t in range(1, n)]
    for w in (20, 60):
        f[f"realized_vol_{w}"] = [
            statistics.stdev(f["log_return"][t - w + 1 : t + 1]) if t >= w else None for t in range(n)
        ]
    true_range = [None] + [max(h[t] - l[t], abs(h[t] - c[t - 1]), abs(l[t] - c[t - 1])) for t in range(1, n)]
    f["atr_14"] = _wilder(true_range, 14, 1)
    gains = [None] + [max(c[t] - c[t - 1], 0.0) for t in range(1, n)]
    losses = [None] + [max(c[t - 1] - c[t], 0.0) for t in range(1, n)]
    avg_gain, avg_loss = _wilder(gains, 14, 1), _wilder(losses, 14, 1)
    f["rsi_14"] = [
        None if g is None else (0.0 if g + lo == 0 else 100 * g / (g + lo)) for g, lo in zip(avg_gain, avg_loss)
    ]
    for w in (20, 50, 200):
        f[f"sma_{w}"] = [_sma(c, w, t) for t in range(n)]
    f["ema_12"], f["ema_26"] = _ema(c, 12, 0), _ema(c, 26, 0)
    f["macd"] = [None if s is None else e - s for e, s in zip(f["ema_12"], f["ema_26"])]
    f["macd_signal"] = _ema([m if m is not None else 0.0 for m in f["macd"]], 9, 25)
    f["macd_hist"] = [None if s is None else m - s for m, s in zip(f["macd"], f["macd_signal"])]

    f["bb_pct_b_20"], f["zscore_20"] = [], []
    for t in range(n):
        if t < 19 or statistics.pstdev(c[t - 19 : t + 1]) == 0:
            f["bb_pct_b_20"].append(None)
            f["zscore_20"].append(None)
            continue
        window = c[t - 19 : t + 1]
        mean, sigma = statistics.fmean(window), statistics.pstdev(window)
        f["bb_pct_b_20"].append((c[t] - (mean - 2 * sigma)) / (4 * sigma))
        f["zscore_20"].append((c[t] - mean) / sigma)
    f["volume_zscore_20"] = [_zscore(v, 20, t) for t in range(n)]
    f["range_pos_252"] = []
    for t in range(n):
        if t < 251:
            f["range_pos_252"].append(None)
            continue
        lo, hi = min(l[t - 251 : t + 1]), max(h[t - 251 : t + 1])
        f["range_pos_252"].append(None if hi == lo else (c[t] - lo) / (hi - lo))

    def swing(x, t, better):
        if t < 2 or t > n - 3:
            return None
        return all(better(x[t], x[s]) for s in (t - 2, t - 1, t + 1, t + 2))

    f["swing_high"] = [swing(h, t, lambda a, b: a > b) for t in range(n)]
    f["swing_low"] = [swing(l, t, lambda a, b: a < b) for t in range(n)]
    f["trend_structure"] = []
    for t in range(n):
        highs = [h[s] for s in range(0, t - 1) if f["swing_high"][s]]  # confirmed: s + 2 <= t
        lows = [l[s] for s in range(0, t - 1) if f["swing_low"][s]]
        if len(highs) < 2 or len(lows) < 2:
            f["trend_structure"].append(None)
            continue
        rising = highs[-1] > highs[-2] and lows[-1] > lows[-2]
        falling = highs[-1] < highs[-2] and lows[-1] < lows[-2]
        f["trend_structure"].append(_sign(rising, falling))
    vol = f["realized_vol_20"]
    f["vol_regime"] = []
    for t in range(n):
        window = vol[t - 251 : t + 1] if t >= 251 else []
        if len(window) < 252 or any(x is None for x in window):
            f["vol_regime"].append(None)
            continue
        p = sum(1 for x in window[:-1] if x < vol[t]) / 251
        f["vol_regime"].append(_sign(p > 0.8, p < 0.2))
    sma = f["sma_200"]
    f["trend_regime"] = [
        None if t < 20 or sma[t - 20] is None
        else _sign(c[t] > sma[t] and sma[t] > sma[t - 20], c[t] < sma[t] and sma[t] < sma[t - 20])
        for t in range(n)
    ]
    return f
