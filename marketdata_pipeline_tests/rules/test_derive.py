"""Derived 15m/1h/4h bars equal the vendor's native ones: the sandbox over loopback HTTP is the vendor."""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np
import pandas as pd
import pytest

from marketdata_pipeline.bars import BAR_DTYPES
from marketdata_pipeline.client.polygon import PolygonClient
from marketdata_pipeline.rules.derive import BASE_TIMEFRAME, DERIVABLE, bar_differences, count_differing, derive_bars
from marketdata_pipeline.sandbox.server import SandboxConfig, SandboxServer
from marketdata_pipeline.sandbox.synthetic import is_illiquid

# After every window below, so all their bars are complete.
LATER = datetime(2025, 1, 15, tzinfo=UTC)
ILLIQUID = "TXN"  # thin trading: many 5m (and some 15m) windows without a bar


@pytest.fixture(scope="module")
def _server():
    with SandboxServer(SandboxConfig(now=LATER)) as server:
        yield server


@pytest.fixture
def sandbox(_server: SandboxServer) -> SandboxServer:
    _server.config = SandboxConfig(now=LATER)
    return _server


@pytest.fixture(scope="module")
def client(_server: SandboxServer):
    with PolygonClient("test-key", _server.base_url) as polygon:
        yield polygon


def fetch(client: PolygonClient, symbol: str, tf: str, first: date, last: date) -> pd.DataFrame:
    return client.aggs.range(symbol, tf, first, last, adjusted=False)


WINDOWS = {
    "thanksgiving and the 13:00 early close": ("AAPL", date(2024, 11, 27), date(2024, 12, 2)),
    "july 3rd early close and the 4th": ("MSFT", date(2024, 7, 2), date(2024, 7, 5)),
    "spring DST change": ("AAPL", date(2024, 3, 8), date(2024, 3, 12)),
    "autumn DST change": ("AAPL", date(2024, 11, 1), date(2024, 11, 5)),
    "normal week": ("NVDA", date(2024, 6, 3), date(2024, 6, 7)),
    "illiquid stock": (ILLIQUID, date(2024, 6, 4), date(2024, 6, 5)),
    "crypto weekend": ("X:BTCUSD", date(2024, 6, 7), date(2024, 6, 10)),
    "crypto over the spring DST weekend": ("X:BTCUSD", date(2024, 3, 9), date(2024, 3, 11)),
    "crypto over the autumn DST weekend": ("X:ETHUSD", date(2024, 11, 2), date(2024, 11, 4)),
}


@pytest.mark.parametrize("symbol, first, last", WINDOWS.values(), ids=WINDOWS.keys())
def test_derived_bars_equal_the_native_ones(sandbox, client, symbol, first, last):
    base = fetch(client, symbol, BASE_TIMEFRAME, first, last)
    assert len(base)
    for target in DERIVABLE:
        native = fetch(client, symbol, target, first, last)
        derived = derive_bars(base, symbol, target)
        assert bar_differences(derived, native) == [], target
        assert derived.dtypes.to_dict() == native.dtypes.to_dict()
        assert derived["time"].is_monotonic_increasing


def test_the_illiquid_symbol_has_windows_without_bars(sandbox, client):
    assert is_illiquid(ILLIQUID)
    base = fetch(client, ILLIQUID, BASE_TIMEFRAME, date(2024, 6, 4), date(2024, 6, 4))
    steps = base["time"].diff().dropna()
    assert (steps > pd.Timedelta(minutes=15)).any()  # so the comparison above covered empty 15m windows


def test_a_clock_mid_bucket_yields_no_partial_bar(sandbox, client):
    clock = datetime(2024, 6, 5, 18, 10, tzinfo=UTC)  # 14:10 ET: inside a 15m, a 1h and a 4h bar
    sandbox.config.now = clock
    day = date(2024, 6, 5)
    base = fetch(client, "AAPL", BASE_TIMEFRAME, day, day)
    assert base["time"].iloc[-1] == pd.Timestamp("2024-06-05 18:05", tz="UTC")  # its 5m bars reach the clock
    for target in DERIVABLE:
        native = fetch(client, "AAPL", target, day, day)
        assert bar_differences(derive_bars(base, "AAPL", target, complete_by=clock), native) == [], target
        # Without the clock the partial bucket is there, and the comparison says so.
        assert bar_differences(derive_bars(base, "AAPL", target), native) != [], target


def test_another_alignment_is_detected(sandbox, client):
    sandbox.config.intraday_anchor_minutes = 570  # 1h at 09:30, 10:30, ...; 4h at 01:30, 05:30, ...
    day = date(2024, 6, 5)
    base = fetch(client, "AAPL", BASE_TIMEFRAME, day, day)
    agree = {
        target: count_differing(derive_bars(base, "AAPL", target), fetch(client, "AAPL", target, day, day)) == 0
        for target in DERIVABLE
    }
    assert agree == {"15m": True, "1h": False, "4h": False}


# --- roll-up and comparison without the sandbox ----------------------------------------------------------


def bars(rows: list[tuple]) -> pd.DataFrame:
    """(ISO time, open, high, low, close, volume, vwap, trade_count) rows as a bar frame."""
    frame = pd.DataFrame(rows, columns=["time", "open", "high", "low", "close", "volume", "vwap", "trade_count"])
    frame["time"] = pd.to_datetime(frame["time"], utc=True)
    return frame.astype(BAR_DTYPES)


BASE = bars(
    [
        ("2024-06-05T14:00Z", 10.0, 11.0, 9.5, 10.5, 100.0, 10.2, 3),
        ("2024-06-05T14:05Z", 10.5, 12.0, 10.0, 11.0, 300.0, 11.0, None),
        ("2024-06-05T14:10Z", 11.0, 11.5, 8.0, 9.0, 0.0, 9.9, 2),
        ("2024-06-05T14:15Z", 9.0, 9.5, 8.5, 9.2, 0.0, 9.0, None),
        ("2024-06-05T14:20Z", 9.2, 9.4, 9.1, 9.3, 0.0, 9.4, None),
    ]
)


def test_roll_up_rules():
    first, second = derive_bars(BASE, "AAPL", "15m").itertuples(index=False)
    assert first.time == pd.Timestamp("2024-06-05T14:00Z")
    assert (first.open, first.high, first.low, first.close, first.volume) == (10.0, 12.0, 8.0, 9.0, 400.0)
    assert first.vwap == pytest.approx((10.2 * 100 + 11.0 * 300) / 400)
    assert first.trade_count == 5  # NA parts count as nothing while some part has a count
    # No volume at all: the plain mean of the parts' vwaps; no count at all: NA.
    assert second.vwap == pytest.approx(9.2) and second.trade_count is pd.NA


def test_buckets_follow_local_midnight_and_complete_by():
    # 23:55 and 00:00 EST are two days and two 4h buckets for a stock, one UTC 4h bucket for crypto.
    late = bars([("2024-01-10T04:55Z", 1, 1, 1, 1, 1, 1, 1), ("2024-01-10T05:00Z", 2, 2, 2, 2, 1, 2, 1)])
    assert derive_bars(late, "AAPL", "4h")["time"].tolist() == [
        pd.Timestamp("2024-01-10T01:00Z"),
        pd.Timestamp("2024-01-10T05:00Z"),
    ]
    assert derive_bars(late, "X:BTCUSD", "4h")["time"].tolist() == [pd.Timestamp("2024-01-10T04:00Z")]
    # The stock's 20:00 EST bucket ends at midnight: complete exactly then, not before.
    assert len(derive_bars(late, "AAPL", "4h", complete_by=datetime(2024, 1, 10, 5, tzinfo=UTC))) == 1
    assert derive_bars(late, "AAPL", "4h", complete_by=datetime(2024, 1, 10, 4, 59, tzinfo=UTC)).empty


def test_derive_rejects_what_it_cannot_do_and_takes_any_time_unit():
    with pytest.raises(ValueError, match="cannot derive"):
        derive_bars(BASE, "AAPL", "1d")
    with pytest.raises(ValueError, match="sorted"):
        derive_bars(BASE.iloc[::-1], "AAPL", "15m")
    # Times read back from elsewhere may come in another unit.
    coarse = BASE.assign(time=BASE["time"].astype("datetime64[us, UTC]"))
    assert bar_differences(derive_bars(coarse, "AAPL", "4h"), derive_bars(BASE, "AAPL", "4h")) == []
    empty = derive_bars(BASE.iloc[:0], "AAPL", "1h")
    assert empty.empty and empty.dtypes.to_dict() == BASE.dtypes.to_dict()


def test_identical_frames_do_not_differ():
    assert bar_differences(BASE, BASE.copy()) == [] and count_differing(BASE, BASE) == 0


def test_a_changed_close_is_reported():
    theirs = BASE.copy()
    theirs.loc[1, "close"] += 0.0001
    assert bar_differences(BASE, theirs) == ["2024-06-05T14:05:00+00:00: close 11.0 != 11.0001 (ours != theirs)"]


def test_a_missing_bar_is_reported_on_either_side():
    assert bar_differences(BASE.drop(index=2), BASE) == ["2024-06-05T14:10:00+00:00: missing from ours"]
    assert bar_differences(BASE, BASE.drop(index=0)) == ["2024-06-05T14:00:00+00:00: missing from theirs"]
    assert count_differing(BASE.drop(index=[0, 1]), BASE.drop(index=4)) == 3


def test_vwap_within_tolerance_agrees_and_beyond_it_differs():
    close = BASE.assign(vwap=BASE["vwap"] + 0.00009)  # Polygon rounds vwap to 4 decimals
    assert bar_differences(BASE, close) == []
    far = BASE.assign(vwap=BASE["vwap"] + 0.0002)
    assert count_differing(BASE, far) == len(BASE) and "vwap" in bar_differences(BASE, far)[0]


def test_trade_count_na_differs_from_a_count_but_not_from_na():
    theirs = BASE.copy()
    theirs.loc[0, "trade_count"] = pd.NA
    assert bar_differences(BASE, theirs) == ["2024-06-05T14:00:00+00:00: trade_count 3 != <NA> (ours != theirs)"]
    assert count_differing(theirs, theirs.copy()) == 0


def test_long_difference_lists_are_cut_at_the_limit():
    shifted = BASE.assign(open=BASE["open"] + 1)
    lines = bar_differences(BASE, shifted, limit=2)
    assert len(lines) == 3 and lines[-1] == "... and 3 more differing bar(s)"
    assert np.all([line.startswith("2024-06-05T14:0") for line in lines[:2]])
