"""The original service's way, kept as the benchmark's baseline: one Python iteration per bar, each window
re-read from a list. Same definitions as quant.features (its docstring); used only to measure the ratio."""

from __future__ import annotations

import math
import statistics

import pandas as pd


def _mean_std(window: list[float], ddof: int) -> tuple[float, float]:
    mean = sum(window) / len(window)
    return mean, math.sqrt(sum((x - mean) ** 2 for x in window) / (len(window) - ddof))


def naive_features(bars: pd.DataFrame) -> list[dict]:
    """One dict of features per bar (None where undefined), computed bar by bar."""
    rows = bars[["high", "low", "close", "volume"]].to_dict("records")
    out: list[dict] = []
    closes: list[float] = []
    highs, lows, volumes, returns, vols, sma200 = [], [], [], [], [], []
    ema: dict[int, float | None] = {12: None, 26: None}
    signal, macds, atr, trs, gain, loss, changes = None, [], None, [], None, None, []
    swings_high, swings_low = [], []
    for t, row in enumerate(rows):
        h, l, c, v = row["high"], row["low"], row["close"], row["volume"]
        f: dict = {}
        if closes:
            returns.append(math.log(c / closes[-1]))
            trs.append(max(h - l, abs(h - closes[-1]), abs(l - closes[-1])))
            changes.append(c - closes[-1])
        closes.append(c)
        highs.append(h)
        lows.append(l)
        volumes.append(v)
        f["log_return"] = returns[-1] if t else None
        for w in (20, 60):
            f[f"realized_vol_{w}"] = statistics.stdev(returns[-w:]) if len(returns) >= w else None
        if len(trs) == 14:
            atr = sum(trs) / 14
        elif len(trs) > 14:
            atr = (atr * 13 + trs[-1]) / 14
        f["atr_14"] = atr if len(trs) >= 14 else None
        if len(changes) == 14:
            gain, loss = sum(max(x, 0) for x in changes) / 14, sum(max(-x, 0) for x in changes) / 14
        elif len(changes) > 14:
            gain, loss = (gain * 13 + max(changes[-1], 0)) / 14, (loss * 13 + max(-changes[-1], 0)) / 14
        f["rsi_14"] = (100 * gain / (gain + loss) if gain + loss else 0.0) if len(changes) >= 14 else None
        for w in (20, 50, 200):
            f[f"sma_{w}"] = sum(closes[-w:]) / w if len(closes) >= w else None
        sma200.append(f["sma_200"])
        for n in (12, 26):
            if len(closes) == n:
                ema[n] = sum(closes) / n
            elif len(closes) > n:
                ema[n] += 2 / (n + 1) * (c - ema[n])
            f[f"ema_{n}"] = ema[n]
        f["macd"] = ema[12] - ema[26] if ema[26] is not None else None
        if f["macd"] is not None:
            macds.append(f["macd"])
            signal = sum(macds) / 9 if len(macds) == 9 else (signal + 0.2 * (f["macd"] - signal) if signal is not None else None)
        f["macd_signal"] = signal
        f["macd_hist"] = f["macd"] - signal if signal is not None else None
        f["bb_pct_b_20"] = f["zscore_20"] = f["volume_zscore_20"] = None
        if len(closes) >= 20:
            mean, sigma = _mean_std(closes[-20:], 0)
            if sigma:
                f["bb_pct_b_20"], f["zscore_20"] = (c - mean + 2 * sigma) / (4 * sigma), (c - mean) / sigma
            mean, sigma = _mean_std(volumes[-20:], 0)
            f["volume_zscore_20"] = (v - mean) / sigma if sigma else None
        lo, hi = (min(lows[-252:]), max(highs[-252:])) if len(closes) >= 252 else (None, None)
        f["range_pos_252"] = (c - lo) / (hi - lo) if lo is not None and hi > lo else None
        out.append(f)
        # Bar t settles the swing at t − 2.
        s = t - 2
        if s >= 2:
            out[s]["swing_high"] = all(highs[s] > highs[k] for k in (s - 2, s - 1, s + 1, s + 2))
            out[s]["swing_low"] = all(lows[s] < lows[k] for k in (s - 2, s - 1, s + 1, s + 2))
            if out[s]["swing_high"]:
                swings_high.append(highs[s])
            if out[s]["swing_low"]:
                swings_low.append(lows[s])
        f["swing_high"] = f["swing_low"] = None
        f["trend_structure"] = None
        if len(swings_high) >= 2 and len(swings_low) >= 2:
            up = swings_high[-1] > swings_high[-2] and swings_low[-1] > swings_low[-2]
            down = swings_high[-1] < swings_high[-2] and swings_low[-1] < swings_low[-2]
            f["trend_structure"] = 1 if up else -1 if down else 0
        vols.append(f["realized_vol_20"])
        window = vols[-252:]
        f["vol_regime"] = None
        if len(window) == 252 and window[0] is not None:
            p = sum(1 for x in window[:-1] if x < window[-1]) / 251
            f["vol_regime"] = 1 if p > 0.8 else -1 if p < 0.2 else 0
        f["trend_regime"] = None
        if t >= 20 and sma200[t - 20] is not None:
            up, down = c > sma200[t] > sma200[t - 20], c < sma200[t] < sma200[t - 20]
            f["trend_regime"] = 1 if up else -1 if down else 0
    return out
