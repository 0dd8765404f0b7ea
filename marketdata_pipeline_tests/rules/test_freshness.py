from datetime import UTC, date, datetime, timedelta

import pytest

from marketdata_pipeline.rules import market_calendar as cal
from marketdata_pipeline.rules.freshness import FreshnessRules, State, assess, expected_last_bar
from marketdata_pipeline.timeframes import timeframe

RULES = FreshnessRules()


def et(*args) -> datetime:
    return datetime(*args, tzinfo=cal.ET).astimezone(UTC)


def test_saturday_friday_daily_bar_is_fresh():
    saturday = et(2024, 6, 8, 12, 0)
    friday_bar = et(2024, 6, 7)
    assert expected_last_bar("AAPL", "1d", saturday, RULES) == friday_bar
    assert assess("AAPL", "1d", friday_bar, saturday, RULES).state is State.FRESH
    # Sunday evening still wants nothing newer than Friday.
    assert assess("AAPL", "1d", friday_bar, et(2024, 6, 9, 23, 0), RULES).state is State.FRESH


def test_tuesday_after_memorial_day_expects_nothing_for_monday():
    tuesday = et(2024, 5, 28, 10, 0)
    friday_bar = et(2024, 5, 24)
    assert expected_last_bar("AAPL", "1d", tuesday, RULES) == friday_bar
    fresh = assess("AAPL", "1d", friday_bar, tuesday, RULES)
    assert fresh.state is State.FRESH and fresh.lag == timedelta(0)
    # Intraday: Friday's last after-hours bar is the newest that can exist before Tuesday 04:00 ET.
    assert expected_last_bar("AAPL", "1h", et(2024, 5, 28, 3, 0), RULES) == et(2024, 5, 24, 19, 0)


def test_early_close_day_ends_regular_hours_at_13_and_extended_hours_at_17():
    day = date(2024, 11, 29)
    session = cal.session_for("AAPL", day)
    assert session.regular_close == et(2024, 11, 29, 13, 0)
    assert session.close == et(2024, 11, 29, 17, 0)
    assert cal.regular_bars(timeframe("5m"), session)[-1] == et(2024, 11, 29, 12, 55)
    evening = et(2024, 11, 29, 23, 0)
    assert expected_last_bar("AAPL", "1h", evening, RULES) == et(2024, 11, 29, 16, 0)
    assert expected_last_bar("AAPL", "5m", evening, RULES) == et(2024, 11, 29, 16, 55)
    # A partition holding the 16:55 bar is complete; one stopping at the 13:00 close is 4 h behind.
    assert assess("AAPL", "5m", et(2024, 11, 29, 16, 55), evening, RULES).state is State.FRESH
    behind = assess("AAPL", "5m", et(2024, 11, 29, 12, 55), evening, RULES)
    assert behind.state is State.AGING and behind.lag == timedelta(hours=4)


def test_weekend_and_night_add_no_market_time_for_stocks():
    # Friday's last bar (19:00-20:00) vs Monday's 05:00-06:00 bar: 58 h of wall time, but only the
    # two pre-market hours 04:00-06:00 of trading time.
    lag = assess("AAPL", "1h", et(2024, 6, 7, 19, 0), et(2024, 6, 10, 6, 30), RULES).lag
    assert lag == timedelta(hours=2)
    stale = assess("AAPL", "1h", et(2024, 6, 5, 19, 0), et(2024, 6, 10, 6, 30), RULES)
    assert stale.state is State.STALE


def test_crypto_is_stale_after_a_day_without_updates():
    last = datetime(2024, 6, 8, 10, 0, tzinfo=UTC)
    assert assess("X:BTCUSD", "1h", last, last + timedelta(hours=1, minutes=20), RULES).state is State.FRESH
    assert assess("X:BTCUSD", "1h", last, last + timedelta(hours=6), RULES).state is State.AGING
    a_day_later = assess("X:BTCUSD", "1h", last, last + timedelta(days=1, hours=1, minutes=20), RULES)
    assert a_day_later.state is State.STALE and a_day_later.lag == timedelta(hours=24)
    # Weekends count for crypto.
    assert expected_last_bar("X:BTCUSD", "1d", datetime(2024, 6, 9, 1, 0, tzinfo=UTC), RULES) == datetime(
        2024, 6, 8, tzinfo=UTC
    )


def test_publication_delay_and_missing():
    # At 10:10 ET the 10:00-10:05 5m bar ended 5 minutes ago: not expected yet with a 15 min delay.
    assert expected_last_bar("AAPL", "5m", et(2024, 6, 7, 10, 10), RULES) == et(2024, 6, 7, 9, 50)
    missing = assess("AAPL", "5m", None, et(2024, 6, 7, 10, 10), RULES)
    assert missing.state is State.MISSING and missing.last_bar is None


def test_thresholds_are_configurable_and_validated():
    from marketdata_pipeline.settings import ConfigError, Settings

    rules = Settings.from_env({"MARKETDATA_STALE_AFTER_MINUTES": "120"}).freshness_rules()
    last = datetime(2024, 6, 8, 10, 0, tzinfo=UTC)
    assert assess("X:BTCUSD", "1h", last, last + timedelta(hours=4), rules).state is State.STALE
    with pytest.raises(ConfigError):
        Settings.from_env({"MARKETDATA_FRESH_WITHIN_MINUTES": "600", "MARKETDATA_STALE_AFTER_MINUTES": "60"})
    assert Settings.from_env({"MARKETDATA_NOW": "2024-05-28T14:00:00Z"}).clock() == datetime(2024, 5, 28, 14, tzinfo=UTC)


def test_the_calendar_spans_any_vendor_history_and_a_year_ahead_and_follows_the_clock():
    today = date.today()
    calendar = cal.nyse()
    assert calendar.first_session.date() <= date(1990, 1, 2)
    assert calendar.last_session.date() >= today + timedelta(days=360)
    # A process still running a year on rebuilds it before running off its end.
    later = today + timedelta(days=400)
    assert cal.nyse(later).last_session.date() >= later + timedelta(days=360)
