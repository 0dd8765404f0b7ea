"""The synthetic market without HTTP: determinism, bar sanity, calendar, splits."""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np
import pytest

from marketdata_pipeline.sandbox import aggregate, synthetic
from marketdata_pipeline.sandbox.calendar import ET, trading_day

UTC = UTC


def et(*args) -> datetime:
    return datetime(*args, tzinfo=ET)


def test_minute_bars_are_deterministic_and_sane():
    start, end = et(2024, 3, 4), et(2024, 3, 9)
    first = synthetic.minute_bars("MSFT", start, end)
    synthetic.day_bars.cache_clear()  # regenerate from scratch: same values, not just the same cache entry
    again = synthetic.minute_bars("MSFT", start, end)
    assert first.equals(again)
    assert len(first) > 4 * 390
    assert (first.l <= first[["o", "c"]].min(axis=1)).all()
    assert (first.h >= first[["o", "c"]].max(axis=1)).all()
    assert ((first.vw >= first.l) & (first.vw <= first.h)).all()
    assert (first.l > 0).all() and (first.v > 0).all()
    assert first.n.dtype == np.int64 and (first.n >= 1).all()
    assert first.t_ms.is_monotonic_increasing and (first.t_ms % 60_000 == 0).all()


def test_symbols_differ_and_extended_hours_are_sparse():
    day = (et(2024, 3, 5), et(2024, 3, 6))
    aapl, msft = synthetic.minute_bars("AAPL", *day), synthetic.minute_bars("MSFT", *day)
    assert aapl.c.iloc[-1] != msft.c.iloc[-1]
    local = aapl.t_ms.map(lambda ms: datetime.fromtimestamp(ms / 1000, ET).time())
    regular = local.map(lambda t: t >= datetime(2024, 1, 1, 9, 30).time() and t < datetime(2024, 1, 1, 16).time())
    assert regular.sum() > 380  # liquid: nearly every regular minute trades
    assert 0 < (~regular).sum() < 0.6 * (960 - 390)  # extended hours: gaps
    assert local.min() >= datetime(2024, 1, 1, 4).time()


def test_illiquid_symbols_miss_regular_minutes():
    illiquid = next(s for s in (f"ZQ{c}" for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ") if synthetic.is_illiquid(s))
    bars = synthetic.minute_bars(illiquid, et(2024, 3, 5, 9, 30), et(2024, 3, 5, 16))
    assert 0 < len(bars) < 0.8 * 390


@pytest.mark.parametrize("holiday", [date(2024, 7, 4), date(2024, 7, 6), date(2024, 7, 7)])  # holiday, Sat, Sun
def test_no_stock_bars_on_holidays_or_weekends(holiday):
    assert trading_day(False, holiday) is None
    assert aggregate.bars("AAPL", 1, "minute", holiday, holiday, adjusted=False).empty
    assert aggregate.bars("AAPL", 1, "day", holiday, holiday, adjusted=False).empty


def test_half_day_closes_early():
    day = trading_day(False, date(2024, 11, 29))
    assert day.regular_end_ms == int(et(2024, 11, 29, 13).timestamp() * 1000)
    bars = aggregate.bars("AAPL", 1, "minute", date(2024, 11, 29), date(2024, 11, 29), adjusted=False)
    after_close = bars[bars.t_ms >= day.regular_end_ms]
    assert bars.t_ms.max() < int(et(2024, 11, 29, 17).timestamp() * 1000)  # extended hours end at 17:00
    assert len(after_close) < 0.6 * 240  # only sparse extended-hours trading after 13:00


def test_crypto_trades_on_saturday_in_utc_days():
    saturday = date(2024, 7, 6)
    bars = aggregate.bars("X:BTCUSD", 1, "minute", saturday, saturday, adjusted=False)
    assert len(bars) > 1300
    assert bars.t_ms.min() >= int(datetime(2024, 7, 6, tzinfo=UTC).timestamp() * 1000)
    assert bars.t_ms.max() < int(datetime(2024, 7, 7, tzinfo=UTC).timestamp() * 1000)
    assert (bars.v % 1 != 0).any()  # fractional volumes


@pytest.mark.parametrize("symbol, session", [("AAPL", date(2024, 3, 5)), ("X:BTCUSD", date(2024, 3, 9))])
def test_daily_bar_is_the_aggregate_of_its_5m_bars(symbol, session):
    daily = aggregate.bars(symbol, 1, "day", session, session, adjusted=False)
    five = aggregate.bars(symbol, 5, "minute", session, session, adjusted=False)
    assert len(daily) == 1
    d = daily.iloc[0]
    assert d.o == five.o.iloc[0] and d.c == five.c.iloc[-1]
    assert d.h == five.h.max() and d.l == five.l.min()
    assert d.v == five.v.sum() and d.n == five.n.sum()
    assert d.vw == pytest.approx((five.vw * five.v).sum() / five.v.sum(), rel=1e-12)


def test_buckets_align_to_local_midnight():
    four_hour = aggregate.bars("AAPL", 4, "hour", date(2024, 3, 5), date(2024, 3, 5), adjusted=False)
    hours = [datetime.fromtimestamp(t / 1000, ET).hour for t in four_hour.t_ms]
    assert hours == [4, 8, 12, 16]
    daily = aggregate.bars("AAPL", 1, "day", date(2024, 3, 5), date(2024, 3, 5), adjusted=False)
    assert datetime.fromtimestamp(daily.t_ms.iloc[0] / 1000, ET) == et(2024, 3, 5)
    btc = aggregate.bars("X:BTCUSD", 4, "hour", date(2024, 3, 5), date(2024, 3, 5), adjusted=False)
    assert [datetime.fromtimestamp(t / 1000, UTC).hour for t in btc.t_ms] == [0, 4, 8, 12, 16, 20]


def test_unadjusted_prices_jump_at_a_split_and_adjusted_ones_do_not():
    assert [(s.execution_date, s.split_from, s.split_to) for s in synthetic.splits_for("AAPL")] == [(date(2020, 8, 31), 1, 4)]
    raw = aggregate.bars("AAPL", 1, "day", date(2020, 8, 27), date(2020, 9, 1), adjusted=False).set_index("t_ms")
    adj = aggregate.bars("AAPL", 1, "day", date(2020, 8, 27), date(2020, 9, 1), adjusted=True).set_index("t_ms")
    before, on = raw.index[1], raw.index[2]  # Fri 08-28, Mon 08-31
    assert 3 < raw.c[before] / raw.o[on] < 5
    assert 0.9 < adj.c[before] / adj.o[on] < 1.1
    assert adj.o[before] == pytest.approx(raw.o[before] / 4) and adj.v[before] == raw.v[before] * 4
    assert adj.o[on] == raw.o[on] and adj.n[before] == raw.n[before]
