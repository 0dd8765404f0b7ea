from datetime import UTC, date, datetime, timedelta

import pandas as pd
import sqlalchemy as sa

from marketdata_pipeline.defs.evaluate import check_quality
from marketdata_pipeline.rules import market_calendar as cal
from marketdata_pipeline.rules import quality
from marketdata_pipeline.rules.freshness import FreshnessRules
from marketdata_pipeline.rules.gaps import Gap, Reason, ledger
from marketdata_pipeline.storage.database import engine_for
from marketdata_pipeline_tests.bars_support import make_bars

DELAY = timedelta(minutes=15)
LATER = datetime(2025, 1, 1, tzinfo=UTC)


def et(*args) -> datetime:
    return datetime(*args, tzinfo=cal.ET).astimezone(UTC)


def drop(bars: pd.DataFrame, *times: datetime) -> pd.DataFrame:
    return bars[~bars["time"].isin(pd.to_datetime(list(times), utc=True))].reset_index(drop=True)


def test_ohlc_consistency_passes_clean_and_fails_each_broken_rule():
    clean = make_bars("AAPL", "1d", date(2024, 6, 3), date(2024, 6, 7))
    assert quality.ohlc_consistency(clean).passed
    broken = clean.copy()
    broken.loc[0, "low"] = broken.loc[0, "open"] + 1  # low above open
    broken.loc[1, "high"] = broken.loc[1, "close"] - 1  # high below close
    broken.loc[2, "open"] = -1.0  # non-positive price
    broken.loc[3, "volume"] = -5.0
    finding = quality.ohlc_consistency(broken)
    assert not finding.passed and finding.severity == quality.Severity.ERROR
    text = " ".join(finding.problems)
    for rule in ("low above", "high below", "non-positive", "negative volume"):
        assert rule in text
    assert len({p.split(": ")[0] for p in finding.problems}) == 4


def test_price_jump_fails_without_a_split_and_passes_on_the_split_date():
    bars = make_bars("AAPL", "1d", date(2024, 6, 3), date(2024, 6, 14))
    assert quality.price_jumps("AAPL", bars).passed
    bars.loc[bars.index >= 5, ["open", "high", "low", "close"]] /= 2  # an unadjusted 2:1 split on 2024-06-10
    finding = quality.price_jumps("AAPL", bars)
    assert [p.split(":")[0][:10] for p in finding.problems] == ["2024-06-10"]
    assert quality.price_jumps("AAPL", bars, split_dates={date(2024, 6, 10)}).passed
    assert quality.price_jumps("AAPL", bars, max_move=1.5).passed  # the bound is configurable


def test_daily_gap_is_an_error_but_a_holiday_is_only_a_ledger_entry():
    bars = make_bars("AAPL", "1d", date(2024, 5, 20), date(2024, 5, 31))  # Memorial Day 2024-05-27
    gaps = ledger("AAPL", "1d", bars, LATER, DELAY)
    assert gaps == [Gap(et(2024, 5, 27), Reason.MARKET_CLOSED)]
    assert quality.calendar_gaps("1d", gaps).passed

    holed = drop(bars, et(2024, 5, 22))
    gaps = ledger("AAPL", "1d", holed, LATER, DELAY)
    assert Gap(et(2024, 5, 22), Reason.UNKNOWN) in gaps
    finding = quality.calendar_gaps("1d", gaps)
    assert not finding.passed and finding.severity == quality.Severity.ERROR


def test_intraday_gaps_warn_with_reasons_and_respect_the_early_close():
    # Wed 2024-11-27 .. Mon 2024-12-02: Thanksgiving closed, Black Friday closes at 13:00.
    bars = make_bars("AAPL", "1h", date(2024, 11, 27), date(2024, 12, 2))
    assert quality.calendar_gaps("1h", ledger("AAPL", "1h", bars, LATER, DELAY)).passed
    # Black Friday's afternoon without bars: after-hours once the session closed at 13:00, not a defect.
    quiet_afternoon = drop(bars, *(et(2024, 11, 29, h) for h in (13, 14, 15, 16)))
    gaps = ledger("AAPL", "1h", quiet_afternoon, LATER, DELAY)
    assert quality.calendar_gaps("1h", gaps).passed
    closed = {g.time for g in gaps if g.reason is Reason.MARKET_CLOSED}
    assert et(2024, 11, 28, 10) in closed  # Thanksgiving's would-be regular hours
    assert {et(2024, 11, 29, h) for h in (13, 14, 15)} <= closed  # cut off by the early close
    assert et(2024, 11, 29, 16) not in closed  # outside regular hours even on a normal day
    assert not quality.calendar_gaps("1h", ledger("AAPL", "1h", drop(bars, et(2024, 11, 29, 12)), LATER, DELAY)).passed

    no_trades = drop(bars, et(2024, 11, 27, 11), et(2024, 11, 27, 5))  # 05:00 is pre-market: not a gap
    whole_day = no_trades[cal_day(no_trades) != date(2024, 11, 29)]
    gaps = ledger("AAPL", "1h", whole_day, LATER, DELAY)
    reasons = {g.time: g.reason for g in gaps}
    assert reasons[et(2024, 11, 27, 11)] is Reason.NO_TRADES
    assert et(2024, 11, 27, 5) not in reasons
    assert reasons[et(2024, 11, 29, 9)] is Reason.UNKNOWN  # nothing at all that session
    finding = quality.calendar_gaps("1h", gaps)
    assert not finding.passed and finding.severity == quality.Severity.WARN


def cal_day(bars: pd.DataFrame) -> pd.Series:
    return bars["time"].dt.tz_convert(cal.ET).dt.date


def test_bars_within_the_publication_delay_are_recorded_as_not_yet_published():
    bars = make_bars("X:BTCUSD", "5m", date(2024, 6, 8), date(2024, 6, 8))
    bars = bars[bars["time"] < datetime(2024, 6, 8, 12, 0, tzinfo=UTC)]
    gaps = ledger("X:BTCUSD", "5m", bars, datetime(2024, 6, 8, 12, 12, tzinfo=UTC), DELAY)
    assert gaps == [Gap(datetime(2024, 6, 8, 12, 0, tzinfo=UTC), Reason.NOT_YET_PUBLISHED),
                    Gap(datetime(2024, 6, 8, 12, 5, tzinfo=UTC), Reason.NOT_YET_PUBLISHED)]


def test_check_quality_reads_the_database_and_writes_the_ledger(store, clean_db):
    bars = drop(make_bars("MSFT", "1d", date(2024, 5, 20), date(2024, 5, 31)), et(2024, 5, 22))
    store("MSFT", "1d", bars)
    findings = {f.check: f for f in check_quality(clean_db, "MSFT", "1d", LATER, FreshnessRules())}
    assert findings[quality.OHLC_CONSISTENCY].passed and findings[quality.PRICE_JUMPS].passed
    assert not findings[quality.CALENDAR_GAPS].passed
    with engine_for(clean_db).connect() as conn:
        rows = conn.execute(sa.text("select time, reason from gap_ledger where symbol = 'MSFT' order by time")).all()
    assert [(t, r) for t, r in rows] == [(et(2024, 5, 22), "unknown"), (et(2024, 5, 27), "market_closed")]
