"""Adjusted on read: split-adjusted bars equal the vendor's adjusted=true bars; a new split re-adjusts history
without a bar request; total-return factors match a hand computation; the price-jump check knows splits."""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from marketdata_pipeline.defs.corporate_actions.assets import refresh
from marketdata_pipeline.defs.evaluate import check_quality
from marketdata_pipeline.read import load_bars
from marketdata_pipeline.rules.freshness import FreshnessRules
from marketdata_pipeline.rules.quality import PRICE_JUMPS
from marketdata_pipeline.storage.adjustment import adjustment_factors
from marketdata_pipeline.storage.bars import load_bars as load_partition
from marketdata_pipeline.storage.bars import load_bars_via_views, upsert_bars
from marketdata_pipeline.storage.database import engine_for
from marketdata_pipeline_tests.corporate_actions.conftest import AFTER_SPLIT, BEFORE_SPLIT, logged

pytestmark = pytest.mark.filterwarnings("ignore::marketdata_pipeline.read.StaleDataWarning")

_PRICES = ["open", "high", "low", "close", "vwap"]


def _store(client, url, symbol, tf, start, end) -> pd.DataFrame:
    bars = client.aggs.range(symbol, tf, start, end, adjusted=False)
    upsert_bars(url, symbol, tf, bars)
    return bars


def _assert_equal_to_vendor(frame: pd.DataFrame, vendor: pd.DataFrame) -> None:
    assert len(frame) == len(vendor) > 0
    assert (frame.index == pd.DatetimeIndex(vendor["time"])).all()
    for column in [*_PRICES, "volume"]:
        np.testing.assert_allclose(frame[column].to_numpy(float), vendor[column].to_numpy(float), rtol=1e-12, err_msg=column)
    assert (frame["trade_count"].to_numpy() == vendor["trade_count"].to_numpy()).all()


@pytest.mark.parametrize("tf, start", [("1d", date(2021, 1, 4)), ("5m", date(2024, 5, 28))])
def test_split_adjusted_bars_equal_the_vendors_adjusted_bars(clean_db, client, tf, start):
    end = date(2024, 6, 11)
    raw = _store(client, clean_db, "NVDA", tf, start, end)
    refresh(client, clean_db, "NVDA", "splits")
    vendor = client.aggs.range("NVDA", tf, start, end, adjusted=True)
    adjusted = load_bars("NVDA", tf, adjust="splits", database_url=clean_db)
    _assert_equal_to_vendor(adjusted, vendor)
    # Stored bars stay unadjusted, and really differ before the split.
    unadjusted = load_bars("NVDA", tf, adjust="none", database_url=clean_db)
    _assert_equal_to_vendor(unadjusted, raw)
    assert (unadjusted["close"] != adjusted["close"]).sum() > 0


def test_a_new_split_re_adjusts_history_with_zero_bar_requests(clean_db, client, actions_sandbox):
    actions_sandbox.set_now(BEFORE_SPLIT)
    start, end = date(2024, 5, 20), date(2024, 6, 7)
    raw = _store(client, clean_db, "NVDA", "1d", start, end)
    _store(client, clean_db, "NVDA", "5m", date(2024, 6, 5), end)
    refresh(client, clean_db, "NVDA", "splits")  # only 2021's split is listed yet
    before = load_bars("NVDA", "1d", adjust="splits", database_url=clean_db)
    assert np.allclose(before["close"], raw["close"])

    actions_sandbox.set_now(AFTER_SPLIT)  # the 2024-06-10 split is executed and listed now
    actions_sandbox.clear_requests()
    refresh(client, clean_db, "NVDA", "splits")
    after_1d = load_bars("NVDA", "1d", adjust="splits", database_url=clean_db)
    after_5m = load_bars("NVDA", "5m", adjust="splits", database_url=clean_db)
    requests = logged(actions_sandbox)
    assert [r["path"] for r in requests] == ["/v3/reference/splits"]  # one listing, not a single bar request

    np.testing.assert_allclose(after_1d["close"], raw["close"].to_numpy() / 10, rtol=1e-15)
    _assert_equal_to_vendor(after_1d, client.aggs.range("NVDA", "1d", start, end, adjusted=True))
    _assert_equal_to_vendor(after_5m, client.aggs.range("NVDA", "5m", date(2024, 6, 5), end, adjusted=True))


def _bar(day: str, close: float, volume: float) -> dict:
    t = pd.Timestamp(day).tz_localize("America/New_York").tz_convert("UTC")
    return {"time": t, "open": close, "high": close, "low": close, "close": close, "volume": volume,
            "vwap": close, "trade_count": 10}


def test_total_return_factors_match_a_hand_computed_example(clean_db):
    # Mon..Thu: a 2-for-1 split on Wed; dividends ex Tue (1.00, prior close 100) and ex Thu (0.52, prior close 52).
    bars = pd.DataFrame([_bar("2024-03-04", 100.0, 1000), _bar("2024-03-05", 104.0, 1000),
                         _bar("2024-03-06", 52.0, 2000), _bar("2024-03-07", 52.5, 2000)])
    bars["trade_count"] = bars["trade_count"].astype("Int64")
    upsert_bars(clean_db, "ABC", "1d", bars)
    with engine_for(clean_db).begin() as conn:
        conn.execute(sa.text("insert into splits values ('ABC', '2024-03-06', 1, 2, null, now())"))
        conn.execute(sa.text(
            "insert into dividends (symbol, ex_dividend_date, dividend_type, cash_amount, fetched_at) values "
            "('ABC', '2024-03-05', 'CD', 1.00, now()), ('ABC', '2024-03-07', 'CD', 0.52, now())"))

    factors = adjustment_factors(clean_db, "ABC")
    # Factor 1 − dividend / close before the ex-date: 1 − 1/100 = 0.99 and 1 − 0.52/52 = 0.99.
    assert list(factors["split_factor"]) == [2.0, 2.0, 1.0]
    assert list(factors["dividend_factor"]) == pytest.approx([0.99 * 0.99, 0.99, 0.99], rel=1e-15)

    total = load_bars("ABC", "1d", adjust="all", database_url=clean_db)
    hand = [100 * 0.99 * 0.99 / 2, 104 * 0.99 / 2, 52 * 0.99, 52.5]  # = 49.005, 51.48, 51.48, 52.5
    assert list(total["close"]) == pytest.approx(hand, rel=1e-14)
    assert list(total["volume"]) == [2000, 2000, 2000, 2000]
    splits_only = load_bars("ABC", "1d", adjust="splits", database_url=clean_db)
    assert list(splits_only["close"]) == [50.0, 52.0, 52.0, 52.5]
    # The IO manager's read (In(metadata={"adjust": ...})) serves the same.
    assert list(load_partition(clean_db, "ABC", "1d", "all")["close"]) == pytest.approx(hand, rel=1e-14)
    with pytest.raises(ValueError, match="unknown adjust mode"):
        load_partition(clean_db, "ABC", "1d", "dividends")


def test_price_jump_check_passes_on_the_split_day_and_fails_on_an_injected_jump(clean_db, client):
    _store(client, clean_db, "NVDA", "1d", date(2024, 5, 1), date(2024, 6, 11))
    now = AFTER_SPLIT
    without = {f.check: f for f in check_quality(clean_db, "NVDA", "1d", now, FreshnessRules())}
    assert not without[PRICE_JUMPS].passed  # no split stored yet: the split day reads as a crash

    refresh(client, clean_db, "NVDA", "splits")
    with_splits = {f.check: f for f in check_quality(clean_db, "NVDA", "1d", now, FreshnessRules())}
    assert with_splits[PRICE_JUMPS].passed

    jump = datetime(2024, 5, 15, 4, 0, tzinfo=UTC)  # 2024-05-15 00:00 ET
    with engine_for(clean_db).begin() as conn:
        conn.execute(sa.text("update market_data set open = open * 1.8, high = high * 1.8, low = low * 1.8, "
                             "close = close * 1.8 where symbol = 'NVDA' and timeframe = '1d' and time = :t"), {"t": jump})
    injected = {f.check: f for f in check_quality(clean_db, "NVDA", "1d", now, FreshnessRules())}
    assert not injected[PRICE_JUMPS].passed
    assert all(p.startswith("2024-05-15") or p.startswith("2024-05-16") for p in injected[PRICE_JUMPS].problems)


@pytest.mark.parametrize("adjust", ["splits", "all"])
def test_the_read_api_and_the_sql_views_agree_to_the_last_bit(clean_db, client, adjust):
    """load_bars applies the views' factors itself (see storage.bar_reader): it must equal the views exactly."""
    _store(client, clean_db, "AAPL", "1d", date(2019, 1, 2), date(2024, 6, 11))  # a split and ~22 dividends
    _store(client, clean_db, "AAPL", "1h", date(2020, 8, 24), date(2020, 9, 4))  # around the split
    refresh(client, clean_db, "AAPL", "splits")
    refresh(client, clean_db, "AAPL", "dividends")
    assert len(adjustment_factors(clean_db, "AAPL")) > 20
    for tf in ("1d", "1h"):
        view = load_bars_via_views(clean_db, "AAPL", tf, adjust)
        # The IO manager's read (storage.bars.load_bars, one COPY) equals the views too.
        pd.testing.assert_frame_equal(load_partition(clean_db, "AAPL", tf, adjust), view, check_exact=True)
        view = view.set_index("time")
        frame = load_bars("AAPL", tf, adjust=adjust, database_url=clean_db)
        pd.testing.assert_frame_equal(frame, view[frame.columns], check_exact=True, check_freq=False)
        assert (frame["close"] != load_partition(clean_db, "AAPL", tf)["close"].to_numpy()).any()
